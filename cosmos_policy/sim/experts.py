"""Scripted experts with privileged state: they read cube, plate and region positions from the
MuJoCo data and produce unified absolute ``ee_pose`` actions (10,) (or, for an env in
``joint`` mode, those actions projected to joint targets).

Each expert is a small phase machine; every phase names a target tcp position (m, base
frame), a yaw about world z (rad) relative to the embodiment's home tcp orientation, a gripper
command and a speed. A trapezoidal profile (speed and acceleration limits) moves the commanded
pose towards the target, so the waypoints are smooth and velocity-limited.

``act`` runs the machine on its own commands (demonstrations: the expert drives).
``label`` answers from the simulator state alone, whoever drove there (DAgger: a policy
drives, the expert labels): the commanded pose is read back from the env's last joint
targets, the profile's velocity from the tcp's, and the phase from where the tool, cube and
gripper are (``phase_from_state``), so a grasp the policy began, a miss or a drop each get
the expert's answer from that state. With ``ExpertConfig(feedback="state")`` a label starts
from the measured pose instead, at the speed the profile has at that distance (a function of
what a model sees: ``record --feedback state``, ``dagger --feedback state``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from cosmos_policy.errors import UnknownNameError
from cosmos_policy.geometry import matrix_from_rotvec
from cosmos_policy.sim.expert_config import (  # the settings, named here as before
    FEEDBACK,
    LABELS,
    TOLERANT,
    ExpertConfig,
    label_config,
)
from cosmos_policy.sim.scene import CUBE_HALF, PLATE_TOP, Scene

__all__ = ["EXPERTS", "FEEDBACK", "LABELS", "TOLERANT", "Expert", "ExpertConfig",
           "PickPlaceExpert", "PushExpert", "ReachExpert", "label_config", "make_expert"]


def _wrap_quarter(a: float) -> float:
    """Angle (rad) wrapped to [-pi/4, pi/4): a cube looks the same every quarter turn."""
    return float((a + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _finger_yaw(scene: Scene, data: Any = None) -> float:
    """Yaw (rad) of the gripper's closing direction in the pose of ``data`` (default: the
    scene's current one; world frame)."""
    m, d = scene.model, scene.data if data is None else data
    jnt = m.joint(scene.embodiment.gripper.joints[0]).id
    axis = d.xaxis[jnt]
    if m.jnt_type[jnt] != 2:  # hinge: the jaw tip moves across the axis and the approach
        axis = np.cross(axis, d.site_xmat[scene.tcp_site].reshape(3, 3)[:, 2])
    return float(np.arctan2(axis[1], axis[0]))


