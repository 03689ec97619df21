"""Feature statistics in LeRobot's layout (min, max, mean, std, count), mergeable.

Numeric features give per-dimension vectors; image/video features give per-channel values
on pixels scaled to [0, 1], shaped (3, 1, 1) as LeRobot stores them.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def numeric_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """values (N, D) -> min/max/mean/std (D,) and count (1,)."""
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return {"min": v.min(0), "max": v.max(0), "mean": v.mean(0), "std": v.std(0),
            "count": np.array([len(v)])}


def image_stats(frames: np.ndarray, max_samples: int = 64) -> dict[str, np.ndarray]:
    """frames (T, H, W, 3) uint8 -> per-channel stats in [0, 1], each shaped (3, 1, 1)."""
    idx = np.linspace(0, len(frames) - 1, min(len(frames), max_samples)).round().astype(int)
    px = frames[idx].reshape(-1, 3).astype(np.float64) / 255.0
    out = {k: v.reshape(3, 1, 1) for k, v in numeric_stats(px).items() if k != "count"}
    out["count"] = np.array([len(frames)])
    return out


def merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine stats of disjoint sets (exact for mean and std, weighted by count)."""
    counts = np.array([float(p["count"][0]) for p in parts])
    total = counts.sum()
    w = (counts / total).reshape(-1, *([1] * np.ndim(parts[0]["mean"])))
    means = np.stack([p["mean"] for p in parts])
    mean = (w * means).sum(0)
    second = (w * (np.stack([p["std"] for p in parts]) ** 2 + means ** 2)).sum(0)
    return {"min": np.min([p["min"] for p in parts], axis=0),
            "max": np.max([p["max"] for p in parts], axis=0),
            "mean": mean, "std": np.sqrt(np.maximum(second - mean ** 2, 0.0)),
            "count": np.array([int(total)])}


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    return {feature: {k: np.asarray(v).tolist() for k, v in s.items()}
            for feature, s in stats.items()}
