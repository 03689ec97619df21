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
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cosmos_policy.errors import UserError
from cosmos_policy.sim.dagger_rollouts import (  # noqa: F401 - the public names
    DAGGER_SEED_START,
    LabelTap,
    RolloutStats,
    dataset_features,
    rollout_dataset,
)


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
    of its one-step label. labels: ``strict`` or ``tolerant``, how far off its own path the
    expert still labels a state as its manoeuvre going on
    (:func:`~cosmos_policy.sim.experts.label_config`). feedback: what each label starts
    from, ``command`` or ``state`` (:class:`~cosmos_policy.sim.experts.ExpertConfig`).
    workers: processes for rollout cells and validation episodes."""

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
    carry_fraction: float = 0.0
    paraphrase_prob: float = 0.0
    workers: int = 1
    expert_chunks: bool = False
    labels: str = "strict"
    feedback: str = "command"

    def __post_init__(self) -> None:
        from cosmos_policy.sim.experts import label_config

        label_config(self.labels, self.feedback)  # an unknown name is refused before any rollout
        if self.rounds < 1 or self.episodes < 1 or self.train_steps < 1 or self.batch < 1:
            raise UserError("--rounds, --episodes, --train-steps and --batch must be >= 1")
        if self.val_episodes < 0:
            raise UserError("--val-episodes must be >= 0")
        if self.workers < 1:
            raise UserError("--workers must be at least 1")
        for name in ("early_fraction", "carry_fraction", "paraphrase_prob"):
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
              "chunk": model_chunk(model) if cfg.expert_chunks else 1, "labels": cfg.labels,
              "feedback": cfg.feedback}
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


def model_chunk(model: str) -> int:
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
                       carry_fraction=cfg.carry_fraction,
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
    # a campaign from before a setting existed ran with its default
    defaults = {f.name: f.default for f in fields(DaggerConfig) if f.default is not MISSING}
    saved["config"] = json.loads(json.dumps(defaults, default=str)) | saved["config"]
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
