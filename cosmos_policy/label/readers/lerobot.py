"""LeRobot v3 datasets, through :func:`cosmos_policy.data.open_dataset`."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pyarrow as pa

from cosmos_policy.data import open_dataset
from cosmos_policy.errors import UserError
from cosmos_policy.label.episode import Episode, uniform_timestamps

NAME = "lerobot"
IMAGE_PREFIX = "observation.images."


def detect(path: Path) -> bool:
    return path.is_dir() and (path / "meta" / "info.json").is_file()


def _broken(path: Path, what: str, exc: Exception) -> UserError:
    kind = ("broken parquet file" if isinstance(exc, pa.ArrowException) else
            "broken video file" if isinstance(exc, av.error.FFmpegError) else "unreadable file")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserError(f"{path.name}: {what}: {kind} ({first})")


def list_episodes(path: Path) -> list[str]:
    try:
        return [str(i) for i in range(open_dataset(path).num_episodes)]
    except (pa.ArrowException, OSError) as exc:  # the episode table itself: nothing to label
        raise _broken(path, "its tables (meta/episodes/, meta/tasks.parquet)", exc) from exc


def load_episode(path: Path, key: str) -> Episode:
    """One episode; a damaged data or video file is a UserError naming it (pyarrow's and
    PyAV's messages carry the file's path), so the labeller skips just this episode."""
    try:
        return _load(path, key)
    except (pa.ArrowException, av.error.FFmpegError, OSError) as exc:
        raise _broken(path, f"episode {key}", exc) from exc


def _load(path: Path, key: str) -> Episode:
    ds = open_dataset(path)
    ep = ds.episode(int(key))
    frames = {k.removeprefix(IMAGE_PREFIX): np.asarray(ep[k], dtype=np.uint8)
              for k in ds.video_keys}
    n = len(next(iter(frames.values())))
    state = ep.get("observation.state")
    stamps = ep.get("timestamp")
    stamps = (np.asarray(stamps, np.float64).reshape(-1) if stamps is not None
              else uniform_timestamps(n, ds.fps))
    extra: dict[str, object] = {"robot_type": ds.info.get("robot_type")}
    if "cosmos_policy" in ds.info:
        extra["cosmos_policy"] = ds.info["cosmos_policy"]
    if "action" in ep:
        extra["true_action"] = np.asarray(ep["action"], np.float32)
    return Episode(frames=frames,
                   state=None if state is None else np.asarray(state, np.float32),
                   timestamps=stamps, task=str(ep.get("task", "")), source_id=key,
                   fps=ds.fps, extra=extra)
