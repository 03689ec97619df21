"""The task layout training needs, read as data from the suite YAML (``sim/suites/*.yaml``).

Training knows nothing of the tabletop task in code: the cube colours a prompt may name, the
goal fixtures whose positions ``cosmos-policy record`` stores, and the other wordings of the
canonical prompts all come from the suite file, which the simulator reads too. Pure
Python + YAML: importing this pulls in neither torch nor MuJoCo.

The recorded objects (``observation.environment_state``, m, the embodiment's base frame) are
``xyz`` triples in the order :attr:`TaskLayout.objects`: the named (target) cube, each colour's
cube, then each fixture. Datasets recorded before the fixtures were added hold the cubes only
(:attr:`TaskLayout.cubes_dim` numbers).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cosmos_policy.errors import ConfigError
from cosmos_policy.paths import sim_dir

TARGET = "target"  # the object a prompt names, first in the recorded layout
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class TaskLayout:
    """What training reads from the suite.

    colors: the cube colours, in recording order (a prompt names one of them).
    fixtures: the goal fixtures (e.g. ``region``, ``plate``), in recording order after the cubes.
    variants: canonical prompt template -> other wordings training may use in its place
        (``train --paraphrase-prob``); each template has one ``{color}`` field.
    """

    colors: tuple[str, ...]
    fixtures: tuple[str, ...] = ()
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = self.objects
        if not self.colors:
            raise ConfigError("task layout", "colors", "at least one cube colour")
        bad = [n for n in names[1:] if not isinstance(n, str) or not _NAME.fullmatch(n)]
        if bad:
            raise ConfigError("task layout", "colors/fixtures", "lower-case names", bad[0])
        if len(set(names)) != len(names):
            raise ConfigError("task layout", "colors/fixtures",
                              f"distinct names other than {TARGET!r}", list(names))

    @property
    def objects(self) -> tuple[str, ...]:
        """Recorded objects in column order: the target cube, the cubes, the fixtures."""
        return (TARGET, *self.colors, *self.fixtures)

    @property
    def objects_dim(self) -> int:
        """Numbers per frame of ``observation.environment_state``: xyz per object."""
        return 3 * len(self.objects)

    @property
    def cubes_dim(self) -> int:
        """Numbers of a recording from before the fixtures: the target's and the cubes' xyz."""
        return 3 * (1 + len(self.colors))

    @property
    def fixture_columns(self) -> dict[str, int]:
        """Fixture -> its first column (x; y and z follow)."""
        return {name: self.cubes_dim + 3 * i for i, name in enumerate(self.fixtures)}

    def state_names(self) -> list[str]:
        """Column names of ``observation.environment_state`` (``red_x``, ``plate_z``...)."""
        return [f"{obj}_{axis}" for obj in self.objects for axis in "xyz"]

    @functools.cached_property
    def color_word(self) -> re.Pattern[str]:
        """Matches a colour of :attr:`colors` as a whole word."""
        return re.compile(r"\b(" + "|".join(map(re.escape, self.colors)) + r")\b")

    def named_color(self, prompt: str) -> str | None:
        """The one colour ``prompt`` names (perhaps more than once), else None."""
        found = set(self.color_word.findall(prompt))
        return found.pop() if len(found) == 1 else None


def _templates(source: str, where: str, value: Any) -> tuple[str, ...]:
    if not (isinstance(value, list) and all(
            isinstance(t, str) and t.count("{color}") == 1 for t in value)):
        raise ConfigError(source, where, "a list of prompt templates with one {color} each",
                          value)
    return tuple(value)


def layout_from_dict(raw: Any, source: str = "suite") -> TaskLayout:
    """A :class:`TaskLayout` from a parsed suite file (``colors``, ``fixtures``, ``tasks``)."""
    if not isinstance(raw, dict):
        raise ConfigError(source, "(file)", "a mapping with colors, fixtures and tasks")
    colors, fixtures = raw.get("colors"), raw.get("fixtures", [])
    for name, value in (("colors", colors), ("fixtures", fixtures)):
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(source, name, "a list of names", value)
    tasks = raw.get("tasks") or {}
    if not isinstance(tasks, dict):
        raise ConfigError(source, "tasks", "a mapping of task name -> settings")
    variants: dict[str, tuple[str, ...]] = {}
    for name, task in tasks.items():
        if not isinstance(task, dict) or "training" not in task:
            continue
        training = _templates(source, f"tasks.{name}.training", task["training"])
        canonical = _templates(source, f"tasks.{name}.canonical", task.get("canonical"))
        # evaluation's paraphrases must stay unseen: training may not use them either
        if set(training) & (set(canonical) | set(task.get("paraphrase") or ())):
            raise ConfigError(source, f"tasks.{name}.training",
                              "no template of canonical or paraphrase")
        variants.update(dict.fromkeys(canonical, training))
    try:
        return TaskLayout(tuple(colors), tuple(fixtures), variants)
    except ConfigError as exc:
        raise ConfigError(source, exc.field, exc.expected) from None


@functools.cache
def load_layout(path: str | Path | None = None) -> TaskLayout:
    """The layout of the suite file ``path`` (default: the shipped ``sim/suites/tabletop.yaml``);
    a :class:`ConfigError` naming the file when it is unreadable or malformed."""
    file = Path(path) if path else sim_dir() / "suites" / "tabletop.yaml"
    try:
        raw = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(file), "(file)", f"a readable YAML file ({exc})") from None
    return layout_from_dict(raw, str(file))