class Expert:
    """Base expert: ``reset()`` at each episode start, then ``act(obs)`` every step."""

    def __init__(self, env: gym.Env, config: ExpertConfig | None = None) -> None:
        self.env = env.unwrapped
        self.scene: Scene = self.env.scene
        self.cfg = config or ExpertConfig()
        self.dt = 1.0 / self.scene.embodiment.control_rate_hz
        self.reset()

    @property
    def color(self) -> str:
        return self.env.task.color

    def reset(self) -> None:
        self.phase = 0
        self.count = 0
        self.pos: np.ndarray | None = None  # commanded tcp position
        self.vel = np.zeros(3)
        self.yaw = 0.0
        self.arrive_tol = 1e-6  # commanded pose at a target: exactly, when the expert drives

    def _start(self) -> None:
        self.pos = self.scene.tcp_pos()
        self.vel = np.zeros(3)
        self.yaw = 0.0
        self.tilt = 0.0
        self.home_rot = self.scene.tcp_rot()
        self.finger_yaw = _wrap_quarter(_finger_yaw(self.scene))
        emb = self.scene.embodiment
        # heights scale down for arms whose home tcp sits low (small arms reach less high)
        self.carry_z = min(self.cfg.carry_z, float(self.pos[2]))
        self.hover = min(self.cfg.hover, float(self.pos[2]) - 0.02)
        self.kin = None
        if emb.n_joints < 6:  # fewer than 6 joints: top-down is not reachable everywhere
            from cosmos_policy.kinematics import KinematicModel

            self.kin = KinematicModel(emb)

    def plan(self) -> tuple[np.ndarray, float, float, float]:
        """(target position (3,), yaw, gripper in [0, 1], speed m/s) for this step."""
        raise NotImplementedError

    def phase_from_state(self) -> int:
        """The phase the simulator state is in (tool, cube, gripper), whatever drove there."""
        raise NotImplementedError

    def label(self, obs: dict[str, Any] | None = None) -> np.ndarray:
        """The expert's action from the current simulator state (see the module docstring):
        the same as :meth:`act` would give had the expert driven to this state itself."""
        if self.pos is None:
            self._start_at_home()
        self._resync()
        phase = self.phase_from_state()
        if phase != self.phase:
            self._next(phase)
        return self.act(obs)

    def _start_at_home(self) -> None:
        """:meth:`_start` for a state that may be mid-episode: the reference orientation,
        finger yaw and heights come from the embodiment's home pose, not from wherever the
        tool is."""
        import mujoco

        from cosmos_policy.kinematics import KinematicModel

        self._start()
        if getattr(self, "_fk", None) is None:  # compiling the MJCF costs; keep it per expert
            self._fk = KinematicModel(self.scene.embodiment)
        s = self.scene
        home = mujoco.MjData(s.model)  # scratch data: the scene's own state stays untouched
        home.qpos[:] = s.data.qpos
        home.qpos[s.arm_qadr] = s.embodiment.home
        mujoco.mj_kinematics(s.model, home)
        self.home_rot = home.site_xmat[s.tcp_site].reshape(3, 3).copy()
        self.finger_yaw = _wrap_quarter(_finger_yaw(s, home))
        z = float(home.site_xpos[s.tcp_site][2])
        self.carry_z = min(self.cfg.carry_z, z)
        self.hover = min(self.cfg.hover, z - 0.02)

    def _resync(self) -> None:
        """Commanded pose from the env's last joint targets (FK), velocity from the tcp's; with
        ``feedback="state"`` the pose from the measured joints (its speed then comes from the
        velocity field in :meth:`_move`)."""
        import mujoco

        s = self.scene
        state = self.cfg.feedback == "state"
        q = s.arm_q() if state else np.asarray(self.env._q_target)  # noqa: SLF001 - last command
        pos, rot = self._fk.fk(q)
        self.pos = np.asarray(pos, dtype=np.float64).copy()
        turn = np.asarray(rot) @ self.home_rot.T
        self.yaw = float(np.arctan2(turn[1, 0], turn[0, 0]))
        self.arrive_tol = 0.003  # a read-back pose never equals the target to the micrometre
        if state:
            self.vel = np.zeros(3)
            return
        vel = np.zeros(6)
        mujoco.mj_objectVelocity(s.model, s.data, mujoco.mjtObj.mjOBJ_SITE, s.tcp_site, vel, 0)
        v = vel[3:]
        speed = float(np.linalg.norm(v))
        self.vel = v * min(1.0, self.cfg.fast / speed) if speed > 1e-9 else np.zeros(3)

    def drive(self, obs: dict[str, Any] | None = None) -> np.ndarray:
        """The action the expert drives the env with: its own plan (:meth:`act`), or with
        ``feedback="state"`` its answer from the measured state (:meth:`label`)."""
        return self.label(obs) if self.cfg.feedback == "state" else self.act(obs)

    def act(self, obs: dict[str, Any] | None = None) -> np.ndarray:
        """The next action in the env's action space (privileged state; ``obs`` unused)."""
        if self.pos is None:
            self._start()
        target, yaw, grip, speed = self.plan()
        self.count += 1
        self._move(target, yaw, speed)
        rot = self._rotation()
        action = np.concatenate([self.pos, rot[:, 0], rot[:, 1], [grip]]).astype(np.float32)
        if self.env.action_mode == "joint":
            return self._to_joint(action)
        return action

    def _to_joint(self, action: np.ndarray) -> np.ndarray:
        from cosmos_policy.kinematics import KinematicProjector

        if getattr(self, "_projector", None) is None:
            self._projector = KinematicProjector(self.scene.embodiment)
        q = self.env._q_target  # noqa: SLF001 - warm start from the last joint target
        return np.asarray(self._projector.to_joint_targets(action, q, representation="absolute"),
                          dtype=np.float32)

    def _move(self, target: np.ndarray, yaw: float, speed: float) -> None:
        """Trapezoidal step of the commanded position towards ``target``; yaw rate-limited.
        With ``feedback="state"`` the speed is the profile's at this distance, whatever the
        last step's was (no acceleration limit on leaving a pose), and a height within
        ``state_hold_z`` of the target's is the target's."""
        err = target - self.pos
        dist = float(np.linalg.norm(err))
        v_des = min(speed, np.sqrt(2.0 * self.cfg.accel * dist)) * (err / dist if dist > 1e-9
                                                                    else 0.0)
        state = self.cfg.feedback == "state"
        hold_z = state and abs(float(err[2])) < self.cfg.state_hold_z
        if state:  # a velocity field of the pose: no memory of speed
            self.vel = v_des
        dv = v_des - self.vel
        dv_max = self.cfg.accel * self.dt
        if np.linalg.norm(dv) > dv_max:
            dv *= dv_max / np.linalg.norm(dv)
        self.vel = self.vel + dv
        step = self.vel * self.dt * (self.cfg.state_lead if state else 1.0)
        self.pos = target.copy() if np.linalg.norm(step) >= dist else self.pos + step
        if np.linalg.norm(step) >= dist:
            self.vel = np.zeros(3)
        if hold_z:  # the target's height, exactly: a contact presses as the plan's command does
            self.pos[2] = target[2]
        dyaw = float(np.clip(yaw - self.yaw, -self.cfg.yaw_rate * self.dt,
                             self.cfg.yaw_rate * self.dt))
        self.yaw += dyaw

    def _rotation(self) -> np.ndarray:
        """Commanded tcp rotation: home, turned by ``yaw`` about world z, then tilted outwards
        (about the horizontal axis across the base-to-tcp line) where the arm cannot reach the
        commanded position pointing straight down; the tilt is rate-limited."""
        radial = np.array([self.pos[0], self.pos[1], 0.0])
        radial /= max(np.linalg.norm(radial), 1e-9)
        axis = np.cross(radial, [0.0, 0.0, 1.0])  # tilting about it swings the tool outwards
        base = _rot_z(self.yaw) @ self.home_rot
        want = 0.0
        if self.kin is not None:
            q = self.env._q_target  # noqa: SLF001 - warm start from the last joint target
            for tilt in np.radians([0.0, 15.0, 30.0, 45.0, 60.0]):
                rot = matrix_from_rotvec(np.asarray(axis) * tilt) @ base
                res = self.kin.ik(self.pos, rot, q, max_iters=30, rot_weight=0.3, restarts=0)
                want = float(tilt)
                if res.pos_err_m < 0.003:
                    break
        step = self.cfg.yaw_rate * self.dt
        self.tilt += float(np.clip(want - self.tilt, -step, step))
        return matrix_from_rotvec(np.asarray(axis) * self.tilt) @ base

    def _arrived(self, target: np.ndarray, tol: float | None = None) -> bool:
        tol = self.cfg.tol if tol is None else tol
        return (np.linalg.norm(self.pos - target) < self.arrive_tol
                and np.linalg.norm(self.scene.tcp_pos() - target) < tol)

    def _next(self, phase: int | None = None) -> None:
        self.phase = self.phase + 1 if phase is None else phase
        self.count = 0

    def _cube_yaw(self) -> float:
        r = self.scene.cube_rot(self.color)
        return _wrap_quarter(float(np.arctan2(r[1, 0], r[0, 0])) - self.finger_yaw)


