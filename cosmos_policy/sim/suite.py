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


@dataclass(frozen=True)
class Suite:
    """The suite file: scene path, cube colours, and task configs by name."""

    scene: Path
    colors: tuple[str, ...]
    tasks: dict[str, TaskConfig]


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
                 colors=colors, tasks=tasks)


def training_variants(suite: Suite) -> dict[str, tuple[str, ...]]:
    """Template -> the wordings training may use in its place: each task's canonical
    templates map to its ``training`` templates (tasks without any are left out)."""
    return {c: t.training for t in suite.tasks.values() if t.training for c in t.canonical}


def all_prompts(task: str, style: str, colors: Sequence[str] | None = None) -> list[str]:
    """Every prompt ``task`` can give with ``style``, for evaluation and tests."""
    suite = load_suite()
    cfg = suite.tasks[task]
    return [t.format(color=c) for t in cfg.templates(style) for c in (colors or suite.colors)]
