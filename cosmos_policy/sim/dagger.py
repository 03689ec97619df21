"""DAgger with the scripted experts: roll out the current policy, label every visited state
with the expert's action from that state, aggregate with the demonstrations, fine-tune, repeat.

A rollout runs through the same runtime as ``cosmos-policy eval`` (:class:`Evaluator`, always
lockstep, so a round is reproducible): the states DAgger labels are the states evaluation
visits. At every policy step, :class:`LabelTap` keeps what the policy saw (the frames the
evaluator rendered, joint state, tcp pose, object positions) and asks the expert
(:meth:`Expert.label`) what it would command from there; the labels, never the policy's own
commands, become the ``action`` of a LeRobot v3 dataset written like ``cosmos-policy record``
writes demonstrations. Rollout seeds come from the suite's training split, validation seeds
from its validation split (``sim/suites/tabletop.yaml``); the test split is never touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data.layout import CHUNK_KEY
from cosmos_policy.errors import UserError

# An expert's fields that point at shared objects (the env, its scene, compiled models):
# never copied or restored by LabelTap._expert_chunk.
_SHARED_EXPERT_FIELDS = frozenset({"env", "scene", "cfg", "_fk", "_projector", "kin"})

# Rollout seeds start here by default: inside the training split, above every range that
# docs/train_default.sh records demonstrations on (1000-47000).
DAGGER_SEED_START = 50000


def dataset_features(env: Any) -> tuple[dict[str, Any], list[str],
                                        Callable[[], np.ndarray] | None]:
    """LeRobot features of a tabletop env's frames (the layout ``record`` writes): each camera,
    ``observation.state``, ``observation.ee_pose``, ``observation.environment_state`` (when the
    env has objects) and ``action`` (10 unified, or joint targets + gripper). Returns the
    features, the camera names and the object reader (or None)."""
    from cosmos_policy.data.lerobot import (
        POSE9_NAMES,
        camera_feature,
        vector_feature,
    )
    from cosmos_policy.sim.scene import object_state_reader

    emb = env.unwrapped.embodiment
    cameras = list(env.observation_space["images"].spaces)
    fps = int(round(emb.control_rate_hz))
    features: dict[str, Any] = {}
    for c in cameras:
        h, w = env.observation_space["images"][c].shape[:2]
        features[f"observation.images.{c}"] = camera_feature(h, w, fps)
    features["observation.state"] = vector_feature(list(emb.joints) + ["gripper"])
    features["observation.ee_pose"] = vector_feature(POSE9_NAMES)
    objects = object_state_reader(env.unwrapped)
    read_objects = None
    if objects is not None:
        names, read_objects = objects
        features["observation.environment_state"] = vector_feature(names)
    action_dim = int(env.action_space.shape[0])
    features["action"] = vector_feature(POSE9_NAMES + ["gripper"] if action_dim == 10
                                        else list(emb.joints) + ["gripper"])
    return features, cameras, read_objects


class LabelTap:
    """Taps an :class:`Evaluator`'s env: at the first command of every policy step it keeps
    the frames the evaluator rendered for the policy, the proprioception and objects, and the
    expert's label from that state. ``on_frame(env, label, command)`` (tests) sees each label
    with the env before the step and the joint command (n + 1,) the policy's runtime sent.

    ``chunk`` > 1 also keeps the expert's own chunk from that state (``action.chunk``): the
    expert drives the simulator ``chunk - 1`` more steps from the visited state, and the
    simulator and the expert are put back exactly as they were. The labels of the next
    visited states are no substitute: they follow the policy's path, not the expert's."""

    def __init__(self, evaluator: Any, features: dict[str, Any], cameras: list[str],
                 read_objects: Callable[[], np.ndarray] | None,
                 on_frame: Callable[..., None] | None = None, chunk: int = 1) -> None:
        from cosmos_policy.sim.experts import make_expert

        self.chunk = chunk
        self.env = evaluator.env
        self.scene = self.env.scene
        self.expert = make_expert(self.env)
        self.features, self.cameras, self.read_objects = features, cameras, read_objects
        self.on_frame = on_frame
        self._render, self._step = self.scene.render, self.env.step_joint_targets
        # instance attributes shadow the methods on this evaluator's env only
        self.scene.render = self._on_render
        self.env.step_joint_targets = self._on_step
        self.begin()

    def begin(self) -> None:
        """A new episode: empty rows, a fresh expert."""
        self.rows: dict[str, list[np.ndarray]] = {k: [] for k in self.features}
        self.expert.reset()
        self._frames: dict[str, np.ndarray] | None = None

    def _on_render(self) -> dict[str, np.ndarray]:
        self._frames = self._render()
        return self._frames

    def _on_step(self, q: np.ndarray, gripper: float, duration_s: float) -> bool:
        if self._frames is not None:  # the first command after the policy's frames
            s = self.scene
            obs = {"images": self._frames, "prompt": self.env.task.prompt,
                   "state": np.append(s.arm_q(), s.gripper_opening()).astype(np.float32),
                   "ee_pose": _pose9(s)}
            label = np.asarray(self.expert.label(obs), dtype=np.float32)
            if self.chunk > 1:
                self.rows[CHUNK_KEY].append(self._expert_chunk(label).reshape(-1))
            for c in self.cameras:
                self.rows[f"observation.images.{c}"].append(self._frames[c])
            self.rows["observation.state"].append(obs["state"])
            self.rows["observation.ee_pose"].append(obs["ee_pose"])
            if self.read_objects is not None:
                self.rows["observation.environment_state"].append(self.read_objects())
            self.rows["action"].append(label)
            if self.on_frame is not None:
                self.on_frame(self.env, label, np.append(q, gripper))
            self._frames = None
        return self._step(q, gripper, duration_s)

    def _expert_chunk(self, label: np.ndarray) -> np.ndarray:
        """(chunk, action_dim): ``label``, then the expert's next actions as it drives on from
        this state; the simulator, the env's last targets and the expert are restored."""
        import copy

        import mujoco

        s, env = self.scene, self.env
        saved = mujoco.MjData(s.model)
        mujoco.mj_copyData(saved, s.model, s.data)
        q_target, expert_state = env._q_target.copy(), copy.deepcopy(  # noqa: SLF001
            {k: v for k, v in vars(self.expert).items() if k not in _SHARED_EXPERT_FIELDS})
        out = [label]
        try:
            for _ in range(self.chunk - 1):
                target = (out[-1] if env.action_mode == "joint"
                          else self.expert._to_joint(out[-1]))  # noqa: SLF001 - expert's IK
                lim = env.embodiment.position_limits
                env._q_target = np.clip(target[:-1], lim[:, 0], lim[:, 1])  # noqa: SLF001
                s.step(env._q_target, float(target[-1]))  # noqa: SLF001
                out.append(np.asarray(self.expert.act(None), dtype=np.float32))
        finally:
            mujoco.mj_copyData(s.data, s.model, saved)
            env._q_target = q_target  # noqa: SLF001
            vars(self.expert).update(expert_state)
        return np.stack(out)


