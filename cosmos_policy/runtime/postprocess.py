"""Action post-processing: delta to absolute, and unified end-effector actions to joints.

Denormalisation is the model wrapper's job; by the time a chunk reaches the runtime it is in
physical units. Here:

1. :meth:`ActionProcessor.to_absolute` runs once per chunk, when it arrives. Delta actions
   are relative to the state of the *observation the chunk came from* (not the present
   state, which would count the inference latency twice). Joint deltas add to the joint
   positions; end-effector deltas add translation in the base frame and compose rotation
   on the left (``R = R_delta @ R_obs``, base frame). The gripper is always absolute.
   Blending and interpolation then work on absolute actions only.
2. :meth:`ActionProcessor.to_joint_targets` runs every command tick: unified 10-D actions
   go through a projector (``cosmos_policy.kinematics.KinematicProjector`` or anything with
   the same methods); joint-space embodiments skip the projection.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.geometry import compose_delta


class JointProjector(Protocol):
    """Unified action space <-> joint space (see docs/CONTRACTS.md, cosmos_policy.kinematics)."""

    def to_joint_targets(self, action: np.ndarray, q_current: np.ndarray,
                         representation: str = "absolute") -> np.ndarray:
        """Action (10,) and joints (n,) -> joint targets + gripper (n + 1,)."""
        ...

    def to_unified(self, q: np.ndarray, gripper: float) -> np.ndarray:
        """Joints (n,) and gripper opening -> unified action (10,) of that pose."""
        ...


class ActionProcessor:
    """Turns model actions into absolute actions and absolute actions into joint targets."""

    def __init__(self, embodiment: Embodiment, projector: JointProjector | None = None) -> None:
        if embodiment.action_type == "ee_pose" and projector is None:
            raise ValueError(f"embodiment {embodiment.name} acts in end-effector space: "
                             "pass a projector (cosmos_policy.kinematics.KinematicProjector)")
        self.kind = embodiment.action_type
        self.delta = embodiment.action_representation == "delta"
        self.n = embodiment.n_joints
        self.projector = projector

    def to_absolute(self, actions: np.ndarray, state: np.ndarray) -> np.ndarray:
        """(T, D) model actions + the source observation's state (n + 1,) -> (T, D) absolute."""
        out = np.array(actions, dtype=np.float64)
        if not self.delta:
            return out
        if self.kind == "joint":
            out[:, : self.n] += np.asarray(state[: self.n], dtype=np.float64)
            return out
        base = np.asarray(self.projector.to_unified(np.asarray(state[: self.n]),
                                                    float(state[self.n])), dtype=np.float64)
        return compose_delta(base, out)

    def to_joint_targets(self, action: np.ndarray, q_current: np.ndarray) -> np.ndarray:
        """Absolute action (D,) -> joint targets + gripper (n + 1,); ``q_current`` (n,) seeds IK."""
        if self.kind == "joint":
            return np.asarray(action, dtype=np.float64).copy()
        target = self.projector.to_joint_targets(action, q_current, "absolute")
        return np.asarray(target, dtype=np.float64).reshape(-1)

    def current_action(self, state: np.ndarray) -> np.ndarray:
        """The absolute action (D,) that holds the robot at ``state`` (n + 1,)."""
        if self.kind == "joint":
            return np.asarray(state, dtype=np.float64).copy()
        return np.asarray(self.projector.to_unified(np.asarray(state[: self.n]),
                                                    float(state[self.n])), dtype=np.float64)
