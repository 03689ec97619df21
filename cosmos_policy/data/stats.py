"""Feature statistics in LeRobot's layout (min, max, mean, std, count, quantiles), mergeable.

Numeric features give per-dimension vectors (D,); image/video features give per-channel
values on pixels scaled to [0, 1], shaped (3, 1, 1) as LeRobot stores them. Quantiles
``q01 ... q99`` of a merged set are the count-weighted mean of the parts' quantiles (an
approximation, as in LeRobot); min, max, mean and std merge exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


def numeric_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """values (N, D) (or (N,)) -> min/max/mean/std/q01..q99 each (D,), and count (1,)."""
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    out = {"min": v.min(0), "max": v.max(0), "mean": v.mean(0), "std": v.std(0),
           "count": np.array([len(v)])}
    qs = np.quantile(v, list(QUANTILES.values()), axis=0)
    out |= {name: q for name, q in zip(QUANTILES, qs, strict=True)}
    return out


def image_stats(frames: np.ndarray, max_samples: int = 64,
                max_side: int = 128) -> dict[str, np.ndarray]:
    """frames (T, H, W, 3) uint8 -> per-channel stats of pixels in [0, 1], each (3, 1, 1);
    count (1,) is T. Up to ``max_samples`` frames, strided to at most ``max_side`` pixels a
    side, are measured (LeRobot samples frames too)."""
    frames = np.asarray(frames)
    idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_samples)).round())
    step = max(1, -(-max(frames.shape[1:3]) // max_side))
    px = frames[idx.astype(int), ::step, ::step].reshape(-1, 3).astype(np.float64) / 255.0
    out = {k: v.reshape(3, 1, 1) for k, v in numeric_stats(px).items() if k != "count"}
    out["count"] = np.array([len(frames)])
    return out


def merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine stats of disjoint sets of frames, weighted by count."""
    counts = np.array([float(np.asarray(p["count"]).reshape(-1)[0]) for p in parts])
    total = counts.sum()
    w = (counts / total).reshape(-1, *([1] * np.ndim(parts[0]["mean"])))
    means = np.stack([p["mean"] for p in parts])
    mean = (w * means).sum(0)
    second = (w * (np.stack([p["std"] for p in parts]) ** 2 + means ** 2)).sum(0)
    out = {"min": np.min([p["min"] for p in parts], axis=0),
           "max": np.max([p["max"] for p in parts], axis=0),
           "mean": mean, "std": np.sqrt(np.maximum(second - mean ** 2, 0.0)),
           "count": np.array([int(total)])}
    for name in QUANTILES:
        if all(name in p for p in parts):
            out[name] = (w * np.stack([p[name] for p in parts])).sum(0)
    return out


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Stats as plain lists, for ``meta/stats.json``."""
    return {feature: {k: np.asarray(v).tolist() for k, v in s.items()}
            for feature, s in stats.items()}


def from_json(data: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """``meta/stats.json`` as numpy arrays (the inverse of :func:`to_json`)."""
    return {feature: {k: np.asarray(v) for k, v in s.items()}
            for feature, s in data.items() if isinstance(s, dict)}
