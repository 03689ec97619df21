"""The LeRobotDataset v3.0 layout: path templates, feature entries and their arrow types.

Shared by the writer and the reader. A feature is LeRobot's dict
``{"dtype": ..., "shape": [...], "names": [...]}``; ``dtype`` is ``"video"`` (an mp4 per
camera), ``"image"`` (PNG bytes in the parquet, read only) or a numpy dtype name. In the
data parquet a feature of shape ``[1]`` is a scalar column, shape ``[D]`` a fixed-size list,
higher ranks nested fixed-size lists, as LeRobot (through Hugging Face ``datasets``) writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cosmos_policy.errors import UserError

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILE_MB = 100.0
VIDEO_FILE_MB = 500.0
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
INDEX_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
NUMERIC_DTYPES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
POSE9_NAMES = ["x", "y", "z", "r11", "r21", "r31", "r12", "r22", "r32"]


def partial_path(root: Path) -> Path:
    """Where a dataset being written to ``root`` lives until it is complete."""
    root = Path(root)
    return root.with_name(root.name + ".partial")


def next_chunk_file(chunk: int, file: int, chunks_size: int = CHUNKS_SIZE) -> tuple[int, int]:
    """The (chunk, file) indices after ``(chunk, file)``: a chunk holds ``chunks_size`` files."""
    return (chunk + 1, 0) if file == chunks_size - 1 else (chunk, file + 1)


def camera_feature(height: int, width: int, fps: int, codec: str = "h264") -> dict[str, Any]:
    """Feature entry of one camera stored as video, frames (height, width, 3) RGB."""
    return {"dtype": "video", "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
            "info": {"video.height": height, "video.width": width, "video.codec": codec,
                     "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                     "video.fps": fps, "video.channels": 3, "has_audio": False}}


# The expert's own action chunk from each frame, flattened (chunk * action_dim), written by
# DAgger rollouts (cosmos_policy/sim/dagger_rollouts.py) and the training target of those frames.
CHUNK_KEY = "action.chunk"


def vector_feature(names: list[str], dtype: str = "float32") -> dict[str, Any]:
    """Feature entry of a per-frame vector (D,) with one name per dimension; D = 1 is a
    scalar per frame (e.g. a labeller's confidence)."""
    return {"dtype": dtype, "shape": [len(names)], "names": list(names)}


def check_features(features: dict[str, dict[str, Any]], source: str) -> None:
    """Raise :class:`UserError` naming ``source`` and the feature when one is malformed."""
    if not isinstance(features, dict) or not features:
        raise UserError(f"{source}: 'features' must be a non-empty mapping of name -> feature")
    for name, ft in features.items():
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            raise UserError(f"{source}: feature '{name}' needs 'dtype' and 'shape'")
        shape = ft["shape"]
        if (not isinstance(shape, (list, tuple)) or not shape
                or not all(isinstance(n, int) and n > 0 for n in shape)):
            raise UserError(f"{source}: feature '{name}': 'shape' must be a list of positive "
                            f"integers, got {shape!r}")
        dtype = ft["dtype"]
        if dtype in ("video", "image"):
            if len(shape) != 3:
                raise UserError(f"{source}: feature '{name}': a {dtype} needs shape "
                                f"[height, width, channels], got {list(shape)}")
        elif dtype not in NUMERIC_DTYPES and dtype != "string":
            raise UserError(f"{source}: feature '{name}': dtype '{dtype}' is not one of "
                            f"video, image, string, {', '.join(NUMERIC_DTYPES)}")


def arrow_type(ft: dict[str, Any]) -> pa.DataType:
    """The arrow type LeRobot uses for a numeric feature in the data parquet."""
    t = pa.from_numpy_dtype(np.dtype(ft["dtype"]))
    shape = list(ft["shape"])
    if shape == [1]:
        return t
    for n in reversed(shape):
        t = pa.list_(t, n)
    return t


def to_arrow(values: np.ndarray, ft: dict[str, Any]) -> pa.Array:
    """values (N, *shape) -> an arrow column of :func:`arrow_type` (no Python loop)."""
    shape = list(ft["shape"])
    flat = np.ascontiguousarray(values, dtype=np.dtype(ft["dtype"])).reshape(-1)
    array: pa.Array = pa.array(flat)
    if shape == [1]:
        return array
    for n in reversed(shape):
        array = pa.FixedSizeListArray.from_arrays(array, n)
    return array


def column_to_numpy(column: pa.ChunkedArray | pa.Array, dtype: str | None = None) -> np.ndarray:
    """An arrow column of scalars or (nested, fixed or variable) lists -> (N, *shape).

    Falls back to Python objects only for ragged lists, which a v3.0 dataset never holds.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    n = len(column)
    dims: list[int] = []
    array = column
    while pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type) \
            or pa.types.is_large_list(array.type):
        if pa.types.is_fixed_size_list(array.type):
            dims.append(array.type.list_size)
        else:
            lengths = array.value_lengths().to_numpy(zero_copy_only=False)
            if len(lengths) and (lengths != lengths[0]).any():
                return np.asarray(column.to_pylist(), dtype=dtype)
            dims.append(int(lengths[0]) if len(lengths) else 0)
        array = array.flatten()
    out = array.to_numpy(zero_copy_only=False).reshape(n, *dims)
    return out.astype(dtype, copy=False) if dtype is not None else out
