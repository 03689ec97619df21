"""robomimic-style HDF5 files, read with h5py (opened read-only).

``data/demo_<N>/obs/<camera>_image`` uint8 (T, H, W, 3) are the cameras (``agentview``,
``robot0_eye_in_hand`` ...); the state is ``obs/robot0_joint_pos`` followed by one gripper
column in [0, 1] (0 open, 1 closed) from the finger gap in ``obs/robot0_gripper_qpos``
(normalised by the widest gap in the episode) when present. The task is the ``lang``
attribute of the demo, else the ``env_name`` of ``data.attrs["env_args"]``; the frame rate
is its ``control_freq`` (default 20 Hz, robomimic's).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.label.episode import Episode, uniform_timestamps

NAME = "hdf5"
EXT = (".hdf5", ".h5")
IMAGE_SUFFIX = "_image"


def detect(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in EXT


def _open(path: Path):  # noqa: ANN202 - h5py.File
    try:
        import h5py
    except ImportError as exc:
        raise UserError("reading HDF5 needs h5py: pip install h5py") from exc
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise UserError(f"{path}: not a readable HDF5 file ({exc})") from exc


def _demo_number(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else 0


def list_episodes(path: Path) -> list[str]:
    with _open(path) as f:
        if "data" not in f:
            raise UserError(f"{path}: no 'data' group (expected robomimic's data/demo_N)")
        return sorted(f["data"].keys(), key=_demo_number)


def _env_args(f) -> dict:  # noqa: ANN001
    raw = f["data"].attrs.get("env_args")
    try:
        return json.loads(raw) if raw is not None else {}
    except (TypeError, ValueError):
        return {}


def load_episode(path: Path, key: str) -> Episode:
    """One demo; a missing group or dataset, or one h5py cannot read, is a UserError naming
    the file and the key (the labeller skips that episode and goes on)."""
    try:
        return _load(path, key)
    except (KeyError, OSError, ValueError, TypeError) as exc:
        raise UserError(f"{path.name}: data/{key} is unreadable ({type(exc).__name__}: "
                        f"{exc})") from exc


def _group(parent, name: str, path: Path, where: str):  # noqa: ANN001, ANN202 - h5py.Group
    if name not in parent:
        raise UserError(f"{path.name}: {where} has no '{name}' (expected robomimic's "
                        "data/demo_N/obs/<camera>_image)")
    return parent[name]


def _load(path: Path, key: str) -> Episode:
    with _open(path) as f:
        demo = _group(_group(f, "data", path, "the file"), key, path, "data")
        obs = _group(demo, "obs", path, f"data/{key}")
        frames = {name.removesuffix(IMAGE_SUFFIX): np.asarray(obs[name][()], dtype=np.uint8)
                  for name in obs if name.endswith(IMAGE_SUFFIX)}
        if not frames:
            raise UserError(f"{path.name}: data/{key}/obs has no <camera>_image dataset")
        state = None
        if "robot0_joint_pos" in obs:
            q = np.asarray(obs["robot0_joint_pos"][()], np.float32)
            cols = [q]
            if "robot0_gripper_qpos" in obs:
                g = np.asarray(obs["robot0_gripper_qpos"][()], np.float32)
                gap = np.abs(g[:, 0] - g[:, -1]) if g.shape[1] > 1 else np.abs(g[:, 0])
                widest = float(gap.max()) or 1.0
                cols.append((1.0 - gap / widest)[:, None].astype(np.float32))
            state = np.concatenate(cols, axis=1)
        env_args = _env_args(f)
        task = demo.attrs.get("lang") or env_args.get("env_name", "")
        if isinstance(task, bytes):
            task = task.decode()
        fps = float(env_args.get("env_kwargs", {}).get("control_freq", 20))
        actions = np.asarray(demo["actions"][()], np.float32) if "actions" in demo else None
    n = len(next(iter(frames.values())))
    extra: dict[str, object] = {} if actions is None else {"true_action": actions}
    return Episode(frames=frames, state=state, timestamps=uniform_timestamps(n, fps),
                   task=str(task), source_id=key, fps=fps, extra=extra)
