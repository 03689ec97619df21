"""The tabletop task suite as data: ``sim/suites/tabletop.yaml`` -> frozen :class:`TaskConfig`s.

The YAML holds episode lengths, success thresholds and the prompt templates; the task logic
(rewards, success, layouts) is code in :mod:`cosmos_policy.sim.tasks`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from cosmos_policy.errors import ConfigError, UserError
from cosmos_policy.paths import sim_dir
from cosmos_policy.spec import MAX_PROMPT_CHARS

PROMPT_STYLES = ("canonical", "paraphrase", "any")
PROMPT_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.'-")


@dataclass(frozen=True)
class TaskConfig:
    """One task of the suite.

    max_episode_steps: policy steps (at the embodiment's control rate) before truncation.
    success_distance: m, the task's success threshold (see each task's ``success``).
    canonical / paraphrase: prompt templates with a ``{color}`` field; disjoint sets.
    training: other wordings that training may put in place of a canonical prompt
    (``cosmos-policy train --paraphrase-prob``); disjoint from both, so that evaluation's
    paraphrases stay unseen.
    """

    name: str
    max_episode_steps: int
    success_distance: float
    canonical: tuple[str, ...]
    paraphrase: tuple[str, ...]
    training: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        overlap = set(self.canonical) & set(self.paraphrase)
        if overlap:
            raise ConfigError(self.name, "paraphrase", "templates not in canonical", overlap)
        overlap = set(self.training) & (set(self.canonical) | set(self.paraphrase))
        if overlap:
            raise ConfigError(self.name, "training", "templates in neither canonical nor "
                              "paraphrase", overlap)

    def templates(self, style: str) -> tuple[str, ...]:
        """The templates a ``prompt_style`` draws from."""
        if style not in PROMPT_STYLES:
            raise UserError(f"unknown prompt_style '{style}'; valid: {', '.join(PROMPT_STYLES)}")
        if style == "canonical":
            return self.canonical
        if style == "paraphrase":
            return self.paraphrase
        return self.canonical + self.paraphrase

    def prompt(self, color: str, style: str, rng: np.random.Generator) -> str:
        """A prompt naming ``color``, drawn with ``rng`` from the templates of ``style``."""
        options = self.templates(style)
        return options[int(rng.integers(len(options)))].format(color=color)


SPLIT_NAMES = ("validation", "test", "training")


@dataclass(frozen=True)
class SeedSplit:
    """A named half-open range of ``reset`` seeds, ``[first, end)``; ``end`` None: open."""

    name: str
    first: int
    end: int | None

    def contains(self, seed: int) -> bool:
        return seed >= self.first and (self.end is None or seed < self.end)

    def describe(self) -> str:
        return f"{self.first}-{'' if self.end is None else self.end - 1}"


@dataclass(frozen=True)
class SeedReport:
    """Which split a seed range ``[first, first + count)`` lies in.

    split: the one split holding every seed, ``mixed`` when they straddle, ``none`` when no
    split holds any. pieces: split name -> seeds of the range in it. warnings: one line each.
    """

    first: int
    count: int
    split: str
    pieces: dict[str, int]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"split": self.split, "seeds": [self.first, self.first + self.count - 1],
                "pieces": dict(self.pieces), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Suite:
    """The suite file: scene path, cube colours, task configs by name, seed splits."""

    scene: Path
    colors: tuple[str, ...]
    tasks: dict[str, TaskConfig]
    splits: tuple[SeedSplit, ...] = ()

    def split(self, name: str) -> SeedSplit:
        """The split called ``name``; a :class:`UserError` listing the valid ones."""
        for s in self.splits:
            if s.name == name:
                return s
        raise UserError(f"unknown seed split '{name}'; valid: "
                        f"{', '.join(s.name for s in self.splits) or '(none in the suite)'}")

    def seed_report(self, first: int, count: int) -> SeedReport:
        """Which split the seeds ``first .. first + count - 1`` belong to, with a warning when
        they straddle splits, reach into training's or lie outside every split."""
        seeds = range(first, first + count)
        pieces: dict[str, int] = {}
        outside = 0
        for seed in seeds:
            owner = next((s.name for s in self.splits if s.contains(seed)), None)
            if owner is None:
                outside += 1
            else:
                pieces[owner] = pieces.get(owner, 0) + 1
        warnings = []
        if len(pieces) > 1:
            warnings.append(f"seeds {first}-{first + count - 1} straddle splits (" + ", ".join(
                f"{n} {k}" for k, n in pieces.items()) + "); keep a figure within one split")
        if pieces.get("training"):
            warnings.append(f"{pieces['training']} seeds lie in the training range "
                            f"({self.split('training').describe()}): layouts the model was "
                            "trained on")
        if outside and self.splits:
            warnings.append(f"{outside} seeds lie in no split of the suite")
        split = (next(iter(pieces)) if len(pieces) == 1 and not outside
                 else "none" if not pieces else "mixed")
        return SeedReport(first, count, split, pieces, tuple(warnings))


