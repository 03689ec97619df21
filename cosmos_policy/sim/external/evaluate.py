"""External suites (Fetch, robosuite) through the same runtime and report as the tabletop.

``cosmos-policy eval --task robosuite/Lift`` (or ``fetch/Push`` ...) runs here. The adapters
take the unified *absolute* end-effector action (position, 6-D rotation, gripper) and move the
arm with the suite's own controller, so the runtime runs in Cartesian space: its "joint"
vector is the unified pose itself (:func:`cartesian_embodiment`). Every command still passes
:class:`~cosmos_policy.runtime.ObservationSync`, lockstep inference, chunk scheduling and
blending, the watchdog and the :class:`~cosmos_policy.runtime.SafetyLayer`, which here bounds
the end effector's position to a box above the table, its speed, acceleration and jerk
(Franka Panda Cartesian limits), and the rotation's rate of change.
One command per suite step: the suites step at their control rate (robosuite 20 Hz, Fetch 25).

Models: ``oracle`` (the suite's scripted expert, privileged state, as a chunking model). No
model here is trained on these suites or their (Cartesian) observation state.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Camera, Embodiment, Gripper
from cosmos_policy.errors import UserError
from cosmos_policy.runtime import (
    LockstepInference,
    ManualClock,
    SyncConfig,
    Telemetry,
    build_loop,
)
from cosmos_policy.sim.evaluate import CommandLog, EpisodeRun, EvalConfig
from cosmos_policy.spec import ActionChunk, Observation

POSE_JOINTS = ("x", "y", "z", "r11", "r21", "r31", "r12", "r22", "r32")
# Franka Panda Cartesian limits (translation m/s, m/s^2, m/s^3; rotation rad/s...): the
# rotation's 6-D entries change no faster than its angular velocity.
TRANSLATION_LIMITS = (1.7, 13.0, 6500.0)
ROTATION_LIMITS = (2.5, 25.0, 12500.0)

# suite -> (embodiment names accepted for its robot, tool box low, high (m, base frame)): the
# position limits of x, y, z, so the safety layer keeps the tool in it. The floors sit at the
# table top: the grip site may touch it, not go through it.
ROBOTS: dict[str, tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]] = {
    "robosuite": (("franka", "panda"), (0.25, -0.4, -0.11), (0.85, 0.4, 0.5)),
    "fetch": (("fetch",), (0.3, -0.5, 0.40), (1.1, 0.5, 0.9)),
}


def is_external(task: str) -> bool:
    """Whether ``task`` names an external suite's task (``suite/Name``)."""
    from cosmos_policy.sim.external import EXTERNAL_TASKS

    return task in EXTERNAL_TASKS


def cartesian_embodiment(task: str, embodiment: str, image_size: int = 128) -> Embodiment:
    """The runtime's view of an external task's robot: the unified pose (9,) as its "joints".

    embodiment: the robot named on the command line; must be the suite's robot.
    """
    from cosmos_policy.sim.external import EXTERNAL_TASKS

    spec = EXTERNAL_TASKS[task]
    names, low, high = ROBOTS[spec.suite]
    if embodiment not in names:
        raise UserError(f"{task} runs the {spec.suite} robot; pass --embodiment {names[0]}")
    rate = 20.0 if spec.suite == "robosuite" else 25.0
    pos_lim = np.array([*zip(low, high, strict=True)] + [(-1.05, 1.05)] * 6)
    vel, acc, jerk = (np.array([t] * 3 + [r] * 6) for t, r in
                      zip(TRANSLATION_LIMITS, ROTATION_LIMITS, strict=True))
    cameras = tuple(Camera(c, c, image_size, image_size, 45.0, f"/{c}/image")
                    for c in spec.default_cameras)
    return Embodiment(
        name=names[0], description=f"{spec.suite} {names[0]}, unified pose (Cartesian)",
        root=Path("."), robot_type=spec.suite, joints=POSE_JOINTS, actuators=POSE_JOINTS,
        position_limits=pos_lim, velocity_limits=vel, acceleration_limits=acc,
        jerk_limits=jerk, effort_limits=np.ones(9), home=np.zeros(9), ee_site="grip",
        base_body="base", gripper=Gripper(("gripper",), "gripper", 0.0, 1.0), cameras=cameras,
        control_rate_hz=rate, command_rate_hz=rate, action_type="joint",
        action_representation="absolute", workspace_low=np.array(low),
        workspace_high=np.array(high), task_area_center=np.zeros(2),
        task_area_half_extent=np.ones(2), cosmos3_domain=None, cosmos3_viewpoint=None)


