"""Pieces every external-suite adapter shares: the observation space, poses in the base frame,
the unified action, image sizes and the error a missing suite gives.

Conventions are those of docs/CONTRACTS.md: ``ee_pose`` and the unified action are expressed in
the robot's base frame (translation in metres, then the first two *columns* of the rotation
matrix); the gripper is in [0, 1] with 0 open and 1 closed.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Sequence
from types import ModuleType

import gymnasium as gym
import numpy as np

from cosmos_policy import geometry
from cosmos_policy.errors import SpecError, UserError

# The suite adapters read 6-D rotations and write axis-angle through these names.
from cosmos_policy.geometry import matrix_from_rot6d as rot_from_6d  # noqa: F401
from cosmos_policy.geometry import rotvec_from_matrix  # noqa: F401
from cosmos_policy.spec import MAX_PROMPT_CHARS

UNIFIED_ACTION_DIM = 10
DEFAULT_IMAGE_SIZE = (128, 128)

# The optional package -> the command that installs it (the sim extra; robosuite needs --no-deps
# because its mink pin would downgrade numpy, see docs/EXTERNAL_SUITES.md).
INSTALL_HINTS = {
    "gymnasium_robotics": "pip install 'gymnasium-robotics==1.4.2'",
    "robosuite": (
        "pip install --no-deps 'robosuite==1.5.2' && "
        "pip install numba 'qpsolvers[quadprog]' termcolor pynput"
    ),
}


def require(module: str) -> ModuleType:
    """Import an optional suite or raise a :class:`UserError` naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(module, f"pip install {module}")
        msg = (f"this task needs the '{module}' package of the sim extra ({exc}); install "
               f"it with: {hint}")
        raise UserError(msg) from None


def image_hw(image_size: int | Sequence[int] | None) -> tuple[int, int]:
    """``None`` -> the default, ``n`` -> ``(n, n)``, ``(h, w)`` -> itself; checked positive."""
    if image_size is None:
        return DEFAULT_IMAGE_SIZE
    if isinstance(image_size, int | np.integer):
        hw = (int(image_size), int(image_size))
    else:
        hw = tuple(int(v) for v in image_size)
    if len(hw) != 2 or min(hw) <= 0:
        raise UserError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return hw  # type: ignore[return-value]


def pose_in_base(
    base_pos: np.ndarray, base_rot: np.ndarray, pos: np.ndarray, rot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A world pose (pos (3,), rot (3, 3)) re-expressed in the frame (base_pos, base_rot)."""
    return base_rot.T @ (pos - base_pos), base_rot.T @ rot


def pose9(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(3,) + (3, 3) -> float32 (9,), the observation's ``ee_pose`` (:func:`geometry.pose9`)."""
    return geometry.pose9(pos, rot).astype(np.float32)


def check_action(action: np.ndarray) -> np.ndarray:
    """The unified action as float64 (10,); raises :class:`SpecError` on a wrong shape or NaN."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (UNIFIED_ACTION_DIM,):
        raise SpecError(f"action: expected shape ({UNIFIED_ACTION_DIM},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise SpecError("action: contains NaN or inf")
    return a


def closure(opening_m: float, open_m: float) -> float:
    """Finger gap in metres -> gripper state in [0, 1] (0 fully open, 1 closed)."""
    return float(np.clip(1.0 - opening_m / open_m, 0.0, 1.0))


def observation_space(
    cameras: Sequence[str], hw: tuple[int, int], n_joints: int
) -> gym.spaces.Dict:
    """The contract's observation space for ``n_joints`` arm joints and the given cameras."""
    inf = np.inf
    return gym.spaces.Dict({
        "images": gym.spaces.Dict({
            cam: gym.spaces.Box(0, 255, (*hw, 3), np.uint8) for cam in cameras
        }),
        "state": gym.spaces.Box(-inf, inf, (n_joints + 1,), np.float32),
        "joint_vel": gym.spaces.Box(-inf, inf, (n_joints,), np.float32),
        "ee_pose": gym.spaces.Box(-inf, inf, (9,), np.float32),
        "prompt": gym.spaces.Text(max_length=MAX_PROMPT_CHARS, charset=string.printable),
    })


def action_space() -> gym.spaces.Box:
    """The unified action: (10,) absolute EE pose in the base frame + gripper in [0, 1]."""
    low = np.full(UNIFIED_ACTION_DIM, -np.inf, np.float32)
    high = np.full(UNIFIED_ACTION_DIM, np.inf, np.float32)
    low[-1], high[-1] = 0.0, 1.0
    return gym.spaces.Box(low, high, dtype=np.float32)