class ReachExpert(Expert):
    """Above the named cube, then down to its centre, gripper open."""

    def plan(self) -> tuple[np.ndarray, float, float, float]:
        cube = self.scene.cube_pos(self.color)
        above = cube + [0.0, 0.0, self.hover]
        if self.phase == 0:
            if self._arrived(above, 0.03):
                self._next()
            return above, self._cube_yaw(), 0.0, self.cfg.fast
        return cube + [0.0, 0.0, 0.005], self._cube_yaw(), 0.0, self.cfg.slow

    def phase_from_state(self) -> int:
        cube, tcp = self.scene.cube_pos(self.color), self.scene.tcp_pos()
        # above the cube (as close as phase 0 counts as arrived): descend; else go above it
        return int(np.linalg.norm(tcp[:2] - cube[:2]) < 0.03)


class PushExpert(Expert):
    """Behind the cube (away from the region), down, push along the line; re-align on drift.

    With ``push_over_cube`` the way to the push start passes above the cube and then backs
    off along the line (an experiment: a policy trained on such demonstrations, stage 9 in
    docs/results/DEFAULT_MODEL_NOTEBOOK.md, hovered above the cube instead and pushed less).
    It pushes on to the region's centre (``push_home``), not to the edge of the success
    distance, and then holds still: demonstrations recorded with ``hold_steps`` show where
    pushing ends, so a policy that imitates them does not stop at the boundary of success.
    """

    def plan(self) -> tuple[np.ndarray, float, float, float]:
        c = self.cfg
        cube = self.scene.cube_pos(self.color)
        goal = self.scene.region_pos()
        d = goal[:2] - cube[:2]
        dist = float(np.linalg.norm(d))
        d /= max(dist, 1e-9)
        if self.phase == 0 and not c.push_over_cube:
            self._next()
        if self.phase == 3:  # done at the centre, or once the cube has passed its closest
            self.closest = min(self.closest, dist)  # set in the phases before
            if dist < c.push_home or (dist < c.push_near and dist > self.closest + 0.002):
                self._next(4)
                self.hold = self.pos.copy()
        else:
            self.closest = dist
        if self.phase == 4:
            return self.hold, 0.0, 1.0, c.slow  # done: stay where the push ended
        d3 = np.array([d[0], d[1], 0.0])
        behind = np.array([*(cube[:2] - d * c.push_back), c.push_z])
        high = np.array([0.0, 0.0, 0.08])
        if self.phase == 0:  # above the cube
            target = np.array([*cube[:2], c.push_z]) + high
            if self._arrived(target, 0.02):
                self._next()
            return target, 0.0, 1.0, c.fast
        if self.phase == 1:  # above the start point
            target = behind + high
            if self._arrived(target, 0.015 if c.push_over_cube else 0.02):
                self._next()
            return target, 0.0, 1.0, c.slow if c.push_over_cube else c.fast
        if self.phase == 2:  # lower behind the cube
            if self._arrived(behind, 0.008) or self.count > 25:
                self._next()
            return behind, 0.0, 1.0, c.slow
        if self.phase == 3:  # push: a point ahead of contact, along the current line
            rel = self.scene.tcp_pos()[:2] - cube[:2]
            along = float(rel @ d)
            lateral = float(np.linalg.norm(rel - along * d))
            if lateral > c.push_lateral or along > -CUBE_HALF:
                self._next(5)
            contact = cube - d3 * (CUBE_HALF + 0.012)
            target = np.array([*(contact[:2] + d * 0.03), c.push_z])
            return target, 0.0, 1.0, c.slow * float(np.clip(dist / c.push_near, 0.4, 1.0))
        # phase 5: re-align; lift, then back above the start point
        lift = np.array([*self.scene.tcp_pos()[:2], c.push_z + 0.08])
        if self._arrived(lift, 0.02):
            self._next(1)
        return lift, 0.0, 1.0, c.slow

    def phase_from_state(self) -> int:
        """Hold at the centre; push when low behind the cube on its line to the region;
        lower when above that start; lift when low anywhere else (never sweep through the
        cube); otherwise go above the start. (``push_over_cube``'s phase 0 is not re-entered.)"""
        c = self.cfg
        cube, tcp = self.scene.cube_pos(self.color), self.scene.tcp_pos()
        d = self.scene.region_pos()[:2] - cube[:2]
        dist = float(np.linalg.norm(d))
        d /= max(dist, 1e-9)
        if dist < c.push_home or (self.phase == 4 and dist < c.push_near):
            if self.phase != 4:
                self.hold = self.pos.copy()
            return 4
        rel = tcp[:2] - cube[:2]
        along = float(rel @ d)
        lateral = float(np.linalg.norm(rel - along * d))
        behind = cube[:2] - d * c.push_back
        on_line = lateral < c.label_push_lateral and -(c.push_back + 0.02) < along < -CUBE_HALF
        if on_line and tcp[2] < c.push_z + 0.012:
            if self.phase != 3:  # a push begun here: the closest approach starts now
                self.closest = dist
            return 3
        if float(np.linalg.norm(tcp[:2] - behind)) < 0.02 and tcp[2] < c.push_z + 0.1:
            return 2
        if tcp[2] < c.push_z + 0.05:
            return 5
        return 1


