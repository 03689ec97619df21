"""Action layouts, interpolation in time and blending across chunks.

An action is ``float (D,)`` in the embodiment's action space (absolute by now, see
:mod:`~cosmos_policy.runtime.postprocess`):

- ``ee_pose``: ``[x, y, z, r1..r6, g]`` (m, 6-D rotation, gripper 0..1), base frame.
- ``joint``: ``[q_1..q_n, g]`` (rad or m, gripper 0..1).

Between two timed actions, positions are interpolated linearly, rotations by slerp, and the
gripper is stepped (zero-order hold: the command of the action whose time has come).
Blending several actions for the same time takes weighted means; rotations are averaged as
6-D vectors and re-orthonormalised (Gram-Schmidt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.geometry import (
    matrix_from_quat,
    matrix_from_rot6d,
    mean_rot6d,
    quat_from_matrix,
    rot6d_from_matrix,
    slerp,
    slerp_rot6d,
)


@dataclass(frozen=True)
class ActionLayout:
    """Which components of an action are linear, rotation (6-D) and gripper."""

    kind: str  # "ee_pose" or "joint"
    dim: int

    def __post_init__(self) -> None:
        if self.kind not in ("ee_pose", "joint"):
            raise ValueError(f"kind: expected 'ee_pose' or 'joint', got {self.kind!r}")
        if self.kind == "ee_pose" and self.dim != 10:
            raise ValueError(f"dim: an ee_pose action has 10 components, got {self.dim}")
        if self.dim < 2:
            raise ValueError(f"dim: expected >= 2, got {self.dim}")

    @classmethod
    def for_embodiment(cls, embodiment: Embodiment) -> ActionLayout:
        return cls(embodiment.action_type, embodiment.action_dim)

    @property
    def n_linear(self) -> int:
        """Leading components interpolated linearly (3 for ee_pose, n joints for joint)."""
        return 3 if self.kind == "ee_pose" else self.dim - 1

    def interpolate(self, a0: np.ndarray, a1: np.ndarray, u: float) -> np.ndarray:
        """The action a fraction ``u`` in [0, 1] of the way from ``a0`` to ``a1``."""
        out = a0 + u * (a1 - a0)
        if self.kind == "ee_pose":
            out[3:9] = slerp_rot6d(a0[3:9], a1[3:9], u)
        out[-1] = a1[-1] if u >= 1.0 else a0[-1]
        return out

    def blend(self, actions: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted mean of (K, D) actions with weights (K,) > 0."""
        w = np.asarray(weights, dtype=np.float64)
        out = (w[:, None] * actions).sum(axis=0) / w.sum()
        if self.kind == "ee_pose":
            out[3:9] = mean_rot6d(actions[:, 3:9], w)
        return out


class TimedActions:
    """The actions of one chunk on the loop clock: action ``i`` is for ``times[i]``.

    Before the first time it holds the first action, after the last it holds the last.
    """

    def __init__(self, layout: ActionLayout, actions: np.ndarray, times: np.ndarray) -> None:
        self.layout = layout
        self.actions = np.asarray(actions, dtype=np.float64)
        self.times = np.asarray(times, dtype=np.float64)
        if self.actions.shape != (len(self.times), layout.dim) or len(self.times) == 0:
            raise ValueError(f"actions: expected ({len(self.times)}, {layout.dim}), "
                             f"got {self.actions.shape}")
        self._quats = None
        if layout.kind == "ee_pose":  # once per chunk, so a tick does one slerp only
            self._quats = np.stack([quat_from_matrix(R)
                                    for R in matrix_from_rot6d(self.actions[:, 3:9])])

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def at(self, t: float) -> np.ndarray:
        """The interpolated action (D,) at time ``t`` (s)."""
        times = self.times
        if t <= times[0]:
            return self.actions[0].copy()
        if t >= times[-1]:
            return self.actions[-1].copy()
        i = int(np.searchsorted(times, t, side="right")) - 1
        u = float((t - times[i]) / (times[i + 1] - times[i]))
        a0, a1 = self.actions[i], self.actions[i + 1]
        if self._quats is None:
            return self.layout.interpolate(a0, a1, u)
        out = a0 + u * (a1 - a0)
        out[3:9] = rot6d_from_matrix(matrix_from_quat(slerp(self._quats[i], self._quats[i + 1], u)))
        out[-1] = a0[-1]
        return out