def _strings(source: str, field: str, value: object) -> tuple[str, ...]:
    ok = isinstance(value, list) and value and all(
        isinstance(s, str) and s and set(s.replace("{color}", "")) <= PROMPT_CHARSET
        and len(s) <= MAX_PROMPT_CHARS - 8 for s in value)
    if not ok:
        raise ConfigError(source, field, "a non-empty list of prompt templates using letters, "
                          "digits, spaces and ,.'- only", value)
    return tuple(value)


@functools.cache
def load_suite(path: str | None = None) -> Suite:
    """Load ``sim/suites/tabletop.yaml`` (or ``path``); raises :class:`ConfigError` when bad."""
    file = Path(path) if path else sim_dir() / "suites" / "tabletop.yaml"
    source = str(file)
    try:
        raw = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(source, "(file)", f"a readable YAML file ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), dict):
        raise ConfigError(source, "tasks", "a mapping of task name -> settings")
    tasks = {}
    for name, t in raw["tasks"].items():
        if not isinstance(t, dict):
            raise ConfigError(source, f"tasks.{name}", "a mapping")
        steps, dist = t.get("max_episode_steps"), t.get("success_distance")
        if not isinstance(steps, int) or steps <= 0:
            raise ConfigError(source, f"tasks.{name}.max_episode_steps", "a positive int", steps)
        if not isinstance(dist, (int, float)) or dist <= 0:
            raise ConfigError(source, f"tasks.{name}.success_distance", "a positive number", dist)
        canonical = _strings(source, f"tasks.{name}.canonical", t.get("canonical"))
        paraphrase = _strings(source, f"tasks.{name}.paraphrase", t.get("paraphrase"))
        if set(canonical) & set(paraphrase):
            raise ConfigError(source, f"tasks.{name}.paraphrase", "no template of canonical")
        training = (_strings(source, f"tasks.{name}.training", t["training"])
                    if "training" in t else ())
        if set(training) & (set(canonical) | set(paraphrase)):
            raise ConfigError(source, f"tasks.{name}.training",
                              "no template of canonical or paraphrase")
        tasks[name] = TaskConfig(name, steps, float(dist), canonical, paraphrase, training)
    colors = tuple(raw.get("colors", ()))
    return Suite(scene=file.parent.parent / str(raw.get("scene", "scenes/tabletop.xml")),
                 colors=colors, tasks=tasks, splits=_splits(source, raw.get("splits") or {}))


def _splits(source: str, raw: object) -> tuple[SeedSplit, ...]:
    """``splits: {name: [first, end]}`` -> disjoint :class:`SeedSplit`s (``end`` null: open)."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "splits", "a mapping of split name -> [first, end]", raw)
    out = []
    for name, value in raw.items():
        field = f"splits.{name}"
        if name not in SPLIT_NAMES:
            raise ConfigError(source, field, f"one of {', '.join(SPLIT_NAMES)}", name)
        ok = (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)
              and value[0] >= 0 and (value[1] is None or (isinstance(value[1], int)
                                                          and value[1] > value[0])))
        if not ok:
            raise ConfigError(source, field, "[first, end] with 0 <= first < end (end null: "
                              "open)", value)
        out.append(SeedSplit(name, value[0], value[1]))
    spans = sorted(out, key=lambda s: s.first)
    for a, b in zip(spans, spans[1:], strict=False):
        if a.end is None or a.end > b.first:
            raise ConfigError(source, f"splits.{b.name}", f"a range disjoint from {a.name}'s",
                              [b.first, b.end])
    return tuple(out)


def training_variants(suite: Suite) -> dict[str, tuple[str, ...]]:
    """Template -> the wordings training may use in its place: each task's canonical
    templates map to its ``training`` templates (tasks without any are left out)."""
    return {c: t.training for t in suite.tasks.values() if t.training for c in t.canonical}


def all_prompts(task: str, style: str, colors: Sequence[str] | None = None) -> list[str]:
    """Every prompt ``task`` can give with ``style``, for evaluation and tests."""
    suite = load_suite()
    cfg = suite.tasks[task]
    return [t.format(color=c) for t in cfg.templates(style) for c in (colors or suite.colors)]