def _pose9(scene: Any) -> np.ndarray:
    from cosmos_policy.sim.env import pose9

    return pose9(scene.tcp_pos(), scene.tcp_rot())


@dataclass
class RolloutStats:
    """One (task, embodiment) rollout batch: episodes kept, frames, policy successes."""

    task: str
    embodiment: str
    episodes: int = 0
    frames: int = 0
    successes: int = 0
    sim_errors: int = 0
    seeds: list[int] = field(default_factory=list)


def _evaluator(model: str, task: str, embodiment: str, *, backend: str, image_size: int,
               seed: int, latency_s: float, max_steps: int | None) -> Any:
    from cosmos_policy.sim.evaluate import EvalConfig, Evaluator

    return Evaluator(EvalConfig(task=task, embodiment=embodiment, episodes=1, seed=seed,
                                model=model, backend=backend, lockstep=True,
                                lockstep_latency_s=latency_s, image_size=image_size, videos=0,
                                max_steps=max_steps))


def rollout_dataset(model: str, task: str, embodiment: str, seeds: Sequence[int], out: Path, *,
                    backend: str = "torch", image_size: int = 128, latency_s: float = 0.05,
                    max_steps: int | None = None, on_frame: Callable[..., None] | None = None,
                    chunk: int = 1) -> RolloutStats:
    """Roll ``model`` out on ``seeds`` (training split) and write the expert-labelled states
    as a LeRobot v3 dataset at ``out`` (every episode, won or lost: DAgger labels them all).
    ``chunk`` > 1: every frame also holds the expert's own ``chunk`` actions from that state
    (``action.chunk``, see :class:`LabelTap`)."""
    from cosmos_policy.data.layout import vector_feature
    from cosmos_policy.data.lerobot import LeRobotWriter
    from cosmos_policy.sim.suite import load_suite

    report = load_suite().seed_report(min(seeds), max(seeds) - min(seeds) + 1)
    if report.split != "training":
        raise UserError(f"DAgger rolls out on training seeds only; seeds {min(seeds)}-"
                        f"{max(seeds)} lie in {report.split}: use --seed {DAGGER_SEED_START}")
    ev = _evaluator(model, task, embodiment, backend=backend, image_size=image_size,
                    seed=min(seeds), latency_s=latency_s, max_steps=max_steps)
    stats = RolloutStats(task, ev.emb.name)
    try:
        features, cameras, read_objects = dataset_features(ev.env)
        if chunk > 1:
            names = features["action"]["names"]
            features[CHUNK_KEY] = vector_feature([f"{n}@{k}" for k in range(chunk)
                                                  for n in names])
        tap = LabelTap(ev, features, cameras, read_objects, on_frame, chunk=chunk)
        fps = int(round(ev.emb.control_rate_hz))
        provenance = {"task": task, "embodiment": ev.emb.name, "source": "dagger",
                      "policy": str(model), "seeds": stats.seeds}
        with LeRobotWriter(out, fps=fps, robot_type=ev.emb.robot_type, features=features,
                           extra_info={"cosmos_policy": provenance}) as writer:
            for seed in seeds:
                tap.begin()
                run = ev.run_episode(seed)
                if run.counters.get("sim_errors") or not tap.rows["action"]:
                    stats.sim_errors += 1
                    continue
                writer.add_episode({k: np.stack(v) for k, v in tap.rows.items()},
                                   run.prompt)
                stats.seeds.append(seed)
                stats.episodes += 1
                stats.frames += len(tap.rows["action"])
                stats.successes += bool(run.success)
            if stats.episodes:
                writer.finalize()
            else:
                writer.abort()
    finally:
        ev.close()
    return stats


