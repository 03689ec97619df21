"""Per-domain action statistics of a Cosmos 3 checkpoint: normalised <-> raw domain actions.

Cosmos 3 predicts (and, for forward dynamics, consumes) actions in a normalised space; the
checkpoint's statistics say how to get back to metres, 6-D rotations and gripper values.
The file is JSON, one entry per Cosmos 3 domain name (``droid_lerobot``,
``robomind-franka``, ...)::

    {"domains": {"droid_lerobot": {
        "normalization": "quantile",        # or "mean_std" or "min_max"
        "representation": "absolute",       # or "delta" (relative to the observed pose)
        "q01": [...], "q99": [...],         # quantile: q01/q99 -> [-1, 1]
        "mask": [true, ..., false]          # optional: false leaves that channel as is
    }}}

``mean_std`` needs ``mean`` and ``std``; ``min_max`` needs ``min`` and ``max``.

NVIDIA ships a post-trained checkpoint's statistics flat, for its one domain:
``{"q01": [...], "q99": [...]}`` (other keys such as ``mean``/``std`` may sit beside them).
That layout is read as quantile normalisation of NVIDIA's per-frame chained deltas
(``representation: delta``, see :func:`cosmos_policy.geometry.chain_deltas`), for whichever
domain the command asked for. Nothing falls back silently: a missing file, domain or field,
or a file in neither layout, is a one-line :class:`UserError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.models.normalize import Normalizer

STATS_FILE = "action_statistics.json"
NORMALIZATIONS = {"quantile": ("q01", "q99"), "mean_std": ("mean", "std"),
                  "min_max": ("min", "max")}
REPRESENTATIONS = ("absolute", "delta")  # delta: per-frame, chained in the gripper frame
LAYOUTS = ('{"domains": {NAME: {...}}} (cosmos-policy) or {"q01": [...], "q99": [...]} '
           "(NVIDIA's flat file)")
_EPS = 1e-8


@dataclass(frozen=True)
class ActionStatistics:
    """How one domain's raw actions (D,) map to the model's normalised space.

    kind: ``quantile`` (q01/q99 -> [-1, 1]), ``mean_std`` or ``min_max`` (min/max -> [-1, 1]).
    a, b: (D,) the two statistics of ``kind`` (q01/q99, mean/std or min/max).
    mask: (D,) bool, channels that are normalised; the others pass through.
    representation: ``absolute`` poses, or ``delta``: per-frame deltas, each relative to the
    pose before it (``T_{i+1} = T_i @ dT_i``, NVIDIA's convention).
    """

    domain: str
    kind: str
    a: np.ndarray
    b: np.ndarray
    mask: np.ndarray
    representation: str

    @property
    def dim(self) -> int:
        return int(self.a.shape[0])

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if x.shape[-1] != self.dim:
            raise UserError(f"actions have width {x.shape[-1]} but the statistics of domain "
                            f"{self.domain!r} have width {self.dim}")
        return x

    @cached_property
    def normalizer(self) -> Normalizer:
        """The same affine step the compact model's statistics use: mean/std, or the
        quantile / min-max range onto [-1, 1]; channels outside ``mask`` pass through."""
        if self.kind == "mean_std":
            return Normalizer(self.a, self.b + _EPS, name="actions", mask=self.mask)
        return Normalizer.from_range(self.a, self.b, _EPS, name="actions", mask=self.mask)

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Raw domain actions (..., D) -> the model's normalised space (float32)."""
        return self.normalizer.normalize(self._check(raw))

    def denormalize(self, norm: np.ndarray) -> np.ndarray:
        """The model's normalised actions (..., D) -> raw domain actions (float32)."""
        return self.normalizer.denormalize(self._check(norm))


def _vector(source: str, entry: dict, key: str, dim: int | None) -> np.ndarray:
    if key not in entry:
        raise UserError(f"{source}: field '{key}' is missing; add it (a list of numbers)")
    v = np.asarray(entry[key], np.float64)
    if v.ndim != 1 or (dim is not None and v.shape[0] != dim) or not np.all(np.isfinite(v)):
        want = f"{dim} finite numbers" if dim else "a list of finite numbers"
        raise UserError(f"{source}: field '{key}' must be {want}, got shape {v.shape}")
    return v


def parse_statistics(data: dict, domain: str, source: str = STATS_FILE) -> ActionStatistics:
    """The statistics of ``domain`` from the parsed JSON ``data`` (either layout of the
    module docstring)."""
    if isinstance(data, dict) and "domains" not in data and "q01" in data and "q99" in data:
        data = {"domains": {domain: {"normalization": "quantile", "representation": "delta",
                                     "q01": data["q01"], "q99": data["q99"]}}}
    domains = data.get("domains") if isinstance(data, dict) else None
    if not isinstance(domains, dict):
        raise UserError(f"{source}: not a statistics file; expected {LAYOUTS}")
    if domain not in domains:
        raise UserError(f"{source}: no statistics for Cosmos 3 domain {domain!r} (has "
                        f"{sorted(domains)}); add that domain's statistics to the file")
    entry, where = domains[domain], f"{source}: domains.{domain}"
    if not isinstance(entry, dict):
        raise UserError(f"{where}: expected an object with normalization, representation and "
                        "its two statistics")
    kind = entry.get("normalization")
    if kind not in NORMALIZATIONS:
        raise UserError(f"{where}: 'normalization' must be one of {sorted(NORMALIZATIONS)}, "
                        f"got {kind!r}")
    rep = entry.get("representation")
    if rep not in REPRESENTATIONS:
        raise UserError(f"{where}: 'representation' must be one of {list(REPRESENTATIONS)}, "
                        f"got {rep!r}")
    ka, kb = NORMALIZATIONS[kind]
    a = _vector(where, entry, ka, None)
    b = _vector(where, entry, kb, a.shape[0])
    mask = np.ones(a.shape[0], bool)
    if "mask" in entry:
        mask = np.asarray(entry["mask"], bool)
        if mask.shape != a.shape:
            raise UserError(f"{where}: 'mask' must have {a.shape[0]} booleans")
    if kind == "mean_std" and np.any(b[mask] < 0):
        raise UserError(f"{where}: 'std' must be >= 0")
    if kind != "mean_std" and np.any(b[mask] < a[mask]):
        raise UserError(f"{where}: '{kb}' must be >= '{ka}' in every normalised channel")
    return ActionStatistics(domain, kind, a, b, mask, rep)


def load_statistics(path: str | Path, domain: str) -> ActionStatistics:
    """Read ``domain``'s statistics from a JSON file, or a folder holding ``STATS_FILE``."""
    p = Path(path)
    if p.is_dir():
        p = p / STATS_FILE
    if not p.is_file():
        raise UserError(f"no action statistics at {p}; put the checkpoint's per-domain "
                        f"statistics there ({STATS_FILE}, see docs/COSMOS3.md) or pass --stats")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{p}: not valid JSON ({e})") from e
    return parse_statistics(data, domain, str(p))


def write_statistics(path: str | Path, domains: dict[str, dict]) -> Path:
    """Write a statistics file (``domains``: name -> entry as in the module docstring)."""
    p = Path(path)
    if p.is_dir():
        p = p / STATS_FILE
    p.write_text(json.dumps({"domains": domains}, indent=1))
    return p
