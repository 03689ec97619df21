"""Write demonstrations in the LeRobotDataset v3.0 layout, with pyarrow and PyAV.

Layout (relative to the dataset root)::

    meta/info.json                            features, fps, robot type, path templates
    meta/stats.json                           per-feature min/max/mean/std/count/quantiles
    meta/tasks.parquet                        task strings and their task_index
    meta/episodes/chunk-000/file-000.parquet  one row per episode (lengths, file spans, stats)
    data/chunk-000/file-000.parquet           frames of many episodes, concatenated
    videos/<key>/chunk-000/file-000.mp4       one video per camera, episodes concatenated

Data and video files roll over to ``file-001`` ... once they pass their size limit (and to
``chunk-001`` after ``chunks_size`` files). Crash safety: everything is written into a
staging folder (``<root>.partial/`` unless given) with ``meta/info.json`` written last, and
the folder is renamed to ``<root>`` by :meth:`LeRobotWriter.finalize`; an interrupted run
leaves no folder that looks complete. A resumable writer (the labeller) keeps its own
per-episode work elsewhere and feeds finished episodes to one writer at the end.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos_policy.data import stats as S
from cosmos_policy.data.layout import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_FILE_MB,
    DATA_PATH,
    EPISODES_PATH,
    INDEX_FEATURES,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_FILE_MB,
    VIDEO_PATH,
    camera_feature,
    check_features,
    next_chunk_file,
    partial_path,
    to_arrow,
    vector_feature,
)
from cosmos_policy.data.video import ENCODERS, VideoAppender
from cosmos_policy.errors import UserError

_MB = 1024 ** 2


class LeRobotWriter:
    """Accumulates episodes and writes one dataset at ``root``.

    features: name -> LeRobot feature dict (:func:`camera_feature` for cameras, stored as
    video; :func:`vector_feature` for per-frame vectors, any numeric dtype; shape ``[1]``
    for a scalar per frame). The index features (timestamp, frame_index, episode_index,
    index, task_index) are added automatically. ``extra_info`` is merged into info.json at
    :meth:`finalize` (read then, so a caller may still add to it). ``staging`` is where the
    dataset is built (default ``<root>.partial``).
    """

    def __init__(self, root: Path | str, *, fps: int, robot_type: str,
                 features: dict[str, dict[str, Any]], overwrite: bool = False,
                 data_file_mb: float = DATA_FILE_MB, video_file_mb: float = VIDEO_FILE_MB,
                 chunks_size: int = CHUNKS_SIZE, extra_info: dict[str, Any] | None = None,
                 staging: Path | None = None) -> None:
        self.root = Path(root)
        if self.root.exists() and not overwrite:
            raise UserError(f"{self.root} already exists; choose another folder or pass "
                            "--overwrite")
        if not (isinstance(fps, (int, float)) and fps > 0 and float(fps).is_integer()):
            raise UserError(f"fps must be a positive integer, got {fps!r}")
        given = {k: v for k, v in features.items() if k not in INDEX_FEATURES}
        check_features(given, "LeRobotWriter")
        for name, ft in given.items():
            if ft["dtype"] in ("image", "string"):
                raise UserError(f"feature '{name}': dtype '{ft['dtype']}' is read but not "
                                "written; store cameras with camera_feature (video)")
            if ft["dtype"] == "video" and (ft["shape"][0] % 2 or ft["shape"][1] % 2
                                           or ft["shape"][2] != 3):
                raise UserError(f"feature '{name}': video frames need even height and width "
                                f"and 3 channels (yuv420p), got {list(ft['shape'])}")
        self.fps, self.robot_type, self.overwrite = int(fps), robot_type, overwrite
        self.features = copy.deepcopy(given) | copy.deepcopy(INDEX_FEATURES)
        self.video_keys = [k for k, f in given.items() if f["dtype"] == "video"]
        self.vector_keys = [k for k, f in given.items() if f["dtype"] != "video"]
        self.data_file_bytes = data_file_mb * _MB
        self.video_file_bytes = video_file_mb * _MB
        self.chunks_size = int(chunks_size)
        self.extra_info = extra_info if extra_info is not None else {}
        self.tmp = Path(staging) if staging is not None else partial_path(self.root)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.episode_stats: list[dict[str, dict[str, np.ndarray]]] = []
        self.total_frames = 0
        self._rows: list[dict[str, np.ndarray]] = []
        self._rows_bytes = 0
        self._data_cf = (0, 0)
        self._videos: dict[str, VideoAppender] = {}
        self._video_cf = dict.fromkeys(self.video_keys, (0, 0))

    # --------------------------------------------------------------------------- episodes
    def _checked(self, frames: dict[str, np.ndarray]) -> tuple[int, dict[str, np.ndarray]]:
        keys = self.video_keys + self.vector_keys
        missing = [k for k in keys if k not in frames]
        if missing:
            raise UserError(f"episode lacks features {missing}")
        length = len(frames[keys[0]])
        if length < 1:
            raise UserError("an episode needs at least one frame")
        out = {}
        for key in keys:
            ft = self.features[key]
            value = np.asarray(frames[key])
            shape = tuple(ft["shape"])
            if shape == (1,) and value.ndim == 1:
                value = value[:, None]
            if len(value) != length:
                raise UserError(f"feature {key}: {len(value)} rows, expected {length}")
            if value.shape[1:] != shape:
                raise UserError(f"feature {key}: rows of shape {value.shape[1:]}, expected "
                                f"{shape}")
            if ft["dtype"] == "video" and value.dtype != np.uint8:
                raise UserError(f"feature {key}: frames must be uint8, got {value.dtype}")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise UserError(f"feature {key}: contains NaN or inf")
            out[key] = value if ft["dtype"] == "video" else value.astype(ft["dtype"])
        return length, out

    def add_episode(self, frames: dict[str, np.ndarray], task: str) -> int:
        """Add one episode; returns its episode_index.

        frames: feature name -> T rows (cameras uint8 (T, H, W, 3), vectors (T, D), a
        shape-[1] feature (T,) or (T, 1)); task: the episode's prompt.
        """
        if not isinstance(task, str) or not task.strip():
            raise UserError("every episode needs a non-empty task string")
        length, frames = self._checked(frames)
        ep_index = len(self.episodes)
        task_index = self.tasks.setdefault(task, len(self.tasks))
        start = self.total_frames
        row = {k: frames[k] for k in self.vector_keys}
        row["timestamp"] = (np.arange(length) / self.fps).astype(np.float32)
        row["frame_index"] = np.arange(length, dtype=np.int64)
        row["episode_index"] = np.full(length, ep_index, dtype=np.int64)
        row["index"] = np.arange(start, start + length, dtype=np.int64)
        row["task_index"] = np.full(length, task_index, dtype=np.int64)
        if self._rows and self._rows_bytes >= self.data_file_bytes:
            self._flush_data()
            self._data_cf = next_chunk_file(*self._data_cf, self.chunks_size)
        self._rows.append(row)
        self._rows_bytes += sum(v.nbytes for v in row.values())
        meta: dict[str, Any] = {
            "episode_index": ep_index, "tasks": [task], "length": length,
            "data/chunk_index": self._data_cf[0], "data/file_index": self._data_cf[1],
            "dataset_from_index": start, "dataset_to_index": start + length,
        }
        ep_stats = {k: S.numeric_stats(row[k].reshape(length, -1)) for k in row}
        for key in self.video_keys:
            appender = self._video(key, frames[key].shape[1:3])
            t0, t1 = appender.append(frames[key])
            chunk, file = self._video_cf[key]
            meta |= {f"videos/{key}/chunk_index": chunk, f"videos/{key}/file_index": file,
                     f"videos/{key}/from_timestamp": t0, f"videos/{key}/to_timestamp": t1}
            ep_stats[key] = S.image_stats(frames[key])
        self.episodes.append(meta)
        self.episode_stats.append(ep_stats)
        self.total_frames += length
        return ep_index

    def _video(self, key: str, hw: tuple[int, int]) -> VideoAppender:
        current = self._videos.get(key)
        if current is not None and current.size_estimate >= self.video_file_bytes:
            current.close()
            self._video_cf[key] = next_chunk_file(*self._video_cf[key], self.chunks_size)
            current = None
        if current is None:
            chunk, file = self._video_cf[key]
            path = self.tmp / VIDEO_PATH.format(video_key=key, chunk_index=chunk,
                                                file_index=file)
            current = VideoAppender(path, self.fps, width=int(hw[1]), height=int(hw[0]))
            self._videos[key] = current
            self.features[key].setdefault("info", {})["video.codec"] = ENCODERS[
                current.encoder]
        return current

    def _flush_data(self) -> None:
        if not self._rows:
            return
        columns = {key: to_arrow(np.concatenate([r[key] for r in self._rows]),
                                 self.features[key])
                   for key in [*self.vector_keys, *INDEX_FEATURES]}
        chunk, file = self._data_cf
        path = self.tmp / DATA_PATH.format(chunk_index=chunk, file_index=file)
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
        self._videos.clear()
        self._write_meta()
        old = self.root.with_name(self.root.name + ".replaced")
        if self.root.exists() and not self.overwrite:
            raise UserError(f"{self.root} appeared while writing; the new dataset is left at "
                            f"{self.tmp}")
        if self.root.exists():  # --overwrite: the old dataset goes only now
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.root, old)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, self.root)
        shutil.rmtree(old, ignore_errors=True)
        return self.root

    def abort(self) -> None:
        """Drop everything written so far."""
        for appender in self._videos.values():
            with contextlib.suppress(Exception):  # best effort on an aborted write
                appender.close()
        self._videos.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _write_meta(self) -> None:
        meta = self.tmp / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        pq.write_table(_tasks_table(self.tasks), self.tmp / TASKS_PATH)

        rows = []
        for ep, st in zip(self.episodes, self.episode_stats, strict=True):
            row = dict(ep) | {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
            for feature, s in st.items():
                for name, value in s.items():
                    row[f"stats/{feature}/{name}"] = np.asarray(value).tolist()
            rows.append(row)
        path = self.tmp / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), path)

        merged = {f: S.merge([st[f] for st in self.episode_stats])
                  for f in self.episode_stats[0]}
        (self.tmp / STATS_PATH).write_text(json.dumps(S.to_json(merged), indent=4))
        info = {
            "codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
            "total_episodes": len(self.episodes), "total_frames": self.total_frames,
            "total_tasks": len(self.tasks), "chunks_size": self.chunks_size,
            "data_files_size_in_mb": self.data_file_bytes / _MB,
            "video_files_size_in_mb": self.video_file_bytes / _MB, "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH if self.video_keys else None,
            "features": self.features, **self.extra_info,
        }
        # info.json last and atomically: its presence marks a complete dataset.
        scratch = self.tmp / (INFO_PATH + ".tmp")
        scratch.write_text(json.dumps(info, indent=4))
        os.replace(scratch, self.tmp / INFO_PATH)

    def __enter__(self) -> LeRobotWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is not None:
            self.abort()


def _tasks_table(tasks: dict[str, int]) -> pa.Table:
    """meta/tasks.parquet as LeRobot writes it: a pandas frame indexed by the task string."""
    names = sorted(tasks, key=tasks.get)
    pandas_meta = {"index_columns": ["task"], "column_indexes": [], "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
         "numpy_type": "int64", "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode",
         "numpy_type": "object", "metadata": None}], "creator": {"library": "pyarrow"}}
    table = pa.table({"task_index": pa.array([tasks[t] for t in names], type=pa.int64()),
                      "task": pa.array(names, type=pa.string())})
    return table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})


__all__ = ["LeRobotWriter", "camera_feature", "partial_path", "vector_feature"]
