"""A MuJoCo robot on ROS 2's wire: the tabletop env as a ros2_control robot would appear,
over bare DDS (``transport="dds"``) or as an rclpy node (``"ros"``), see ``robot_wire``.

It publishes each camera as ``sensor_msgs/Image`` (rgb8) at ``camera_rate_hz`` and
``/joint_states`` at ``joint_state_rate_hz``, stamped with system time; it obeys
``/<controller>/joint_trajectory`` (the last point, reached at its ``time_from_start`` by a
linear ramp, as joint_trajectory_controller would) and ``/<controller>/commands``
(``Float64MultiArray``, position targets at once, as forward_command_controller would), and
``/<gripper_controller>/commands`` (one value: the gripper joint's position). Targets go to
the position actuators, clipped to the joint limits; a command with unknown joints, the
wrong length or NaN is refused and logged. Per episode it resets the scene, publishes the
task prompt on ``/cosmos_policy/prompt`` (latched), calls the policy's ``~/reset`` and waits
for the reply (over bare DDS re-asking every 0.5 s; up to ``reset_timeout_s``); commands that
came before the reply belong to the previous episode's plan and are dropped, and the episode's
clock starts at the reply. At the end it reports ``{"episode", "seed", "success", "steps",
"time_s", ...}`` (with the task's error at the end and at its smallest, the named cube and
the cube the tool ended nearest, ``first_command_s``: how long after the episode began the
first command came, ``gripper_commands`` and ``policy_reset``: whether the policy answered)
as JSON on ``/sim_robot/episode`` (``std_msgs/String``) and in its log.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass

import mujoco
import numpy as np

from cosmos_policy.sim.env import make_env
from cosmos_policy.sim.robot_wire import EPISODE_TOPIC, DdsRobotWire, RobotWire

log = logging.getLogger("cosmos_policy.sim_robot")

TRANSPORTS = ("dds", "ros")
MAX_CATCH_UP = 20  # physics steps run at once to catch up with real time


@dataclass(frozen=True)
class SimRobotConfig:
    """task/embodiment: the tabletop scene. episodes: how many (0: forever).
    physics_rate_hz: how often targets are applied and physics advanced (real time).
    transport: ``dds`` (bare cyclonedds) or ``ros`` (an rclpy node named ``sim_robot``).
    """

    task: str = "reach"
    embodiment: str = "franka"
    domain_id: int = 0
    seed: int = 0
    episodes: int = 1
    controller: str = "joint_trajectory_controller"
    gripper_controller: str = "gripper_controller"
    joint_state_rate_hz: float = 100.0
    camera_rate_hz: float = 15.0
    physics_rate_hz: float = 100.0
    policy_node: str = "/cosmos_policy"
    max_episode_s: float | None = None
    reset_timeout_s: float = 5.0
    dds_config: str | None = None
    transport: str = "dds"
    record: str | None = None  # an MCAP file of what the wire sends and takes (docs/VIZ.md)
    rerun: str | None = None  # a Rerun recording of frames, joints and commands
    rerun_connect: str | None = None  # a running Rerun viewer's address

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport {self.transport!r}; expected one of {TRANSPORTS}")


def make_wire(cfg: SimRobotConfig, emb: object) -> RobotWire:
    """The robot's endpoints on the configured transport."""
    if cfg.transport == "ros":
        from cosmos_policy.transport.ros_robot import RosRobotWire

        return RosRobotWire(emb, cfg.domain_id, cfg.controller, cfg.gripper_controller,
                            cfg.policy_node, EPISODE_TOPIC)
    return DdsRobotWire(emb, cfg.domain_id, cfg.controller, cfg.gripper_controller,
                        cfg.policy_node, cfg.dds_config)


