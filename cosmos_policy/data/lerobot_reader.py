"""Read LeRobotDataset v3.0 folders (ours or LeRobot's) with pyarrow and PyAV."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from cosmos_policy.data.lerobot_writer import partial_path
from cosmos_policy.data.video import decode_range
from cosmos_policy.errors import ConfigError, UserError

_REQUIRED_INFO = ("codebase_version", "fps", "features", "data_path", "total_episodes")


class LeRobotDataset:
    """A v3.0 dataset on disk. Episodes are read lazily; video is decoded per episode."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not self.root.is_dir():
            hint = (f"; an unfinished write is at {partial_path(self.root)}"
                    if partial_path(self.root).exists() else "")
            raise UserError(f"no dataset at {self.root}{hint}")
        if not info_path.is_file():
            raise UserError(f"{self.root} is not a complete LeRobot dataset: meta/info.json "
                            "is missing (an interrupted write never writes it)")
        try:
            self.info: dict[str, Any] = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(str(info_path), "(file)", f"valid JSON ({exc})") from exc
        for key in _REQUIRED_INFO:
            if key not in self.info:
                raise ConfigError(str(info_path), key, "present in a v3.0 info.json")
        version = str(self.info["codebase_version"])
        if not version.startswith("v3"):
            raise ConfigError(str(info_path), "codebase_version", "v3.x (LeRobotDataset v3)",
                              version)
        self.fps = float(self.info["fps"])
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.video_keys = [k for k, f in self.features.items() if f.get("dtype") == "video"]

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @cached_property
    def episodes(self) -> list[dict[str, Any]]:
        files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise UserError(f"{self.root}: meta/episodes/ holds no parquet file")
        rows = [r for f in files for r in pq.read_table(f).to_pylist()]
        return sorted(rows, key=lambda r: r["episode_index"])

    @cached_property
    def tasks(self) -> list[str]:
        """Task strings indexed by task_index."""
        table = pq.read_table(self.root / "meta" / "tasks.parquet").to_pydict()
        names = table.get("task") or table.get("__index_level_0__")
        if names is None:
            raise UserError(f"{self.root}: meta/tasks.parquet has no 'task' column")
        out = [""] * len(names)
        for name, idx in zip(names, table["task_index"], strict=True):
            out[int(idx)] = name
        return out

    @cached_property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        path = self.root / "meta" / "stats.json"
        if not path.is_file():
            return {}
        return {f: {k: np.asarray(v) for k, v in s.items()}
                for f, s in json.loads(path.read_text()).items()}

    def _data_file(self, chunk: int, file: int) -> Path:
        return self.root / self.info["data_path"].format(chunk_index=chunk, file_index=file)

    def _video_file(self, key: str, chunk: int, file: int) -> Path:
        return self.root / self.info["video_path"].format(video_key=key, chunk_index=chunk,
                                                          file_index=file)

    def episode(self, i: int) -> dict[str, Any]:
        """Episode ``i``: vector features (T, D) float32, index columns (T,), decoded
        videos uint8 (T, H, W, 3) under their feature names, and ``task`` (str)."""
        if not 0 <= i < self.num_episodes:
            raise UserError(f"episode {i} out of range (dataset has {self.num_episodes})")
        ep = self.episodes[i]
        table = pq.read_table(self._data_file(ep["data/chunk_index"], ep["data/file_index"]))
        lo = ep["dataset_from_index"]
        index = table.column("index").to_numpy()
        rows = np.nonzero((index >= lo) & (index < ep["dataset_to_index"]))[0]
        table = table.take(rows)
        out: dict[str, Any] = {}
        for name in table.column_names:
            column = table.column(name).to_pylist()
            dtype = self.features.get(name, {}).get("dtype", "float32")
            array = np.asarray(column, dtype=np.float32 if dtype.startswith("float") else None)
            out[name] = array
        for key in self.video_keys:
            out[key] = decode_range(
                self._video_file(key, ep[f"videos/{key}/chunk_index"],
                                 ep[f"videos/{key}/file_index"]),
                ep[f"videos/{key}/from_timestamp"], ep[f"videos/{key}/to_timestamp"], self.fps)
        tasks = ep.get("tasks") or [self.tasks[int(out["task_index"][0])]]
        out["task"] = tasks[0]
        return out

    def frames(self, columns: list[str]) -> dict[str, np.ndarray]:
        """Non-video columns of every frame, without decoding any video."""
        files = sorted(self.root.glob("data/chunk-*/file-*.parquet"))
        tables = [pq.read_table(f, columns=columns) for f in files]
        return {c: np.concatenate([np.asarray(t.column(c).to_pylist()) for t in tables])
                for c in columns}


def open_dataset(root: Path | str) -> LeRobotDataset:
    """Open a LeRobot v3 dataset; a missing, partial or malformed one raises UserError."""
    return LeRobotDataset(Path(root))
