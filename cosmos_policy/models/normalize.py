"""Affine normalisation with a model's statistics, shared by every model kind."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosmos_policy.errors import SpecError


class Normalizer:
    """Affine normalisation with a domain's statistics, padded to the model's width.

    ``(x - mean) / std`` on the channels of ``mask`` (default: all; the others pass
    through), zero-padded to ``width`` (None: no padding). Every model kind's statistics are
    this map: the compact model's mean/std, Cosmos 3's quantile or min/max ranges onto
    [-1, 1] (centre and half-width, :meth:`from_range`).

    dtype: the precision of the arithmetic; the result is rounded once to float32. A bundle
    on torch works in float64 (the statistics as its JSON stores them), an engine in float32
    (its graphs' input precision); each reproduces the figures published for it to the last
    bit, and the two agree to about one float32 ulp.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], width: int | None = None,
                 name: str = "value", dtype: type = np.float64,
                 mask: Sequence[bool] | None = None) -> None:
        self.mean, self.std = np.asarray(mean, dtype), np.asarray(std, dtype)
        self.dim, self.name = len(self.mean), name
        self.width = self.dim if width is None else int(width)
        self.mask = None if mask is None else np.asarray(mask, bool)

    @classmethod
    def from_range(cls, low: Sequence[float], high: Sequence[float], eps: float = 1e-8,
                   **kwargs: object) -> Normalizer:
        """``low`` -> -1 and ``high`` -> 1 (a range narrower than ``eps`` counts as ``eps``)."""
        low = np.asarray(low, np.float64)
        half = np.maximum(np.asarray(high, np.float64) - low, eps) / 2.0
        return cls(low + half, half, **kwargs)  # type: ignore[arg-type]

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """float (..., dim) -> float32 (..., width), zero beyond ``dim``."""
        x = np.asarray(x, np.float32)
        if x.shape[-1:] != (self.dim,):
            raise SpecError(f"{self.name}: expected ({self.dim},), got {x.shape[-1:]}")
        y = (x - self.mean) / self.std
        if self.mask is not None:
            y = np.where(self.mask, y, x)
        return pad_last(y, self.width)

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        """float (..., width) -> float32 (..., dim) in the embodiment's units."""
        y = np.asarray(x)[..., : self.dim]
        out = y * self.std + self.mean
        if self.mask is not None:
            out = np.where(self.mask, out, y)
        return out.astype(np.float32)


def pad_last(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-pad the last axis of ``x`` to ``width`` (float32)."""
    out = np.zeros((*x.shape[:-1], width), dtype=np.float32)
    out[..., : x.shape[-1]] = x
    return out
