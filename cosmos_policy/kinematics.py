"""Kinematics on an embodiment's MJCF: FK, damped least-squares IK, projector, workspace guard.

Frames: the robot base frame is the world frame of the embodiment's ``model.xml`` (its base
body sits at the origin in every scene). Poses are of the ``end_effector.site``.

The unified action (see docs/CONTRACTS.md) is ``[x, y, z, r1..r6, g]``: translation (m),
the 6-D rotation of Zhou et al. 2019 (the first two *columns* of R) and the gripper command
in [0, 1] (0 open, 1 closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.errors import ConfigError
from cosmos_policy.geometry import matrix_from_rot6d, pose9


def _rotvec_via_mujoco(R: np.ndarray) -> np.ndarray:
    """Axis-angle (rad) of a 3x3 rotation through MuJoCo's quaternion routines.

    :func:`cosmos_policy.geometry.rotvec_from_matrix` agrees to about 1e-15; the IK keeps
    MuJoCo's route because a closed loop amplifies even that (through rendered pixels) and
    the shipped model's figures were measured with it.
    """
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(R, dtype=np.float64).reshape(9))
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, quat, 1.0)
    return vel

# ---------------------------------------------------------------------------- FK / IK


@dataclass(frozen=True)
class IKResult:
    """q: (n,) joint positions; errors of the reached pose against the target."""

    q: np.ndarray
    pos_err_m: float
    rot_err_deg: float
    converged: bool
    iterations: int


class KinematicModel:
    """FK, Jacobians and IK of one embodiment's arm, on its own MjModel/MjData.

    Not thread-safe: each thread (or process) makes its own.
    """

    def __init__(self, embodiment: Embodiment) -> None:
        self.embodiment = embodiment
        self.model = mujoco.MjModel.from_xml_path(str(embodiment.model_path))
        self.data = mujoco.MjData(self.model)
        m = self.model
        try:
            self.site_id = m.site(embodiment.ee_site).id
            joint_ids = [m.joint(j).id for j in embodiment.joints]
        except KeyError as exc:
            raise ConfigError(str(embodiment.root / "embodiment.yaml"), "arm.joints",
                              f"names that exist in model.xml ({exc})") from exc
        self.qpos_adr = np.array([m.jnt_qposadr[j] for j in joint_ids])
        self.dof_adr = np.array([m.jnt_dofadr[j] for j in joint_ids])
        self.lower = embodiment.position_limits[:, 0].copy()
        self.upper = embodiment.position_limits[:, 1].copy()
        self.n = embodiment.n_joints
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._rng = np.random.default_rng(0)

    def _set(self, q: np.ndarray) -> None:
        self.data.qpos[self.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions (n,) -> tcp position (3,) m and rotation (3, 3), base frame."""
        self._set(np.asarray(q, dtype=np.float64))
        return (self.data.site_xpos[self.site_id].copy(),
                self.data.site_xmat[self.site_id].reshape(3, 3).copy())

    def fk_pose9(self, q: np.ndarray) -> np.ndarray:
        """Joint positions (n,) -> tcp pose (9,): translation (m) + 6-D rotation, base frame."""
        return pose9(*self.fk(q))

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """(6, n): rows 0-2 linear (m/rad), rows 3-5 angular (rad/rad), world frame."""
        self._set(np.asarray(q, dtype=np.float64))
        return self._jacobian_at_current()

    def _jacobian_at_current(self) -> np.ndarray:
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site_id)
        return np.vstack([self._jacp[:, self.dof_adr], self._jacr[:, self.dof_adr]])

    def ik(self, pos: np.ndarray, R: np.ndarray, q_init: np.ndarray, *,
           max_iters: int = 200, tol_pos: float = 1e-4, tol_rot_deg: float = 0.05,
           rot_weight: float = 1.0, restarts: int = 30) -> IKResult:
        """Damped least squares from ``q_init`` (n,) to the tcp pose: ``pos`` (3,) m and
        ``R`` (3, 3), base frame; the answer stays within the joint limits.

        The damping grows as the arm nears a singularity and shrinks when steps succeed;
        joints that sit on a limit and would be pushed past it are held while the others
        move. ``rot_weight`` < 1 trades orientation for position (5-DoF arms get position
        exactly and orientation as close as they can). When the first descent stalls away
        from the target, up to ``restarts`` descents from random joint positions follow
        (pass 0 when warm-starting from the current q in a control loop). Converged means
        within ``tol_pos`` (m) and ``tol_rot_deg`` (the latter only when rot_weight is 1).
        """
        pos = np.asarray(pos, dtype=np.float64)
        R = np.asarray(R, dtype=np.float64)
        best = self._descend(pos, R, np.clip(q_init, self.lower, self.upper), max_iters,
                             tol_pos, tol_rot_deg, rot_weight)
        for _ in range(restarts):
            if best.converged:
                break
            start = self._rng.uniform(self.lower, self.upper)
            trial = self._descend(pos, R, start, max_iters, tol_pos, tol_rot_deg, rot_weight)
            if _score(trial, rot_weight) < _score(best, rot_weight):
                best = trial
        if rot_weight < 1.0 and best.pos_err_m >= tol_pos:
            # Position first: from the compromise, a near-pure position descent takes
            # minimal-norm steps, so it closes the position gap and keeps what it can of
            # the orientation.
            polished = self._descend(pos, R, best.q, max_iters, tol_pos, tol_rot_deg, 1e-3)
            if polished.pos_err_m < best.pos_err_m:
                best = polished
        return best

    def _descend(self, pos: np.ndarray, R: np.ndarray, q: np.ndarray, max_iters: int,
                 tol_pos: float, tol_rot_deg: float, rot_weight: float) -> IKResult:
        q = q.astype(np.float64).copy()
        weights = np.array([1.0, 1.0, 1.0, rot_weight, rot_weight, rot_weight])
        damping = 1e-3
        err, pos_err, rot_err = self._error(q, pos, R)
        cost = float(np.sum((weights * err) ** 2))
        checkpoint = cost
        it = 0
        for it in range(1, max_iters + 1):
            if pos_err < tol_pos and (rot_err < tol_rot_deg or rot_weight < 1.0):
                return IKResult(q, pos_err, rot_err, True, it - 1)
            J = self._jacobian_at_current() * weights[:, None]
            dq = self._bounded_step(J, weights * err, q, damping)
            q_new = np.clip(q + dq, self.lower, self.upper)
            err_new, pos_new, rot_new = self._error(q_new, pos, R)
            cost_new = float(np.sum((weights * err_new) ** 2))
            if cost_new < cost:
                settled = cost_new > (1.0 - _SETTLED_GAIN) * cost
                q, err, pos_err, rot_err, cost = q_new, err_new, pos_new, rot_new, cost_new
                damping = max(damping * 0.3, 1e-6)
                if settled and damping <= 1e-5:
                    break  # a full Gauss-Newton step barely helps: a local optimum
            else:
                self._set(q)  # restore the state the next Jacobian is taken at
                damping *= 10.0
                if damping > 1e3:
                    break
            if it % _STALL_WINDOW == 0:
                if cost > _STALL_RATIO * checkpoint:
                    break  # crawling: better spent on a restart
                checkpoint = cost
        converged = pos_err < tol_pos and (rot_err < tol_rot_deg or rot_weight < 1.0)
        return IKResult(q, pos_err, rot_err, converged, it)

    def _bounded_step(self, J: np.ndarray, e: np.ndarray, q: np.ndarray,
                      damping: float) -> np.ndarray:
        """Damped least-squares step (n,) with joints that sit on a limit and would be pushed
        past it held fixed (an active set), so the other joints take up the motion instead
        of the step being clipped away."""
        free = np.ones(self.n, dtype=bool)
        dq = np.zeros(self.n)
        for _ in range(self.n):
            Jf = J[:, free]
            dq[:] = 0.0
            dq[free] = np.linalg.solve(Jf.T @ Jf + damping * np.eye(Jf.shape[1]), Jf.T @ e)
            blocked = free & (((q <= self.lower + 1e-9) & (dq < 0.0))
                              | ((q >= self.upper - 1e-9) & (dq > 0.0)))
            if not blocked.any() or blocked.sum() == free.sum():
                break
            free &= ~blocked
        return dq

    def _error(self, q: np.ndarray, pos: np.ndarray, R: np.ndarray
               ) -> tuple[np.ndarray, float, float]:
        cur_pos, cur_R = self.fk(q)
        dp = pos - cur_pos
        dr = _rotvec_via_mujoco(R @ cur_R.T)  # world-frame rotation still to go
        return (np.concatenate([dp, dr]), float(np.linalg.norm(dp)),
                float(np.degrees(np.linalg.norm(dr))))