def validate(model: str, tasks: Sequence[str], embodiments: Sequence[str], episodes: int, *,
             seed: int | None = None, backend: str = "torch", image_size: int = 128,
             latency_s: float = 0.05, max_steps: int | None = None, workers: int = 1
             ) -> dict[str, dict[str, Any]]:
    """Lockstep success of ``model`` per ``task/embodiment`` on the validation split (from
    its first seed, or ``seed``); a range leaving the split is refused. ``workers``
    processes share each cell's episodes (eval's runner: the same episodes, any count)."""
    from cosmos_policy.sim.eval_runner import run_episodes
    from cosmos_policy.sim.evaluate import EvalConfig
    from cosmos_policy.sim.suite import load_suite

    split = load_suite().split("validation")
    first = split.first if seed is None else seed
    if not (split.contains(first) and split.contains(first + episodes - 1)):
        raise UserError(f"validation seeds {first}-{first + episodes - 1} leave the "
                        f"validation split ({split.describe()})")
    out = {}
    for task in tasks:
        for emb in embodiments:
            config = EvalConfig(task=task, embodiment=emb, episodes=episodes, seed=first,
                                model=model, backend=backend, lockstep=True,
                                lockstep_latency_s=latency_s, image_size=image_size, videos=0,
                                max_steps=max_steps)
            runs = run_episodes(config, workers=workers, progress=False)
            wins = sum(r.success for r in runs)
            out[f"{task}/{emb}"] = {"success": int(wins), "episodes": episodes,
                                    "seeds": [first, first + episodes - 1]}
    return out


