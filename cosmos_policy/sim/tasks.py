"""Tasks: layout, prompt, dense reward and success on top of a :class:`Scene`.

A task never steps physics; it places objects at reset and reads the scene afterwards.
The target cube's colour is drawn per episode and named only in the prompt, so a policy must
read the prompt to know which cube matters.
"""

from __future__ import annotations

import numpy as np

from cosmos_policy.errors import UnknownNameError
from cosmos_policy.sim.scene import COLORS, CUBE_HALF, PLATE_RADIUS, PLATE_TOP, Scene
from cosmos_policy.sim.suite import TaskConfig, load_suite

CUBE_SPACING = 0.075  # m between cube centres
PLATE_SPACING = 0.11  # m from plate centre to any cube (radius + cube half-diagonal + fingers)
REGION_SPACING = 0.075  # m from region centre to any cube (region half + cube half-diagonal)
DISTRACTOR_MARGIN = 0.05  # m the task area grows by for objects the task does not use
_MAX_TRIES = 20000


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance (m) from point ``p`` to the segment ``a``-``b`` (2-D)."""
    ab = b - a
    t = float(np.clip((p - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


class Task:
    """Base class: subclasses add :meth:`accept` (layout constraints), :meth:`reward` and
    :meth:`success`. ``color`` and ``prompt`` are set by :meth:`reset`."""

    name = ""
    goal: tuple[str, ...] = ()  # the fixtures ("plate", "region") the task is about

    def __init__(self, config: TaskConfig | None = None) -> None:
        self.config = config or load_suite().tasks[self.name]
        self.color = COLORS[0]
        self.prompt = ""
        self.layout: dict[str, np.ndarray] = {}

    @property
    def max_episode_steps(self) -> int:
        return self.config.max_episode_steps

    def reset(self, scene: Scene, rng: np.random.Generator, prompt_style: str) -> None:
        """Draw the target colour, the prompt and a layout; place the objects in ``scene``."""
        self.color = COLORS[int(rng.integers(len(COLORS)))]
        self.prompt = self.config.prompt(self.color, prompt_style, rng)
        self.layout = self._sample_layout(scene, rng)
        for c in COLORS:
            scene.place_cube(c, self.layout[c], float(rng.uniform(-0.35, 0.35)))
        scene.place_plate(self.layout["plate"])
        scene.place_region(self.layout["region"])

    def _sample_layout(self, scene: Scene, rng: np.random.Generator) -> dict[str, np.ndarray]:
        emb = scene.embodiment
        lo = emb.task_area_center - emb.task_area_half_extent
        hi = emb.task_area_center + emb.task_area_half_extent
        core = {self.color, *self.goal}  # inside the task area; distractors may lie around it
        for _ in range(_MAX_TRIES):
            pts = {k: rng.uniform(lo, hi) if k in core else
                   rng.uniform(lo - DISTRACTOR_MARGIN, hi + DISTRACTOR_MARGIN)
                   for k in ("plate", "region", *COLORS)}
            if self._spaced(pts) and self.accept(pts):
                return pts
        raise RuntimeError(f"no layout for task '{self.name}' fits the task area of "
                           f"{emb.name} after {_MAX_TRIES} tries; enlarge task_area")

    def _spaced(self, pts: dict[str, np.ndarray]) -> bool:
        d = lambda a, b: float(np.linalg.norm(pts[a] - pts[b]))
        for i, a in enumerate(COLORS):
            if any(d(a, b) < CUBE_SPACING for b in COLORS[i + 1:]):
                return False
            if d(a, "plate") < PLATE_SPACING or d(a, "region") < REGION_SPACING:
                return False
        return d("plate", "region") >= PLATE_RADIUS + 0.06

    def accept(self, pts: dict[str, np.ndarray]) -> bool:
        """Task-specific layout constraints; ``pts`` maps object -> xy (m)."""
        return True

    def reward(self, scene: Scene) -> float:
        """Dense shaped reward of the current state (higher is better)."""
        raise NotImplementedError

    def success(self, scene: Scene) -> bool:
        raise NotImplementedError

    def distance(self, scene: Scene) -> float:
        """m, the error that ``success`` compares with ``success_distance``."""
        raise NotImplementedError

    def nearest_cube(self, scene: Scene) -> str:
        """The colour of the cube nearest the tcp (did the arm go to the named one?)."""
        tcp = scene.tcp_pos()
        return min(COLORS, key=lambda c: float(np.linalg.norm(scene.cube_pos(c) - tcp)))

    def _reach_term(self, scene: Scene) -> float:
        return 1.0 - float(np.tanh(10.0 * np.linalg.norm(scene.tcp_pos() - scene.cube_pos(
            self.color))))


class Reach(Task):
    """Bring the tcp within ``success_distance`` of the named cube's centre."""

    name = "reach"

    def reward(self, scene: Scene) -> float:
        return self._reach_term(scene) + float(self.success(scene))

    def distance(self, scene: Scene) -> float:
        return float(np.linalg.norm(scene.tcp_pos() - scene.cube_pos(self.color)))

    def success(self, scene: Scene) -> bool:
        return self.distance(scene) < self.config.success_distance


