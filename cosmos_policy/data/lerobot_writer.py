"""Write demonstrations in the LeRobotDataset v3.0 layout, with pyarrow and PyAV.

Layout (relative to the dataset root)::

    meta/info.json                          features, fps, robot type, path templates
    meta/stats.json                         per-feature min/max/mean/std/count
    meta/tasks.parquet                      task strings and their task_index
    meta/episodes/chunk-000/file-000.parquet  one row per episode (lengths, file spans, stats)
    data/chunk-000/file-000.parquet         frames of many episodes, concatenated
    videos/<key>/chunk-000/file-000.mp4     one video per camera, episodes concatenated

Crash safety: everything is written into ``<root>.partial/`` and renamed to ``<root>`` by
:meth:`LeRobotWriter.finalize`; an interrupted run leaves no folder that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos_policy.data import stats as S
from cosmos_policy.data.video import CODEC, PIX_FMT, VideoAppender
from cosmos_policy.errors import UserError

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def partial_path(root: Path) -> Path:
    return root.with_name(root.name + ".partial")


def camera_feature(height: int, width: int, fps: int) -> dict[str, Any]:
    """Feature entry of one camera stored as video."""
    return {"dtype": "video", "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
            "info": {"video.height": height, "video.width": width, "video.codec": "h264",
                     "video.pix_fmt": PIX_FMT, "video.is_depth_map": False, "video.fps": fps,
                     "video.channels": 3, "has_audio": False}}


def vector_feature(names: list[str]) -> dict[str, Any]:
    return {"dtype": "float32", "shape": [len(names)], "names": names}


class LeRobotWriter:
    """Accumulates episodes and writes one dataset.

    features: name -> LeRobot feature dict (``camera_feature`` / ``vector_feature``); the
    index features (timestamp, frame_index, ...) are added automatically.
    """

    def __init__(self, root: Path, *, fps: int, robot_type: str,
                 features: dict[str, dict[str, Any]], overwrite: bool = False,
                 data_file_mb: float = 100.0, video_file_mb: float = 500.0,
                 extra_info: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        if self.root.exists() and not overwrite:
            raise UserError(f"{self.root} already exists; choose another folder or pass "
                            "--overwrite")
        self.tmp = partial_path(self.root)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.fps, self.robot_type = int(fps), robot_type
        self.features = {**features, **INDEX_FEATURES}
        self.video_keys = [k for k, f in features.items() if f["dtype"] == "video"]
        self.vector_keys = [k for k, f in features.items() if f["dtype"] != "video"]
        self.data_file_bytes = data_file_mb * 1e6
        self.video_file_bytes = video_file_mb * 1e6
        self.extra_info = extra_info or {}
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.episode_stats: list[dict[str, dict[str, np.ndarray]]] = []
        self._rows: list[dict[str, np.ndarray]] = []
        self._rows_bytes = 0
        self._data_file = 0
        self._videos: dict[str, VideoAppender] = {}
        self._video_file = dict.fromkeys(self.video_keys, 0)
        self.total_frames = 0

    # --------------------------------------------------------------------------- episodes
    def add_episode(self, frames: dict[str, np.ndarray], task: str) -> int:
        """Add one episode. frames: feature name -> array with T rows (images uint8
        (T, H, W, 3), vectors (T, D)); task: the episode's prompt. Returns its index."""
        if not isinstance(task, str) or not task.strip():
            raise UserError("every episode needs a non-empty task string")
        missing = [k for k in self.video_keys + self.vector_keys if k not in frames]
        if missing:
            raise UserError(f"episode lacks features {missing}")
        length = len(frames[(self.video_keys + self.vector_keys)[0]])
        for key in self.video_keys + self.vector_keys:
            if len(frames[key]) != length:
                raise UserError(f"feature {key}: {len(frames[key])} rows, expected {length}")
            shape = tuple(self.features[key]["shape"])
            if tuple(np.shape(frames[key])[1:]) != shape:
                raise UserError(f"feature {key}: rows of shape {np.shape(frames[key])[1:]}, "
                                f"expected {shape}")
        ep_index = len(self.episodes)
        task_index = self.tasks.setdefault(task, len(self.tasks))
        start = self.total_frames
        row = {k: np.asarray(frames[k], dtype=np.float32) for k in self.vector_keys}
        row["timestamp"] = (np.arange(length) / self.fps).astype(np.float32)
        row["frame_index"] = np.arange(length, dtype=np.int64)
        row["episode_index"] = np.full(length, ep_index, dtype=np.int64)
        row["index"] = np.arange(start, start + length, dtype=np.int64)
        row["task_index"] = np.full(length, task_index, dtype=np.int64)
        if self._rows and self._rows_bytes > self.data_file_bytes:
            self._flush_data()
            self._data_file += 1
        self._rows.append(row)
        self._rows_bytes += sum(v.nbytes for v in row.values())
        meta: dict[str, Any] = {
            "episode_index": ep_index, "tasks": [task], "length": length,
            "data/chunk_index": 0, "data/file_index": self._data_file,
            "dataset_from_index": start, "dataset_to_index": start + length,
        }
        ep_stats = {k: S.numeric_stats(row[k]) for k in self.vector_keys}
        for key in self.video_keys:
            appender = self._video(key, frames[key].shape[1:3])
            t0, t1 = appender.append(np.asarray(frames[key], dtype=np.uint8))
            meta |= {f"videos/{key}/chunk_index": 0,
                     f"videos/{key}/file_index": self._video_file[key],
                     f"videos/{key}/from_timestamp": t0, f"videos/{key}/to_timestamp": t1}
            ep_stats[key] = S.image_stats(np.asarray(frames[key]))
        for key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
            ep_stats[key] = S.numeric_stats(row[key].reshape(-1, 1))
        self.episodes.append(meta)
        self.episode_stats.append(ep_stats)
        self.total_frames += length
        return ep_index

    def _video(self, key: str, hw: tuple[int, int]) -> VideoAppender:
        current = self._videos.get(key)
        if (current is not None and current.path.exists()
                and current.path.stat().st_size > self.video_file_bytes):
            current.close()
            self._video_file[key] += 1
            current = None
        if current is None:
            path = self.tmp / VIDEO_PATH.format(video_key=key, chunk_index=0,
                                                file_index=self._video_file[key])
            current = VideoAppender(path, self.fps, width=int(hw[1]), height=int(hw[0]))
            self._videos[key] = current
        return current

    def _flush_data(self) -> None:
        if not self._rows:
            return
        columns = {}
        for key in self.vector_keys:
            values = np.concatenate([r[key] for r in self._rows])
            columns[key] = pa.array(list(values), type=pa.list_(pa.float32()))
        for key in INDEX_FEATURES:
            columns[key] = pa.array(np.concatenate([r[key] for r in self._rows]))
        path = self.tmp / DATA_PATH.format(chunk_index=0, file_index=self._data_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path)
        self._rows, self._rows_bytes = [], 0

    # --------------------------------------------------------------------------- finalize
    def finalize(self) -> Path:
        """Write the metadata and move the dataset into place; returns its root."""
        if not self.episodes:
            self.abort()
            raise UserError("no episode was recorded; nothing to write")
        self._flush_data()
        for appender in self._videos.values():
            appender.close()
        self._write_meta()
        if self.root.exists():
            shutil.rmtree(self.root)
        os.replace(self.tmp, self.root)
        return self.root

    def abort(self) -> None:
        """Drop everything written so far."""
        for appender in self._videos.values():
            with contextlib.suppress(Exception):  # best effort on an aborted write
                appender.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _write_meta(self) -> None:
        meta = self.tmp / "meta"
        (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
        task_names = sorted(self.tasks, key=self.tasks.get)
        pandas_meta = {"index_columns": ["task"], "column_indexes": [], "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
             "numpy_type": "int64", "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode",
             "numpy_type": "object", "metadata": None}], "creator": {"library": "pyarrow"}}
        tasks = pa.table({"task_index": pa.array([self.tasks[t] for t in task_names],
                                                 type=pa.int64()),
                          "task": pa.array(task_names, type=pa.string())})
        tasks = tasks.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
        pq.write_table(tasks, meta / "tasks.parquet")

        rows = []
        for ep, st in zip(self.episodes, self.episode_stats, strict=True):
            row = dict(ep) | {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
            for feature, s in st.items():
                for name, value in s.items():
                    row[f"stats/{feature}/{name}"] = np.asarray(value).tolist()
            rows.append(row)
        pq.write_table(pa.Table.from_pylist(rows),
                       self.tmp / EPISODES_PATH.format(chunk_index=0, file_index=0))

        merged = {f: S.merge([st[f] for st in self.episode_stats])
                  for f in self.episode_stats[0]}
        (meta / "stats.json").write_text(json.dumps(S.to_json(merged), indent=2))
        info = {
            "codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
            "total_episodes": len(self.episodes), "total_frames": self.total_frames,
            "total_tasks": len(self.tasks), "chunks_size": 1000,
            "data_files_size_in_mb": self.data_file_bytes / 1e6,
            "video_files_size_in_mb": self.video_file_bytes / 1e6, "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH if self.video_keys else None,
            "features": self.features, **self.extra_info,
        }
        # info.json last: its presence marks a complete dataset.
        (meta / "info.json").write_text(json.dumps(info, indent=2))

    def __enter__(self) -> LeRobotWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


__all__ = ["CODEC", "LeRobotWriter", "camera_feature", "partial_path", "vector_feature"]
