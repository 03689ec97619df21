"""Closed-loop evaluation: a MuJoCo tabletop env driven through the runtime core.

Per command period (``1 / command_rate_hz`` of simulated time) the harness pushes the joint
state into :class:`~cosmos_policy.runtime.ObservationSync` (and, every policy period, the
camera frames), stamped with simulated time; :meth:`ControlLoop.tick` does the rest
(inference, chunk blending, interpolation, projection, watchdog, :class:`SafetyLayer`); the
safe command alone drives the physics through :meth:`TabletopEnv.step_joint_targets`.

Inference timing:

* asynchronous (default): :class:`ThreadedInference` runs the model on its own thread while
  the simulation runs paced to the wall clock, and a chunk is released no earlier than its
  observation time plus its measured latency (:class:`LatencyCharged`), so every
  millisecond of inference costs what it would on a robot, even when the simulation lags;
* ``lockstep``: :class:`LockstepInference` with a fixed simulated latency; reproducible.

Evaluation seeds start at 0 by default; training demonstrations use seeds from 1000 up.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from cosmos_policy.kinematics import workspace_guard
from cosmos_policy.runtime import (
    ControlLoop,
    InferenceResult,
    LockstepInference,
    ManualClock,
    ObservationSync,
    SentCommand,
    SyncConfig,
    Telemetry,
    ThreadedInference,
    build_loop,
)
from cosmos_policy.spec import Observation

TRAINING_SEED_START = 1000


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation (one task and embodiment).

    model: ``default``, a bundle folder, a Cosmos 3 folder or ``oracle``; backend:
    ``onnxruntime`` or ``torch``.
    lockstep: reproducible inline inference charged ``lockstep_latency_s`` of simulated time.
    blending: ``rtc`` or ``ensemble``. image_size: rendered camera frames (pixels, square).
    max_steps: policy steps per episode (None: the task's limit). videos: episodes recorded.
    noise_scale: the compact model's initial-noise scale (1: sampled, 0: deterministic; None:
    the model's own, its manifest's ``sampler.noise_scale``).
    flow_steps: the compact model's Euler steps per sample.
    guidance: the compact model's prompt guidance (1: none; docs/EVAL.md).
    """

    task: str = "reach"
    embodiment: str = "franka"
    episodes: int = 10
    seed: int = 0
    model: str = "default"
    backend: str = "onnxruntime"
    lockstep: bool = False
    lockstep_latency_s: float = 0.05
    blending: str = "rtc"
    image_size: int = 128
    prompt_style: str = "canonical"
    max_steps: int | None = None
    videos: int = 3
    workspace: bool = True
    cosmos3: Any = None  # Cosmos3Options when ``model`` is a Cosmos 3 checkpoint folder
    noise_scale: float | None = None
    flow_steps: int = 10
    guidance: float = 1.0
    rerun: str | None = None  # a .rrd file per episode (docs/VIZ.md)
    rerun_connect: str | None = None  # a running Rerun viewer's address

    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.episodes))


@dataclass
class CommandLog:
    """Every command sent (time s, positions (n + 1,), reasons) and the joints reached."""

    times: list[float] = field(default_factory=list)
    commanded: list[np.ndarray] = field(default_factory=list)
    actual: list[np.ndarray] = field(default_factory=list)
    modified: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, cmd: SentCommand) -> None:
        self.times.append(float(cmd.time))
        self.commanded.append(np.asarray(cmd.positions, np.float64).copy())
        self.modified += bool(cmd.reasons)
        for r in cmd.reasons:
            self.reasons[r] = self.reasons.get(r, 0) + 1


class LatencyCharged:
    """Wraps a real-time runner; holds each chunk until ``observation_time + latency`` on
    the loop clock, so a simulation running slower than real time still pays the latency."""

    def __init__(self, inner: ThreadedInference) -> None:
        self.inner = inner
        self._held: list[InferenceResult] = []

    def submit(self, obs: Observation) -> None:
        self.inner.submit(obs)

    def poll(self, now: float) -> list[InferenceResult]:
        self._held.extend(self.inner.poll(now))
        # Partition by identity: results hold numpy arrays, so ``in`` (dataclass equality)
        # raises as soon as two are held at once.
        ready: list[InferenceResult] = []
        held: list[InferenceResult] = []
        for r in self._held:
            (ready if r.observation_time + r.latency_s <= now + 1e-9 else held).append(r)
        self._held = held
        return ready

    @property
    def busy(self) -> bool:
        return self.inner.busy or bool(self._held)

    def close(self) -> None:
        self.inner.close()


