"""Comparing two dataset trees for the kill-and-resume tests: file hashes, and video frames
decoded (libx264 under PyAV gives different bytes for the same frames from one process to
the next, so a re-encoded video is compared by its pictures, not its bytes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def frames(path: Path) -> np.ndarray:
    """Every frame of a video, uint8 (T, H, W, 3)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def assert_same_frames(got: np.ndarray, want: np.ndarray, *, tol: float | None = None,
                       distinct: float = 0.0) -> None:
    """Same frame count and shape, and each frame nearest its own counterpart rather than a
    neighbour (nothing lost, nothing shifted), up to the codec's rounding.

    tol: also bound each frame's mean absolute difference (grey levels). distinct: compare
    only with neighbours that differ from the frame by more than this mean (a robot at rest
    gives neighbours closer to each other than the codec's rounding).
    """
    assert got.shape == want.shape
    g, w = got.astype(np.int16), want.astype(np.int16)
    for i in range(len(g)):
        own = np.abs(g[i] - w[i]).mean()
        if tol is not None:
            assert own < tol, (i, own)
        for j in (i - 1, i + 1):
            if 0 <= j < len(w) and np.abs(w[j] - w[i]).mean() > distinct:
                assert own < np.abs(g[i] - w[j]).mean(), (i, j)