class ExternalOracle:
    """A suite's scripted expert as a world-action model (policy mode only).

    Each call advances the expert one step on the live (privileged) scene; the rest of the
    chunk is its plan if the arm reached each target (objects held still), not committed, so
    chunks overlap as a model's do and the runtime's blending and safety decide what runs.
    """

    def __init__(self, env: Any, dt: float, chunk: int = 8) -> None:
        from cosmos_policy.sim.external import make_external_expert

        self.expert, self.dt, self.chunk = make_external_expert(env), dt, chunk

    def reset(self) -> None:
        self.expert.reset()

    def policy(self, obs: Observation) -> ActionChunk:
        e, seen = self.expert, {"ee_pose": obs.state[:9]}
        actions = [np.asarray(e.act(seen), np.float32)]
        sim, priv = e.env, e.env.privileged()
        saved = (e.phase, e.steps_in_phase, copy.deepcopy(e.memory))
        try:
            for _ in range(self.chunk - 1):
                priv = {**priv, "grip": actions[-1][:3].astype(np.float64)}
                sim.privileged = lambda p=priv: p  # the expert reads the scene through it
                actions.append(np.asarray(e.act(seen), np.float32))
        finally:
            del sim.privileged  # the adapter's own method again
            e.phase, e.steps_in_phase, e.memory = saved
        return ActionChunk(np.stack(actions), obs.timestamp, self.dt)

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError("the oracle only acts")

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the oracle only acts")


class ExternalEvaluator:
    """:class:`~cosmos_policy.sim.evaluate.Evaluator` for an external task: same episodes,
    same :class:`EpisodeRun`, so the same runner and report."""

    def __init__(self, config: EvalConfig) -> None:
        from cosmos_policy.sim.eval_models import TimedModel
        from cosmos_policy.sim.external import make_external_env

        if config.model != "oracle":
            raise UserError(f"{config.task}: only --model oracle runs external tasks (no model "
                            "is trained on them)")
        if not config.lockstep:
            raise UserError(f"{config.task}: external suites run in --lockstep only")
        self.config = cfg = config
        self.emb = cartesian_embodiment(cfg.task, cfg.embodiment, cfg.image_size)
        self.env = make_external_env(cfg.task, image_size=cfg.image_size)
        self.dt = 1.0 / self.emb.command_rate_hz
        self.model = TimedModel(ExternalOracle(self.env, self.dt))

    def close(self) -> None:
        self.env.close()

    def run_episode(self, seed: int, record: bool = False) -> EpisodeRun:
        """Reset with ``seed`` and run until the suite reports success or the step limit."""
        cfg, env, emb = self.config, self.env, self.emb
        obs, info = env.reset(seed=seed)
        self.model.reset()
        clock, telemetry = ManualClock(0.0), Telemetry(window=1_000_000)
        hw = env.unwrapped.hw
        runner = LockstepInference(self.model, cfg.lockstep_latency_s, telemetry)
        loop = build_loop(emb, clock=clock, telemetry=telemetry, inference=runner,
                          sync=SyncConfig(cameras=tuple(env.unwrapped.cameras), image_size=hw),
                          blending=cfg.blending)
        loop.sync.set_prompt(obs["prompt"])
        log = CommandLog()
        loop.subscribe(log.add)
        max_steps = int(cfg.max_steps or env.unwrapped.max_episode_steps)
        frames, frame_times = [], []
        success, steps = bool(info["is_success"]), 0
        wall0 = time.perf_counter()
        try:
            for k in range(max_steps):
                if success:
                    break
                now = k * self.dt
                clock.set(now)
                for cam, img in obs["images"].items():
                    loop.sync.push_image(cam, img, now)
                if record:
                    frames.append(_side_by_side(obs["images"]))
                    frame_times.append(now)
                pose = np.append(obs["ee_pose"], obs["state"][-1]).astype(np.float32)
                loop.sync.push_state(pose, now)
                # The suite step moves the arm toward the target over the next period: ask
                # the plan for where it wants the arm when the step ends.
                end = (k + 1) * self.dt
                clock.set(end)
                cmd = loop.tick(end)
                if cmd is None:  # cannot happen: a state was pushed before the tick
                    raise RuntimeError("the control loop sent no command")
                obs, _, terminated, truncated, info = env.step(cmd.positions)
                log.actual.append(np.asarray(obs["ee_pose"], np.float64))
                steps += 1
                success = bool(info["is_success"])
                if terminated or truncated:
                    break
        finally:
            loop.inference.close()
        for lat in self.model.latencies:
            telemetry.record("model_wall", lat)
        snap = telemetry.snapshot()
        stages = {s: telemetry.stage_values(s) for s in snap["latency"]}
        return EpisodeRun(seed, success, steps, steps * self.dt, time.perf_counter() - wall0,
                          obs["prompt"], stages, dict(snap["counters"]), log, frames,
                          frame_times)


def _side_by_side(images: dict[str, np.ndarray]) -> np.ndarray:
    from cosmos_policy.sim.env import side_by_side

    return side_by_side(list(images.values()))