class Push(Task):
    """Push the named cube (on the table) into the yellow target region."""

    name = "push"
    goal = ("region",)
    MIN_DIST, MAX_DIST = 0.09, 0.20  # m, cube to region at reset
    CORRIDOR = 0.06  # m, other cubes keep this far from the push line

    def accept(self, pts: dict[str, np.ndarray]) -> bool:
        cube, region = pts[self.color], pts["region"]
        dist = float(np.linalg.norm(region - cube))
        if not self.MIN_DIST <= dist <= self.MAX_DIST:
            return False
        start = cube - (region - cube) / dist * 0.08  # where the pusher comes down
        if any(_segment_distance(pts[c], start, region) < self.CORRIDOR
               for c in COLORS if c != self.color):
            return False
        return _segment_distance(pts["plate"], start, region) > PLATE_RADIUS + 0.035

    def _offset(self, scene: Scene) -> np.ndarray:
        return scene.cube_pos(self.color)[:2] - scene.region_pos()[:2]

    def reward(self, scene: Scene) -> float:
        d = float(np.linalg.norm(self._offset(scene)))
        return 0.5 * self._reach_term(scene) + (1.0 - np.tanh(10.0 * d)) + float(
            self.success(scene))

    def distance(self, scene: Scene) -> float:
        return float(np.max(np.abs(self._offset(scene))))

    def success(self, scene: Scene) -> bool:
        on_table = scene.cube_pos(self.color)[2] < CUBE_HALF + 0.01
        return bool(on_table and self.distance(scene) < self.config.success_distance)


class PickPlace(Task):
    """Put the named cube on the plate: resting on it, released, nearly still."""

    name = "pick_place"
    goal = ("plate",)

    def reward(self, scene: Scene) -> float:
        cube = scene.cube_pos(self.color)
        lifted = float(np.clip((cube[2] - CUBE_HALF) / 0.05, 0.0, 1.0))
        d = float(np.linalg.norm(cube[:2] - scene.plate_pos()[:2]))
        return (self._reach_term(scene) + lifted + (1.0 - np.tanh(10.0 * d))
                + 2.0 * float(self.success(scene)))

    def distance(self, scene: Scene) -> float:
        return float(np.linalg.norm(scene.cube_pos(self.color)[:2] - scene.plate_pos()[:2]))

    def success(self, scene: Scene) -> bool:
        cube = scene.cube_pos(self.color)
        d = self.distance(scene)
        resting = abs(cube[2] - (PLATE_TOP + CUBE_HALF)) < 0.01
        return bool(d < self.config.success_distance and resting
                    and not scene.robot_touches(self.color)
                    and scene.cube_speed(self.color) < 0.05)


# task name -> class; the env and the CLI look tasks up here.
TASKS: dict[str, type[Task]] = {"reach": Reach, "push": Push, "pick_place": PickPlace}


def make_task(name: str) -> Task:
    """A fresh task by name; unknown names raise an error listing the valid ones."""
    if name not in TASKS:
        raise UnknownNameError("task", name, list(TASKS))
    return TASKS[name]()


def eval_task_names() -> list[str]:
    """Every task ``cosmos-policy eval`` runs: the tabletop's and the external suites'."""
    from cosmos_policy.sim.external import EXTERNAL_TASKS

    return [*TASKS, *EXTERNAL_TASKS]


def check_eval_task(name: str) -> None:
    """Refuse a name ``cosmos-policy eval`` cannot run, listing the ones it can."""
    names = eval_task_names()
    if name not in names:
        raise UnknownNameError("task", name, names)
