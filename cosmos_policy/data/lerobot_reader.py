"""Read LeRobotDataset v3.0 folders (ours or LeRobot's own) with pyarrow and PyAV.

The reader follows the format rather than our writer: it takes paths from the templates in
``meta/info.json``, file spans and video time ranges from ``meta/episodes/``, vector columns
as fixed-size or plain lists, ``image`` features as PNG/JPEG bytes, and any video codec
FFmpeg decodes (LeRobot's default is AV1).
"""

from __future__ import annotations

import io
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos_policy.data.layout import (
    INDEX_FEATURES,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    check_features,
    column_to_numpy,
    partial_path,
)
from cosmos_policy.data.stats import from_json
from cosmos_policy.data.video import decode_range
from cosmos_policy.errors import ConfigError, UserError

_EPISODE_COLUMNS = ("episode_index", "length", "data/chunk_index", "data/file_index",
                    "dataset_from_index", "dataset_to_index")
_VIDEO_COLUMNS = ("chunk_index", "file_index", "from_timestamp", "to_timestamp")


class LeRobotDataset:
    """A v3.0 dataset on disk. Metadata is read on open; episodes lazily, one at a time.

    info: meta/info.json; fps: frames per second; features: name -> LeRobot feature dict;
    video_keys / image_keys: camera features stored as mp4 / as images in the parquet.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            hint = (f"; an unfinished write is at {partial_path(self.root)}"
                    if partial_path(self.root).exists() else "")
            raise UserError(f"no dataset at {self.root}{hint}")
        info_path = self.root / INFO_PATH
        if not info_path.is_file():
            raise UserError(f"{self.root} is not a complete LeRobot dataset: meta/info.json "
                            "is missing (an interrupted write never writes it)")
        self.info: dict[str, Any] = _validated_info(info_path)
        self.fps = float(self.info["fps"])
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.video_keys = [k for k, f in self.features.items() if f["dtype"] == "video"]
        self.image_keys = [k for k, f in self.features.items() if f["dtype"] == "image"]
        self._table_cache: tuple[Path, pa.Table] | None = None

    # --------------------------------------------------------------------------- metadata
    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @cached_property
    def episodes(self) -> list[dict[str, Any]]:
        """One dict per episode (meta/episodes rows without their stats columns)."""
        folder = self.root / "meta" / "episodes"
        files = sorted(folder.glob("chunk-*/file-*.parquet"))
        if not files:
            raise UserError(f"{folder}: no chunk-*/file-*.parquet; the dataset is incomplete")
        rows = []
        for f in files:
            schema = pq.read_schema(f)
            names = [n for n in schema.names if not n.startswith("stats/")]
            need = list(_EPISODE_COLUMNS) + [f"videos/{k}/{c}" for k in self.video_keys
                                             for c in _VIDEO_COLUMNS]
            missing = [n for n in need if n not in names]
            if missing:
                raise UserError(f"{f}: missing columns {missing} of a v3.0 episodes table")
            rows += pq.read_table(f, columns=names).to_pylist()
        rows.sort(key=lambda r: r["episode_index"])
        if [r["episode_index"] for r in rows] != list(range(len(rows))):
            raise UserError(f"{folder}: episode_index must run 0..{len(rows) - 1} once each")
        total = self.info.get("total_episodes")
        if isinstance(total, int) and total != len(rows):
            raise UserError(f"{self.root / INFO_PATH}: total_episodes is {total} but "
                            f"meta/episodes lists {len(rows)}")
        return rows

    @cached_property
    def tasks(self) -> list[str]:
        """Task strings indexed by task_index."""
        path = self.root / TASKS_PATH
        if not path.is_file():
            raise UserError(f"{path} is missing; the dataset is incomplete")
        table = pq.read_table(path).to_pydict()
        names = table.get("task") or table.get("__index_level_0__")
        if names is None or "task_index" not in table:
            raise UserError(f"{path}: expected columns 'task' and 'task_index'")
        out = [""] * (max(table["task_index"], default=-1) + 1)
        for name, idx in zip(names, table["task_index"], strict=True):
            out[int(idx)] = name
        return out

    @cached_property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """meta/stats.json: feature -> {min, max, mean, std, count, q01..q99} arrays
        (images per channel (3, 1, 1) in [0, 1]); {} when the file is absent."""
        path = self.root / STATS_PATH
        if not path.is_file():
            return {}
        try:
            return from_json(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigError(str(path), "(file)", f"valid JSON ({exc})") from exc

    # --------------------------------------------------------------------------- frames
    def _data_file(self, chunk: int, file: int) -> Path:
        return self.root / self.info["data_path"].format(chunk_index=chunk, file_index=file)

    def _video_file(self, key: str, chunk: int, file: int) -> Path:
        return self.root / self.info["video_path"].format(video_key=key, chunk_index=chunk,
                                                          file_index=file)

    def _table(self, path: Path) -> pa.Table:
        # Episodes share data files: keep the last one for a sequential pass.
        if self._table_cache is None or self._table_cache[0] != path:
            if not path.is_file():
                raise UserError(f"data file missing: {path}")
            self._table_cache = (path, pq.read_table(path))
        return self._table_cache[1]

    def episode(self, i: int) -> dict[str, Any]:
        """Episode ``i`` as arrays of T rows: numeric features (T, *shape) in their dtype,
        the index features (timestamp, frame_index, ...) (T,), cameras (video or image)
        uint8 (T, H, W, 3) under their feature names, and ``task`` (str)."""
        if not isinstance(i, (int, np.integer)) or not 0 <= i < self.num_episodes:
            raise UserError(f"episode {i} out of range (dataset has {self.num_episodes})")
        ep = self.episodes[int(i)]
        table = self._table(self._data_file(ep["data/chunk_index"], ep["data/file_index"]))
        index = table.column("index").to_numpy()
        rows = np.nonzero((index >= ep["dataset_from_index"])
                          & (index < ep["dataset_to_index"]))[0]
        if len(rows) != ep["dataset_to_index"] - ep["dataset_from_index"]:
            raise UserError(f"episode {i}: the data file holds {len(rows)} of its "
                            f"{ep['dataset_to_index'] - ep['dataset_from_index']} frames")
        table = table.take(pa.array(rows))
        out: dict[str, Any] = {name: self._column(name, table.column(name))
                               for name in table.column_names}
        for key in self.video_keys:
            v = f"videos/{key}/"
            out[key] = decode_range(
                self._video_file(key, ep[v + "chunk_index"], ep[v + "file_index"]),
                ep[v + "from_timestamp"], ep[v + "to_timestamp"], self.fps)
        tasks = ep.get("tasks") or [self.tasks[int(out["task_index"][0])]]
        out["task"] = tasks[0]
        return out

    def _column(self, name: str, column: pa.ChunkedArray) -> Any:
        ft = self.features.get(name)
        if ft is None:
            return column_to_numpy(column)
        if ft["dtype"] == "image":
            return np.stack([_decode_image(v) for v in column.to_pylist()])
        if ft["dtype"] == "string":
            return np.asarray(column.to_pylist(), dtype=object)
        array = column_to_numpy(column, ft["dtype"])
        if name in INDEX_FEATURES:
            return array.reshape(len(array))
        return array.reshape(len(array), *ft["shape"])

    def frames(self, columns: list[str]) -> dict[str, np.ndarray]:
        """Numeric columns of every frame of the dataset, in index order, without decoding
        any video: name -> (N, *shape) (index features (N,)). For training."""
        for name in columns:
            ft = self.features.get(name)
            if ft is None:
                raise UserError(f"no feature '{name}' in {self.root}; it has "
                                f"{sorted(self.features)}")
            if ft["dtype"] in ("video", "image"):
                raise UserError(f"'{name}' is a camera; read it with episode(i)")
        seen = sorted({(e["data/chunk_index"], e["data/file_index"]) for e in self.episodes})
        tables = [pq.read_table(self._data_file(*cf), columns=list(columns)) for cf in seen]
        table = pa.concat_tables(tables)
        return {c: self._column(c, table.column(c)) for c in columns}


def _decode_image(value: Any) -> np.ndarray:
    from PIL import Image

    data = value.get("bytes") if isinstance(value, dict) else value
    if not data:
        raise UserError("an image cell holds no bytes (images kept as separate files are "
                        "not supported; re-save the dataset with embedded images)")
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)


def _validated_info(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(source, "(file)", f"valid JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise ConfigError(source, "(top level)", "a JSON object")
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        hint = (" (a LeRobot v2.x dataset: convert it with LeRobot's "
                "convert_dataset_v21_to_v30 first)" if version.startswith("v2") else "")
        raise ConfigError(source, "codebase_version", f"v3.x (LeRobotDataset v3){hint}",
                          version or None)
    fps = info.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ConfigError(source, "fps", "a positive number", fps)
    for key in ("data_path",):
        value = info.get(key)
        if not isinstance(value, str) or "{file_index" not in value:
            raise ConfigError(source, key, "a path template with {chunk_index} and "
                              "{file_index}", value)
    if "features" not in info:
        raise ConfigError(source, "features", "a mapping of feature name -> dtype/shape")
    try:
        check_features(info["features"], source)
    except UserError as exc:
        raise ConfigError(source, "features", str(exc).removeprefix(f"{source}: ")) from exc
    has_video = any(f["dtype"] == "video" for f in info["features"].values())
    if has_video and not isinstance(info.get("video_path"), str):
        raise ConfigError(source, "video_path", "a path template (the dataset has videos)",
                          info.get("video_path"))
    return info


def open_dataset(root: Path | str) -> LeRobotDataset:
    """Open a LeRobot v3 dataset; a missing, partial or malformed one raises UserError.

    info.json, the episodes table and the tasks table are checked now; data and video
    files when an episode is read.
    """
    ds = LeRobotDataset(Path(root))
    _ = ds.episodes, ds.tasks
    return ds