class SimRobot:
    """Runs episodes in real time; thread-safe command callbacks."""

    def __init__(self, config: SimRobotConfig) -> None:
        self.config = cfg = config
        self.env = make_env(cfg.task, cfg.embodiment, action_mode="joint")
        self.emb = self.env.embodiment
        self.scene = self.env.scene
        self.wire = make_wire(cfg, self.emb)
        if cfg.record is not None:
            from cosmos_policy.viz.mcap_record import McapRecorder, RecordingRobotWire

            self.wire = RecordingRobotWire(
                self.wire, McapRecorder(cfg.record), self.emb, controller=cfg.controller,
                gripper_controller=cfg.gripper_controller, policy_node=cfg.policy_node,
                episode_topic=EPISODE_TOPIC)
        if cfg.rerun is not None or cfg.rerun_connect is not None:
            from cosmos_policy.viz.rerun_log import RerunRecorder, RerunRobotWire

            grip = self.emb.gripper.joints[0] if self.emb.gripper.joints else "gripper"
            self.wire = RerunRobotWire(self.wire, RerunRecorder(
                f"sim-robot-{cfg.task}-{self.emb.name}", [*self.emb.joints, grip],
                path=cfg.rerun, connect=cfg.rerun_connect, name=f"sim-robot {cfg.task}"),
                self.emb.joints, grip)
        self._index = {j: i for i, j in enumerate(self.emb.joints)}
        self._lock = threading.Lock()
        self._ramp: tuple[np.ndarray, np.ndarray, float, float] | None = None
        self._first_command: float | None = None  # monotonic time, this episode
        self.commands = 0
        self.gripper_commands = 0
        self._reset_seq = 0
        self.refused: dict[str, int] = {}
        self.results: list[dict] = []
        self._stop = threading.Event()
        self._last_log = 0.0
        self._q_ref: np.ndarray | None = None  # the arm where the episode began
        self._target_offset = 0.0  # the farthest command from it (rad)
        m = self.scene.model
        self._substeps = max(1, round(1.0 / (cfg.physics_rate_hz * m.opt.timestep)))

    # ------------------------------------------------------------------ commands
    def _refuse(self, reason: str, detail: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last_log > 5.0:
            self._last_log = now
            log.warning("refused command (%s): %s", reason, detail)

    def _target(self, names: list[str], values: list[float]) -> np.ndarray | None:
        q = np.asarray(values, dtype=np.float64)
        if len(names) != len(q) or len(set(names)) != len(names):
            self._refuse("bad_size", f"{len(q)} values for joints {names}")
            return None
        unknown = [n for n in names if n not in self._index]
        if unknown:
            self._refuse("unknown_joint", f"{unknown}")
            return None
        if not np.all(np.isfinite(q)):
            self._refuse("non_finite", "NaN or inf")
            return None
        target = self.scene.data.ctrl[self.scene.arm_act].copy()
        target[[self._index[n] for n in names]] = q
        lim = self.emb.position_limits
        return np.clip(target, lim[:, 0], lim[:, 1])

    def _poll_commands(self, now: float, t_next: float) -> None:
        """Take the commands that arrived; a new target ramps from the next physics step
        (``t_next``, the loop's physics clock), so it always takes effect: ramps that began
        at ``now`` lay after every step the loop was about to run, and a command arriving
        every loop pass (the server's 100 Hz) was replaced before it moved the arm at all."""
        for command in self.wire.take(16):
            kind = command[0]
            if kind == "trajectory":
                _, names, positions, time_from_start = command
                target = self._target(names, positions)
                if target is not None:
                    self._note_target(target)
                    start = self.scene.data.ctrl[self.scene.arm_act].copy()
                    self._ramp = (start, target, t_next, max(time_from_start, 1e-3))
                    self._accepted(now)
            elif kind == "forward":
                values, n = command[1], self.emb.n_joints
                if len(values) != n:
                    self._refuse("bad_size", f"{len(values)} values, {n} joints")
                    continue
                target = self._target(list(self.emb.joints), values)
                if target is not None:
                    self._note_target(target)
                    self._ramp = (target, target, t_next, 1e-3)
                    self._accepted(now)
            elif kind == "gripper":
                self._gripper(list(command[1]))

    def _gripper(self, values: list[float]) -> None:
        """A gripper joint position (m or rad) -> the gripper actuator, clipped to its range."""
        if len(values) != 1:
            self._refuse("bad_size", f"{len(values)} values for the gripper, expected 1")
            return
        if not np.isfinite(values[0]):
            self._refuse("non_finite", "NaN or inf gripper")
            return
        g = self.emb.gripper
        self.scene.data.ctrl[self.scene.grip_act] = g.position(g.opening(values[0]))
        self.gripper_commands += 1

    def _note_target(self, target: np.ndarray) -> None:
        """How far the commands of this episode asked the arm to go from where it began."""
        if self._q_ref is not None:
            self._target_offset = max(self._target_offset,
                                      float(np.abs(target - self._q_ref).max()))

    def _accepted(self, now: float) -> None:
        self.commands += 1
        if self._first_command is None:
            self._first_command = now

    def _apply(self, now: float) -> None:
        if self._ramp is None:
            return
        start, target, t0, dur = self._ramp
        a = min(1.0, max(0.0, (now - t0) / dur))
        self.scene.data.ctrl[self.scene.arm_act] = start + (target - start) * a

    # ------------------------------------------------------------------ publishing
    def _publish_joints(self, stamp: float) -> None:
        s, g = self.scene, self.emb.gripper
        names = list(self.emb.joints) + [g.joints[0]]
        grip = float(s.data.qpos[s.grip_qadr])
        self.wire.publish_joints(names, list(s.arm_q()) + [grip], list(s.arm_qvel()) + [0.0],
                                 stamp)

    def _publish_images(self, stamp: float) -> None:
        self.wire.publish_images(self.scene.render(), stamp)

    # ------------------------------------------------------------------ episodes
    def _reset_policy(self, seq: int) -> bool:
        """Call the policy's ``~/reset`` and wait for its reply; True when it answered."""
        deadline = time.monotonic() + self.config.reset_timeout_s
        asked = -math.inf
        while time.monotonic() < deadline and not self._stop.is_set():
            now = time.monotonic()
            if now - asked > 0.5:  # a request sent before the server matched us is lost
                self.wire.request_reset(seq)
                asked = now
            answer = self.wire.reset_reply(seq)
            if answer is not None:
                return answer
            time.sleep(0.005)
        log.warning("the policy did not answer ~/reset within %.1f s", self.config.reset_timeout_s)
        return False

    def run_episode(self, index: int) -> dict:
        """One episode in real time: reset, prompt, obey commands until success or time."""
        cfg = self.config
        seed = cfg.seed + index
        obs, _ = self.env.reset(seed=seed)
        self._ramp = self._first_command = None
        self.wire.publish_prompt(obs["prompt"])
        self._reset_seq += 1
        policy_reset = self._reset_policy(self._reset_seq)
        # Until the reply, the policy still ran the previous episode's plan: those commands
        # would pull the arm back to where that episode ended.
        self.wire.take(1024)
        limit = cfg.max_episode_s or self.env.max_episode_steps / self.emb.control_rate_hz
        period = 1.0 / cfg.physics_rate_hz
        cam_period, js_period = 1.0 / cfg.camera_rate_hz, 1.0 / cfg.joint_state_rate_hz
        start = time.monotonic()
        k, success, late = 0, False, 0
        next_cam = next_js = start
        q_start, moved, commands0 = self.scene.arm_q(), 0.0, self.commands
        self._q_ref, self._target_offset = q_start.copy(), 0.0
        grip0 = self.gripper_commands
        task = self.env.task
        closest = task.distance(self.scene)
        # Physics, joint states and cameras each keep their own wall-clock schedule, so a
        # slow render (a loaded machine) lowers only the frame rate it must, never the rate
        # of the others, and simulated time keeps up with real time.
        while not self._stop.is_set():
            now = time.monotonic()
            if now - start > limit:
                break
            self._poll_commands(now, start + k * period)
            due = int((now - start) / period) + 1  # physics steps that should have run
            if due - k > MAX_CATCH_UP:
                late += due - k - MAX_CATCH_UP
                k = due - MAX_CATCH_UP  # too far behind: give up on those steps
            while k < due:
                self._apply(start + (k + 1) * period)  # the target at the step's end
                for _ in range(self._substeps):
                    mujoco.mj_step(self.scene.model, self.scene.data)
                k += 1
            stamp = time.time()
            if now >= next_js:
                self._publish_joints(stamp)
                next_js = max(next_js + js_period, now)
            if now >= next_cam:
                self._publish_images(stamp)
                next_cam = max(next_cam + cam_period, now)
            moved = max(moved, float(np.abs(self.scene.arm_q() - q_start).max()))
            closest = min(closest, task.distance(self.scene))
            if task.success(self.scene):
                success = True
                break
            wake = min(start + k * period, next_js, next_cam)
            delay = wake - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if late:
            log.warning("episode %d: %d physics steps skipped (the machine could not keep "
                        "real time)", index, late)
        result = {"episode": index, "seed": seed, "success": success, "steps": k,
                  "skipped_steps": late,
                  "time_s": round(time.monotonic() - start, 3),
                  "commands": self.commands - commands0,
                  "gripper_commands": self.gripper_commands - grip0,
                  "first_command_s": (None if self._first_command is None
                                      else round(self._first_command - start, 3)),
                  "policy_reset": policy_reset,
                  "max_joint_motion_rad": round(moved, 4),
                  "max_target_offset_rad": round(self._target_offset, 4),
                  "final_distance_m": round(task.distance(self.scene), 4),
                  "min_distance_m": round(closest, 4),
                  "target_cube": task.color, "nearest_cube": task.nearest_cube(self.scene),
                  "prompt": obs["prompt"]}
        self.wire.publish_episode(json.dumps(result))
        log.info("episode %s", json.dumps(result))
        self.results.append(result)
        return result

    def run(self) -> list[dict]:
        """Run ``episodes`` episodes (0: until :meth:`stop`)."""
        i = 0
        while not self._stop.is_set() and (self.config.episodes == 0
                                           or i < self.config.episodes):
            self.run_episode(i)
            i += 1
        return self.results

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.env.close()
        self.wire.close()


__all__ = ["EPISODE_TOPIC", "TRANSPORTS", "SimRobot", "SimRobotConfig", "make_wire"]