class PickPlaceExpert(Expert):
    """Above the cube, descend, close, lift, above the plate, lower, open, retreat."""

    def plan(self) -> tuple[np.ndarray, float, float, float]:
        c, s = self.cfg, self.scene
        cube = s.cube_pos(self.color)
        plate = s.plate_pos()
        if self.phase == 0:  # above the cube, yaw aligned with its faces
            target = cube + [0.0, 0.0, self.hover]
            if self._arrived(target, 0.015) and abs(self.yaw - self._cube_yaw()) < 0.02:
                self._next()
            return target, self._cube_yaw(), 0.0, c.fast
        if self.phase == 1:  # descend around it
            target = cube + [0.0, 0.0, 0.0]
            if self._arrived(target, 0.008) or self.count > 25:
                self._next()
            return target, self.yaw, 0.0, c.slow
        if self.phase == 2:  # close
            if self.count >= 6:
                self.grasp_dz = float(s.tcp_pos()[2] - cube[2])
                self._next()
            return self.pos, self.yaw, 1.0, c.slow
        lifted = cube[2] > CUBE_HALF + 0.01
        if self.phase in (3, 4) and self.count > 8 and not lifted:
            self._next(0)  # dropped it: start over
            return self.pos, self.yaw, 0.0, c.slow
        if self.phase == 3:  # lift
            target = np.array([*self.pos[:2], self.carry_z])
            if self._arrived(target, 0.02):
                self._next()
            return target, self.yaw, 1.0, c.fast
        if self.phase == 4:  # above the plate
            target = np.array([plate[0], plate[1], self.carry_z])
            if self._arrived(target, 0.01):
                self._next()
            return target, self.yaw, 1.0, c.fast
        if self.phase == 5:  # lower onto it
            z = PLATE_TOP + CUBE_HALF + self.grasp_dz + 0.004
            target = np.array([plate[0], plate[1], z])
            if self._arrived(target, 0.008) or self.count > 25:
                self._next()
            return target, self.yaw, 1.0, c.slow
        if self.phase == 6:  # open
            if self.count >= 4:
                self._next()
            return self.pos, self.yaw, 0.0, c.slow
        target = np.array([*self.pos[:2], self.carry_z])  # retreat
        return target, self.yaw, 0.0, c.slow

    def phase_from_state(self) -> int:
        """Retreat once the cube rests on the plate released; carry, lower or open while it is
        held; lift once it is gripped; close around it; descend when aligned above it;
        otherwise (a miss, a drop, the start) go above it with the gripper open."""
        s = self.scene
        cube, tcp, plate = s.cube_pos(self.color), s.tcp_pos(), s.plate_pos()
        # the gripper's last command (its actuator's target), not its opening: a jaw closed on
        # the cube stops wide open on some grippers
        ctrl = float(s.data.ctrl[s.grip_act])
        closed = abs(ctrl - s.gripper_position(1.0)) < abs(ctrl - s.gripper_position(0.0))
        near = float(np.linalg.norm(tcp - cube)) < 0.03
        on_plate = (float(np.linalg.norm(cube[:2] - plate[:2])) < 0.05
                    and cube[2] < PLATE_TOP + CUBE_HALF + 0.015)
        if on_plate and (self.phase in (6, 7) or not closed):
            return 7 if not closed or self.phase == 7 else 6
        if on_plate and near and closed:  # set down, still gripped: open
            return 6
        lifted = cube[2] > CUBE_HALF + 0.01
        if near and closed and lifted:
            self.grasp_dz = float(tcp[2] - cube[2])
            over_plate = float(np.linalg.norm(tcp[:2] - plate[:2])) < 0.015
            if over_plate:
                return 5
            return 3 if tcp[2] < self.carry_z - 0.02 and self.phase != 4 else 4
        xy = float(np.linalg.norm(tcp[:2] - cube[:2]))
        c = self.cfg
        if xy < c.label_grasp_xy and abs(tcp[2] - cube[2]) < 0.012:  # around it: close, lift
            if self.phase == 2 or not closed:
                return 2
            self.grasp_dz = float(tcp[2] - cube[2])
            return 3
        aligned = abs(self.yaw - self._cube_yaw()) < c.label_descend_yaw
        if (xy < c.label_descend_xy and cube[2] < tcp[2] < cube[2] + self.hover + 0.02 and aligned
                and not closed):
            return 1
        return 0


# task name -> expert class
EXPERTS: dict[str, type[Expert]] = {
    "reach": ReachExpert, "push": PushExpert, "pick_place": PickPlaceExpert,
}


def make_expert(env: gym.Env, config: ExpertConfig | None = None) -> Expert:
    """The scripted expert for a tabletop env made by :func:`cosmos_policy.sim.make_env`."""
    task = env.unwrapped.task_name
    if task not in EXPERTS:
        raise UnknownNameError("expert task", task, list(EXPERTS))
    return EXPERTS[task](env, config)
