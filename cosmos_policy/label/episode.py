"""The one thing every reader returns: an :class:`Episode` of frames, optional state and text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cosmos_policy.errors import UserError


@dataclass
class Episode:
    """One unlabelled demonstration.

    frames: camera name -> uint8 (T, H, W, 3), every camera with the same T.
    state: optional float32 (T, S) proprioception (joint positions then gripper).
    timestamps: float64 (T,) seconds from the episode's start.
    task: the task in words ("" when the source has none).
    source_id: a stable name of the episode in its source (a file, a demo key, an index).
    fps: frames per second of the source (from timestamps when the source has no rate).
    """

    frames: dict[str, np.ndarray]
    state: np.ndarray | None
    timestamps: np.ndarray
    task: str
    source_id: str
    fps: float
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.frames:
            raise UserError(f"episode {self.source_id}: no camera frames")
        lengths = {cam: int(np.shape(v)[0]) for cam, v in self.frames.items()}
        if len(set(lengths.values())) != 1:
            raise UserError(f"episode {self.source_id}: cameras differ in length {lengths}")
        for cam, v in self.frames.items():
            if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
                raise UserError(f"episode {self.source_id}: camera {cam!r} frames must be uint8 "
                                f"(T, H, W, 3), got {v.dtype} {v.shape}")
        if self.state is not None and len(self.state) != self.length:
            raise UserError(f"episode {self.source_id}: {len(self.state)} states for "
                            f"{self.length} frames")

    @property
    def length(self) -> int:
        return int(next(iter(self.frames.values())).shape[0])

    @property
    def cameras(self) -> list[str]:
        return list(self.frames)


def fps_from_timestamps(timestamps: np.ndarray, default: float = 10.0) -> float:
    """Median frame rate of increasing ``timestamps`` (s); ``default`` when under 2 stamps."""
    t = np.asarray(timestamps, dtype=np.float64)
    if t.size < 2:
        return default
    dt = np.diff(t)
    dt = dt[dt > 0]
    return float(1.0 / np.median(dt)) if dt.size else default


def uniform_timestamps(n: int, fps: float) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / float(fps)