@dataclass(frozen=True)
class DaggerConfig:
    """A DAgger campaign. model: the starting bundle (``default`` or a folder). demos: the
    demonstration datasets every round trains on too. episodes: rollouts per round and
    (task, embodiment). seed: first rollout seed (training split). train_steps, batch, lr,
    object_weight: each round's fine-tune (``cosmos-policy train --init``). val_episodes:
    validation episodes per cell per round (0: none). backend: the rollouts' and
    validation's (torch needs no engine export). max_steps / val_max_steps: policy steps per
    rollout / validation episode (None: the task's). expert_chunks: label every visited
    state with the expert's own chunk (``action.chunk``, trained in policy mode only) instead
    of its one-step label. workers: processes for rollout cells and validation episodes."""

    tasks: tuple[str, ...]
    embodiments: tuple[str, ...]
    model: str = "default"
    demos: tuple[str, ...] = ()
    rounds: int = 1
    episodes: int = 20
    seed: int = DAGGER_SEED_START
    train_steps: int = 300
    batch: int = 32
    lr: float = 1e-4
    object_weight: float = 0.0
    val_episodes: int = 20
    val_seed: int | None = None
    val_max_steps: int | None = None
    max_steps: int | None = None
    backend: str = "torch"
    image_size: int = 128
    latency_s: float = 0.05
    train_seed: int = 0
    early_fraction: float = 0.0
    paraphrase_prob: float = 0.0
    workers: int = 1
    expert_chunks: bool = False

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.episodes < 1 or self.train_steps < 1 or self.batch < 1:
            raise UserError("--rounds, --episodes, --train-steps and --batch must be >= 1")
        if self.val_episodes < 0:
            raise UserError("--val-episodes must be >= 0")
        if self.workers < 1:
            raise UserError("--workers must be at least 1")
        for name in ("early_fraction", "paraphrase_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UserError(f"--{name.replace('_', '-')} must be in [0, 1], got "
                                f"{getattr(self, name)}")


def _cells(cfg: DaggerConfig) -> list[tuple[str, str]]:
    """The campaign's (task, embodiment) cells, in the order rollouts are tabled."""
    return [(task, emb) for task in cfg.tasks for emb in cfg.embodiments]


def _rollout_cell(job: tuple[Any, ...]) -> RolloutStats:
    """One (task, embodiment) cell's rollouts in a worker process (one torch thread)."""
    model, task, emb, seeds, path, kwargs = job
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return rollout_dataset(model, task, emb, seeds, Path(path), **kwargs)