# A descent whose cost falls by less than this factor over a window of iterations is stuck.
_STALL_WINDOW = 25
_STALL_RATIO = 0.9
# An undamped step that lowers the cost by less than this fraction has reached an optimum.
_SETTLED_GAIN = 1e-3


def _score(result: IKResult, rot_weight: float) -> float:
    return result.pos_err_m + rot_weight * np.radians(result.rot_err_deg) * 0.1


# ---------------------------------------------------------------------------- projector


class KinematicProjector:
    """Unified actions <-> joint targets for one embodiment.

    ``to_joint_targets`` returns (n + 1,): arm joint targets (rad or m) then the gripper
    command in [0, 1]. Arms with fewer than 6 joints solve position exactly and
    orientation as closely as they can.
    """

    def __init__(self, embodiment: Embodiment, *, max_iters: int = 50) -> None:
        self.embodiment = embodiment
        self.kin = KinematicModel(embodiment)
        self.max_iters = max_iters
        self.rot_weight = 1.0 if embodiment.n_joints >= 6 else 0.3

    def to_joint_targets(self, action: np.ndarray, q_current: np.ndarray,
                         representation: str = "absolute") -> np.ndarray:
        """action (10,) unified -> (n + 1,); ``delta`` is relative to the pose at q_current
        (translation added in the base frame, rotation applied on the left: R_delta @ R)."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (10,):
            raise ValueError(f"unified action must have shape (10,), got {action.shape}")
        q_current = np.asarray(q_current, dtype=np.float64)
        target_R = matrix_from_rot6d(action[3:9])
        if representation == "delta":
            cur_pos, cur_R = self.kin.fk(q_current)
            target_pos, target_R = cur_pos + action[:3], target_R @ cur_R
        elif representation == "absolute":
            target_pos = action[:3]
        else:
            raise ValueError(
                f"representation must be 'absolute' or 'delta', got {representation!r}")
        result = self.kin.ik(target_pos, target_R, q_current, max_iters=self.max_iters,
                             rot_weight=self.rot_weight, restarts=0)
        gripper = float(np.clip(action[9], 0.0, 1.0))
        return np.concatenate([result.q, [gripper]])

    def to_unified(self, q: np.ndarray, gripper: float) -> np.ndarray:
        """Joint positions (n,) and gripper in [0, 1] -> unified (10,)."""
        return np.concatenate([self.kin.fk_pose9(q), [float(gripper)]])


# ---------------------------------------------------------------------------- workspace guard

FK = Callable[[np.ndarray], np.ndarray]  # joints (n,) -> end-effector position (3,), m


def estimate_reach(fk: FK, low: np.ndarray, high: np.ndarray, samples: int = 512,
                   seed: int = 0, factor: float = 1.5, eps: float = 1e-4) -> np.ndarray:
    """Per-joint bound (n,) m/rad on the end-effector speed, from sampled finite differences
    over the joint box, times a safety ``factor``. Sampled, so not a proof: keep the factor."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(low, float), np.asarray(high, float)
    n = len(low)
    reach = np.zeros(n)
    for _ in range(samples):
        q = rng.uniform(low, high)
        p = np.asarray(fk(q), dtype=np.float64)
        for i in range(n):
            dq = q.copy()
            dq[i] += eps
            reach[i] = max(reach[i], np.linalg.norm(np.asarray(fk(dq)) - p) / eps)
    return reach * factor


def workspace_guard(embodiment: Embodiment) -> tuple[FK, np.ndarray]:
    """(fk, reach) for the workspace box of ``embodiment``: its tool position from the
    kinematic model of its MJCF, and :func:`estimate_reach` over its joint box (about 50 ms).

    The runtime's safety layer takes both as plain values (it imports no MuJoCo): pass
    ``reach`` to ``SafetyConfig.from_embodiment`` and ``fk`` to ``SafetyLayer``.
    """
    kin = KinematicModel(embodiment)

    def fk(q: np.ndarray) -> np.ndarray:
        return kin.fk(q)[0]

    lim = embodiment.position_limits
    return fk, estimate_reach(fk, lim[:, 0], lim[:, 1])