@dataclass
class EpisodeRun:
    """An episode's outcome, telemetry samples (s per stage), counters and command log."""

    seed: int
    success: bool
    steps: int
    sim_time_s: float
    wall_s: float
    prompt: str
    stages: dict[str, np.ndarray]
    counters: dict[str, int]
    log: CommandLog
    frames: list[np.ndarray] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    tick_lateness_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    distances_m: list[float] = field(default_factory=list)  # the task's error, per policy step
    nearest_cube: str = ""  # at the end: the cube nearest the tcp
    target_cube: str = ""  # the cube the prompt names
    # tcp minus the named cube's centre (m, xyz) at the step where the task's error was least
    closest_offset_m: list[float] | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready per-episode figures."""
        return {"seed": self.seed, "success": self.success, "steps": self.steps,
                "sim_time_s": round(self.sim_time_s, 3), "wall_s": round(self.wall_s, 3),
                "prompt": self.prompt, "commands": len(self.log.times),
                "commands_modified": self.log.modified,
                "deadline_misses": int(self.counters.get("deadline_misses", 0)),
                "dropped_frames": int(self.counters.get("dropped_frames", 0)),
                "chunks": int(self.counters.get("chunks", 0)),
                "final_distance_m": round(self.distances_m[-1], 4) if self.distances_m else None,
                "min_distance_m": round(min(self.distances_m), 4) if self.distances_m else None,
                "target_cube": self.target_cube, "nearest_cube": self.nearest_cube,
                "closest_offset_m": (None if self.closest_offset_m is None
                                     else [round(x, 4) for x in self.closest_offset_m])}


class Evaluator:
    """Builds the env, model and safety pieces once; runs episodes through a fresh runtime."""

    def __init__(self, config: EvalConfig) -> None:
        from cosmos_policy.policy.registry import load_model
        from cosmos_policy.policy.stand_ins import warm_up
        from cosmos_policy.sim.env import make_env
        from cosmos_policy.sim.eval_models import TimedModel, sim_factories

        self.config = cfg = config
        self.env = make_env(cfg.task, cfg.embodiment, image_size=cfg.image_size,
                            prompt_style=cfg.prompt_style,
                            action_mode="joint" if _is_joint(cfg.embodiment) else "ee_pose")
        self.emb = emb = self.env.embodiment
        self.model = TimedModel(load_model(cfg.model, emb, backend=cfg.backend, seed=cfg.seed,
                                           factories=sim_factories(self.env),
                                           cosmos3=cfg.cosmos3, noise_scale=cfg.noise_scale,
                                           steps=cfg.flow_steps, guidance=cfg.guidance))
        if cfg.model != "oracle":  # lazy loads before the first episode, whose clock runs
            warm_up(self.model.model, emb)
        self.projector = None
        if emb.action_type == "ee_pose":
            from cosmos_policy.kinematics import KinematicProjector

            self.projector = KinematicProjector(emb)
        self._fk, self._reach = workspace_guard(emb) if cfg.workspace else (None, None)
        self.per = max(1, round(emb.command_rate_hz / emb.control_rate_hz))

    def close(self) -> None:
        self.env.close()

    def _loop(self, clock: ManualClock, telemetry: Telemetry) -> ControlLoop:
        cfg, emb = self.config, self.emb
        sync = ObservationSync(emb, clock, SyncConfig(
            cameras=tuple(c.name for c in self.env.scene.cameras),
            image_size=(cfg.image_size, cfg.image_size)), telemetry)
        if cfg.lockstep:
            runner: Any = LockstepInference(self.model, cfg.lockstep_latency_s, telemetry)
        else:
            runner = LatencyCharged(ThreadedInference(self.model, clock, telemetry))
        guard = None if self._fk is None else (self._fk, self._reach)
        return build_loop(emb, clock=clock, sync=sync, telemetry=telemetry, inference=runner,
                          projector=self.projector, blending=cfg.blending, guard=guard)

    def run_episode(self, seed: int, record: bool = False) -> EpisodeRun:
        """Reset with ``seed`` and run until success or the step limit (policy steps)."""
        cfg, env, emb = self.config, self.env, self.emb
        obs, _ = env.reset(seed=seed)
        self.model.reset(seed)
        scene, n = env.scene, emb.n_joints
        clock = ManualClock(0.0)
        telemetry = Telemetry(window=1_000_000)
        loop = self._loop(clock, telemetry)
        loop.sync.set_prompt(obs["prompt"])
        log = CommandLog()
        loop.subscribe(log.add)
        viz = self._viz(seed, obs["prompt"], loop)
        dt = 1.0 / emb.command_rate_hz
        max_steps = int(cfg.max_steps or env.max_episode_steps)
        frames, frame_times, lateness, distances = [], [], [], []
        closest_offset: list[float] | None = None
        success, steps = False, 0
        wall0 = time.perf_counter()
        try:
            for k in range(max_steps * self.per):
                now = k * dt
                clock.set(now)
                if k % self.per == 0:
                    images = scene.render()
                    for cam, img in images.items():
                        loop.sync.push_image(cam, img, now)
                        if viz is not None:
                            viz.image(cam, img, now)
                    if record:
                        frames.append(_side_by_side(images))
                        frame_times.append(now)
                state = np.append(scene.arm_q(), scene.gripper_opening()).astype(np.float32)
                loop.sync.push_state(state, now, scene.arm_qvel().astype(np.float32))
                cmd = loop.tick(now)
                if cmd is None:  # cannot happen: a state was pushed before the tick
                    raise RuntimeError("the control loop sent no command")
                ok = env.step_joint_targets(cmd.positions[:n], float(cmd.positions[n]), dt)
                log.actual.append(scene.arm_q())
                if not cfg.lockstep:  # real-time pacing: inference runs beside the physics
                    late = time.perf_counter() - (wall0 + (k + 1) * dt)
                    lateness.append(max(0.0, late))
                    if late < 0:
                        time.sleep(-late)
                if (k + 1) % self.per == 0:
                    steps += 1
                    distances.append(env.task.distance(scene))
                    if distances[-1] <= min(distances):
                        closest_offset = (scene.tcp_pos()
                                          - scene.cube_pos(env.task.color)).tolist()
                    if ok:
                        success = True
                        break
        except mujoco.FatalError:  # the physics gave up (e.g. too many contacts): a failure
            telemetry.count("sim_errors")
        finally:
            loop.inference.close()
            if viz is not None:
                from cosmos_policy.viz.rerun_log import send_stages

                send_stages(viz, telemetry, log.times)
                viz.close()
        telemetry.count("deadline_misses", int(sum(x > dt for x in lateness)))
        for lat in self.model.latencies:
            telemetry.record("model_wall", lat)
        snap = telemetry.snapshot()
        stages = {s: telemetry.stage_values(s) for s in snap["latency"]}
        return EpisodeRun(seed, success, steps, steps / emb.control_rate_hz,
                          time.perf_counter() - wall0, obs["prompt"], stages,
                          dict(snap["counters"]), log, frames, frame_times,
                          np.asarray(lateness), distances, env.task.nearest_cube(scene),
                          env.task.color, closest_offset)


    def _viz(self, seed: int, prompt: str, loop: ControlLoop) -> Any:
        """A Rerun recorder attached to ``loop`` when the config asks for one."""
        cfg = self.config
        if cfg.rerun is None and cfg.rerun_connect is None:
            return None
        from cosmos_policy.viz.rerun_log import RerunRecorder, attach, episode_file

        names = [*self.emb.joints, "gripper"]
        viz = RerunRecorder(
            f"{cfg.task}-{cfg.embodiment}-seed{seed}", names, connect=cfg.rerun_connect,
            path=None if cfg.rerun is None else episode_file(cfg.rerun, seed, cfg.episodes),
            name=f"{cfg.task} {cfg.embodiment} seed {seed}: {prompt}")
        attach(loop, viz)
        return viz


def make_evaluator(config: EvalConfig) -> Any:
    """The evaluator for ``config.task``: :class:`Evaluator` for the tabletop tasks,
    :class:`~cosmos_policy.sim.external.evaluate.ExternalEvaluator` for ``fetch/...`` and
    ``robosuite/...`` (the same runtime, :class:`EpisodeRun` and report)."""
    from cosmos_policy.sim.external.evaluate import ExternalEvaluator, is_external

    return ExternalEvaluator(config) if is_external(config.task) else Evaluator(config)


def eval_embodiment(task: str, embodiment: str, image_size: int = 128) -> Any:
    """The embodiment the runtime and the report use for ``task`` on ``embodiment``: the
    named one, or for an external task its robot as the runtime sees it (Cartesian)."""
    from cosmos_policy.sim.external.evaluate import cartesian_embodiment, is_external

    if is_external(task):
        return cartesian_embodiment(task, embodiment, image_size)
    from cosmos_policy.embodiment import load_embodiment

    return load_embodiment(embodiment)


def _is_joint(embodiment: str) -> bool:
    from cosmos_policy.embodiment import load_embodiment

    return load_embodiment(embodiment).action_type == "joint"


def _side_by_side(images: dict[str, np.ndarray]) -> np.ndarray:
    from cosmos_policy.sim.env import side_by_side

    return side_by_side(list(images.values()))


def config_dict(config: EvalConfig) -> dict[str, Any]:
    """The config as JSON-ready data; ``noise_scale`` the one the model samples with."""
    d = asdict(config)
    if config.noise_scale is None and config.model not in ("oracle", "random"):
        from cosmos_policy.policy.registry import model_noise_scale

        d["noise_scale"] = model_noise_scale(config.model)
    return d


def check_seeds(config: EvalConfig) -> None:
    """Refuse evaluation seeds that overlap the training range (from 1000 up)."""
    from cosmos_policy.errors import UserError

    if config.seed < 0 or config.seed + config.episodes > TRAINING_SEED_START:
        raise UserError(f"evaluation seeds {config.seed}..{config.seed + config.episodes - 1} "
                        f"overlap the training seeds ({TRAINING_SEED_START}+); use --seed 0 "
                        f"and at most {TRAINING_SEED_START} episodes")


def out_dir(config: EvalConfig, out: str | Path | None) -> Path:
    """``out`` or the default ``outputs/eval/<task>-<embodiment>/``."""
    return Path(out) if out is not None else Path("outputs/eval") / (
        f"{config.task}-{config.embodiment}")