def _rollouts(cfg: DaggerConfig, model: str, seeds: list[int], round_dir: Path,
              on_frame: Callable[..., None] | None) -> list[RolloutStats]:
    """Every cell's rollouts of a round, ``cfg.workers`` cells at a time; in cell order."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    kwargs = {"backend": cfg.backend, "image_size": cfg.image_size,
              "latency_s": cfg.latency_s, "max_steps": cfg.max_steps,
              "chunk": _model_chunk(model) if cfg.expert_chunks else 1}
    jobs = [(model, task, emb, seeds, str(round_dir / f"data-{task}-{emb}"), kwargs)
            for task, emb in _cells(cfg)]
    if cfg.workers == 1 or len(jobs) == 1:
        return [rollout_dataset(*job[:4], Path(job[4]), on_frame=on_frame, **kwargs)
                for job in jobs]
    if on_frame is not None:
        raise UserError("on_frame taps one process: run with workers=1")
    with ProcessPoolExecutor(min(cfg.workers, len(jobs)),
                             mp_context=get_context("spawn")) as pool:
        return list(pool.map(_rollout_cell, jobs))


def _model_chunk(model: str) -> int:
    """The action chunk length of the bundle ``model`` fine-tunes (its config.json)."""
    from cosmos_policy.models.config import WAMConfig

    path = Path(_bundle_path(model)) / "config.json"
    try:
        return int(json.loads(path.read_text()).get("chunk", WAMConfig().chunk))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the model's chunk length ({exc})") from None


def _train_config(cfg: DaggerConfig, r: int) -> Any:
    """Round ``r``'s fine-tune (``cosmos-policy train --init`` with the campaign's options)."""
    from cosmos_policy.training.layout import load_layout
    from cosmos_policy.training.trainer import TrainConfig

    variants: dict[str, tuple[str, ...]] = {}
    if cfg.paraphrase_prob > 0:
        variants = dict(load_layout(None).variants)
        if not variants:
            raise UserError("--paraphrase-prob: the suite has no `training` prompt templates")
    return TrainConfig(steps=cfg.train_steps, batch=cfg.batch, lr=cfg.lr,
                       warmup=min(100, max(1, cfg.train_steps // 10)),
                       object_weight=cfg.object_weight, early_fraction=cfg.early_fraction,
                       prompt_variants=variants, paraphrase_prob=cfg.paraphrase_prob,
                       ckpt_every=max(cfg.train_steps, 1), seed=cfg.train_seed + r)


def run_dagger(cfg: DaggerConfig, out: Path,
               on_frame: Callable[..., None] | None = None,
               progress: Callable[[str], None] | None = None,
               resume: bool = False) -> list[dict[str, Any]]:
    """Round 0 validates ``cfg.model``; each round r >= 1 rolls out the previous round's
    model (``out/round-{r}/data-<task>-<embodiment>``), fine-tunes it on the demonstrations
    and every round's data so far (``out/round-{r}/model``), and validates the result. The
    table (``out/dagger.json``, ``out/dagger.md``) is rewritten after every round.
    ``resume``: go on from the last round ``out/dagger.json`` records (the same config;
    a round cut short is run again). ``progress`` receives one line per finished step
    (validation, rollout, fine-tune)."""
    import shutil

    from cosmos_policy.sim.suite import load_suite
    from cosmos_policy.training.trainer import Trainer

    span = cfg.rounds * cfg.episodes  # every round's rollout seeds, checked before any work
    if load_suite().seed_report(cfg.seed, span).split != "training":
        raise UserError(f"DAgger rolls out on training seeds only; seeds {cfg.seed}-"
                        f"{cfg.seed + span - 1} are not all training seeds: use --seed "
                        f"{DAGGER_SEED_START}")
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)

    def check(model: str) -> dict[str, Any]:
        if cfg.val_episodes == 0:
            return {}
        result = validate(model, cfg.tasks, cfg.embodiments, cfg.val_episodes,
                          seed=cfg.val_seed, backend=cfg.backend, image_size=cfg.image_size,
                          latency_s=cfg.latency_s, max_steps=cfg.val_max_steps,
                          workers=cfg.workers)
        say("validation " + ", ".join(f"{k} {v['success']}/{v['episodes']}"
                                      for k, v in result.items()) + f" ({model})")
        return result

    rows: list[dict[str, Any]] = []
    if resume and (out / "dagger.json").exists():
        rows = _resumable_rows(out, cfg)
        say(f"resuming after round {rows[-1]['round']} ({out / 'dagger.json'})")
    if not rows:
        t0 = time.perf_counter()
        rows.append({"round": 0, "model": cfg.model, "validation": check(cfg.model),
                     "episodes_added": 0, "frames_added": 0, "aggregated_episodes": 0,
                     "rollout_success": None, "rollout_s": 0.0, "train_s": 0.0,
                     "validate_s": time.perf_counter() - t0})
        write_table(rows, out, asdict(cfg))
    model = rows[-1]["model"]
    total_episodes = rows[-1]["aggregated_episodes"]
    aggregated = [str(d) for row in rows[1:] for d in sorted((out / f"round-{row['round']}")
                                                             .glob("data-*"))]
    for r in range(rows[-1]["round"] + 1, cfg.rounds + 1):
        round_dir = out / f"round-{r}"
        if round_dir.exists():  # a round cut short: nothing of it was tabled
            shutil.rmtree(round_dir)
        seeds = list(range(cfg.seed + (r - 1) * cfg.episodes, cfg.seed + r * cfg.episodes))
        t0 = time.perf_counter()
        added = _rollouts(cfg, model, seeds, round_dir, on_frame)
        for (task, emb), stats in zip(_cells(cfg), added, strict=True):
            path = round_dir / f"data-{task}-{emb}"
            if stats.episodes:
                aggregated.append(str(path))
            say(f"round {r}: {stats.episodes} rollouts of {stats.task}/{stats.embodiment} "
                f"labelled ({stats.frames} frames, policy won {stats.successes})")
        rollout_s = time.perf_counter() - t0
        total_episodes += sum(s.episodes for s in added)
        t0 = time.perf_counter()
        trainer = Trainer([*cfg.demos, *aggregated], round_dir / "model",
                          cfg=_train_config(cfg, r), init=_bundle_path(model))
        model = str(trainer.run())
        train_s = time.perf_counter() - t0
        say(f"round {r}: fine-tuned {cfg.train_steps} steps in {train_s:.0f} s -> {model}")
        t0 = time.perf_counter()
        validation = check(model)
        rows.append({"round": r, "model": model, "validation": validation,
                     "episodes_added": sum(s.episodes for s in added),
                     "frames_added": sum(s.frames for s in added),
                     "aggregated_episodes": total_episodes,
                     "rollout_success": {f"{s.task}/{s.embodiment}": [s.successes, s.episodes]
                                         for s in added},
                     "rollout_s": rollout_s, "train_s": train_s,
                     "validate_s": time.perf_counter() - t0})
        write_table(rows, out, asdict(cfg))
    return rows


def _resumable_rows(out: Path, cfg: DaggerConfig) -> list[dict[str, Any]]:
    """The rows of the campaign in ``out``, refused when it ran with another config (the
    round count and worker count may differ: more rounds extend a finished campaign)."""
    saved = json.loads((out / "dagger.json").read_text())
    ours = json.loads(json.dumps(asdict(cfg), default=str))
    free = {"rounds", "workers"}
    differ = sorted(k for k in ours if k not in free and saved["config"].get(k) != ours[k])
    if differ:
        raise UserError(f"{out} holds a campaign with other settings ({', '.join(differ)}); "
                        "resume with the same options or choose another --out")
    return list(saved["rounds"])


def _bundle_path(model: str) -> str:
    """A ``--model`` name as the bundle folder ``Trainer(init=...)`` reads."""
    if model == "default":
        from cosmos_policy.paths import engines_dir

        return str(engines_dir() / "default")
    if not Path(model).is_dir():
        raise UserError(f"--model {model}: DAgger fine-tunes a compact model bundle; pass "
                        "'default' or a bundle folder")
    return model


def write_table(rows: list[dict[str, Any]], out: Path, config: dict[str, Any]) -> None:
    """``out/dagger.json`` (config and rows) and ``out/dagger.md``: per round the validation
    success per task and arm (95 % Wilson interval), the data added and the time spent.
    Both files are replaced whole, never left half-written."""
    from cosmos_policy.data.atomic import write_text
    from cosmos_policy.sim.report import wilson_interval

    write_text(out / "dagger.json", json.dumps({"config": config, "rounds": rows}, indent=1,
                                               default=str))
    cells = sorted({k for row in rows for k in row["validation"]})
    head = ["round", "episodes added", "frames added", "DAgger episodes", "rollout success",
            *(f"{c} (validation)" for c in cells), "rollout s", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        wins = row["rollout_success"] or {}
        rollout = ", ".join(f"{k} {w}/{n}" for k, (w, n) in wins.items()) or "-"
        val = []
        for c in cells:
            v = row["validation"].get(c)
            if v:
                lo, hi = wilson_interval(v["success"], v["episodes"])
                val.append(f"{v['success']}/{v['episodes']} [{lo:.2f}, {hi:.2f}]")
            else:
                val.append("-")
        lines.append("| " + " | ".join([
            str(row["round"]), str(row["episodes_added"]), str(row["frames_added"]),
            str(row["aggregated_episodes"]), rollout, *val, f"{row['rollout_s']:.0f}",
            f"{row['train_s']:.0f}"]) + " |")
    write_text(out / "dagger.md", "\n".join(lines) + "\n")


def load_rows(out: Path) -> list[dict[str, Any]]:
    """The rows a campaign wrote to ``out/dagger.json``."""
    return json.loads((out / "dagger.json").read_text())["rounds"]
