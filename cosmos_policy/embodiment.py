"""Embodiments are data: ``embodiments/<name>/embodiment.yaml`` + ``model.xml``.

This module loads and validates those files into frozen dataclasses. A bad file fails with
a :class:`~cosmos_policy.errors.ConfigError` naming the file, the field and what was
expected. Kinematics (FK, IK, the unified action space) live in
:mod:`cosmos_policy.kinematics`; this module only knows the data.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cosmos_policy.errors import ConfigError, UnknownNameError
from cosmos_policy.paths import embodiments_dir
from cosmos_policy.spec import ArraySpec, ObservationSpec

ACTION_TYPES = ("ee_pose", "joint")
REPRESENTATIONS = ("absolute", "delta")
UNIFIED_ARM_DIM = 10  # 3-D translation + 6-D rotation + 1-D gripper


@dataclass(frozen=True)
class Camera:
    """A camera: ``mjcf_camera`` names it in the scene; pose given for world-mounted ones.

    Intrinsics follow from the vertical field of view and the image size (pinhole, square
    pixels, principal point at the centre), as MuJoCo renders.
    """

    name: str
    mjcf_camera: str
    width: int
    height: int
    fovy_deg: float
    topic: str
    mount: str = "world"  # "world" or the MJCF body it is attached to
    pos: tuple[float, float, float] | None = None
    lookat: tuple[float, float, float] | None = None

    @property
    def intrinsics(self) -> np.ndarray:
        """3x3 camera matrix K in pixels."""
        f = 0.5 * self.height / math.tan(math.radians(self.fovy_deg) / 2)
        return np.array([[f, 0, self.width / 2], [0, f, self.height / 2], [0, 0, 1]])


@dataclass(frozen=True)
class Gripper:
    """Gripper joints and actuator; opening is normalised to [0, 1] (0 open, 1 closed)."""

    joints: tuple[str, ...]
    actuator: str
    open_position: float  # joint position (m or rad) of the first joint when open
    closed_position: float

    def opening(self, position: float) -> float:
        """The first joint's position (m or rad) -> opening in [0, 1] (clipped)."""
        x = (position - self.open_position) / (self.closed_position - self.open_position)
        return float(np.clip(x, 0.0, 1.0))

    def position(self, opening: float) -> float:
        """Opening in [0, 1] (clipped) -> the first joint's position (m or rad)."""
        x = float(np.clip(opening, 0.0, 1.0))
        return self.open_position + x * (self.closed_position - self.open_position)


@dataclass(frozen=True)
class Embodiment:
    """Everything the runtime, simulator and model need to know about one robot."""

    name: str
    description: str
    root: Path
    robot_type: str
    joints: tuple[str, ...]
    actuators: tuple[str, ...]
    position_limits: np.ndarray  # (N, 2) rad or m
    velocity_limits: np.ndarray  # (N,) per second
    acceleration_limits: np.ndarray  # (N,) per second^2
    jerk_limits: np.ndarray  # (N,) per second^3
    effort_limits: np.ndarray  # (N,) Nm or N
    home: np.ndarray  # (N,)
    ee_site: str
    base_body: str
    gripper: Gripper
    cameras: tuple[Camera, ...]
    control_rate_hz: float
    command_rate_hz: float
    action_type: str
    action_representation: str
    workspace_low: np.ndarray  # (3,) m, end-effector box in the base frame
    workspace_high: np.ndarray
    task_area_center: np.ndarray  # (2,) m, where task objects are placed (base frame)
    task_area_half_extent: np.ndarray  # (2,)
    cosmos3_domain: str | None
    cosmos3_viewpoint: str | None

    @property
    def model_path(self) -> Path:
        return self.root / "model.xml"

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    @property
    def state_dim(self) -> int:
        """Arm joint positions + gripper opening."""
        return self.n_joints + 1

    @property
    def action_dim(self) -> int:
        return UNIFIED_ARM_DIM if self.action_type == "ee_pose" else self.n_joints + 1

    def camera(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise UnknownNameError(f"camera of {self.name}", name, [c.name for c in self.cameras])

    def observation_spec(self, cameras: Sequence[str] | None = None,
                         image_size: tuple[int, int] | None = None) -> ObservationSpec:
        """Spec of observations: the named cameras (default all) at their (or the given) size."""
        names = list(cameras) if cameras is not None else [c.name for c in self.cameras]
        images = {}
        for name in names:
            cam = self.camera(name)
            h, w = image_size if image_size is not None else (cam.height, cam.width)
            images[name] = ArraySpec((h, w, 3), "uint8", 0, 255, "pixel")
        state = ArraySpec((self.state_dim,), "float32", units="rad|m, gripper 0..1")
        return ObservationSpec(images=images, state=state)


class _Fields:
    """Typed access to a YAML mapping; every failure names the file and the field."""

    def __init__(self, source: str, data: Any, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise ConfigError(source, prefix or "(top level)", "a mapping", type(data).__name__)
        self.source, self.data, self.prefix = source, data, prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, check: Callable[[Any], bool], expected: str,
            default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise ConfigError(self.source, self._name(key), f"{expected} (missing)")
            return default
        value = self.data[key]
        if not check(value):
            raise ConfigError(self.source, self._name(key), expected, value)
        return value

    def str(self, key: str, default: Any = ...) -> str:
        return self.get(key, lambda v: isinstance(v, str) and v != "", "a non-empty string",
                        default)

    def number(self, key: str, positive: bool = False, default: Any = ...) -> float:
        def ok(v: Any) -> bool:
            return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    and (v > 0 or not positive))
        return float(self.get(key, ok, "a positive number" if positive else "a number", default))

    def vector(self, key: str, n: int | None, positive: bool = False,
               default: Any = ...) -> np.ndarray:
        def ok(v: Any) -> bool:
            return (isinstance(v, list) and (n is None or len(v) == n)
                    and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                            and math.isfinite(x) and (x > 0 or not positive) for x in v))
        size = f"{n} " if n is not None else ""
        kind = "positive numbers" if positive else "numbers"
        value = self.get(key, ok, f"a list of {size}{kind}", default)
        return value if value is None else np.asarray(value, dtype=np.float64)

    def names(self, key: str) -> tuple[str, ...]:
        value = self.get(key, lambda v: isinstance(v, list) and v and all(
            isinstance(x, str) and x for x in v) and len(set(v)) == len(v),
            "a non-empty list of distinct names")
        return tuple(value)

    def choice(self, key: str, options: Sequence[str], default: Any = ...) -> str:
        return self.get(key, lambda v: v in options, f"one of {list(options)}", default)

    def section(self, key: str, default: Any = ...) -> _Fields:
        value = self.get(key, lambda v: isinstance(v, dict), "a mapping", default)
        return _Fields(self.source, value if value is not None else {}, self._name(key))


def load_embodiment_file(path: Path) -> Embodiment:
    """Load and validate one ``embodiment.yaml``; raises :class:`ConfigError` when bad."""
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(source, "(file)", "an existing embodiment.yaml") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, "(file)", f"valid YAML ({exc})") from exc
    f = _Fields(source, raw)
    arm = f.section("arm")
    joints = arm.names("joints")
    n = len(joints)
    actuators = arm.names("actuators")
    if len(actuators) != n:
        raise ConfigError(source, "arm.actuators", f"{n} names, one per joint", actuators)
    limits = arm.get("position_limits", lambda v: isinstance(v, list) and len(v) == n and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, (int, float)) for x in p)
        and p[0] < p[1] for p in v), f"{n} pairs [low, high] with low < high")
    position_limits = np.asarray(limits, dtype=np.float64)
    home = arm.vector("home", n)
    if np.any(home < position_limits[:, 0]) or np.any(home > position_limits[:, 1]):
        raise ConfigError(source, "arm.home", "a pose inside arm.position_limits", home.tolist())

    grip = f.section("gripper")
    gripper = Gripper(joints=grip.names("joints"), actuator=grip.str("actuator"),
                      open_position=grip.number("open_position"),
                      closed_position=grip.number("closed_position"))

    cameras = []
    cam_section = f.section("cameras")
    if not cam_section.data:
        raise ConfigError(source, "cameras", "at least one camera")
    for cam_name in cam_section.data:
        c = cam_section.section(cam_name)
        mount = c.str("mount", default="world")
        pos = c.vector("pos", 3, default=None)
        lookat = c.vector("lookat", 3, default=None)
        if mount == "world" and (pos is None or lookat is None):
            raise ConfigError(source, f"cameras.{cam_name}", "pos and lookat for a world camera")
        cameras.append(Camera(
            name=cam_name, mjcf_camera=c.str("mjcf_camera", default=cam_name),
            width=int(c.number("width", positive=True)),
            height=int(c.number("height", positive=True)),
            fovy_deg=c.number("fovy_deg", positive=True),
            topic=c.str("topic", default=f"/camera/{cam_name}/image_raw"), mount=mount,
            pos=None if pos is None else tuple(pos),
            lookat=None if lookat is None else tuple(lookat)))

    control = f.section("control")
    action = f.section("action_space")
    ws = f.section("workspace")
    ws_low, ws_high = ws.vector("low", 3), ws.vector("high", 3)
    if np.any(ws_low >= ws_high):
        raise ConfigError(source, "workspace", "low < high on every axis")
    task = f.section("task_area")
    cosmos3 = f.section("cosmos3", default=None)
    name = f.str("name")
    if name != path.parent.name:
        raise ConfigError(source, "name", f"the folder name '{path.parent.name}'", name)
    model = path.parent / "model.xml"
    if not model.is_file():
        raise ConfigError(source, "(folder)", f"a model.xml beside it at {model}")
    return Embodiment(
        name=name, description=f.str("description"), root=path.parent,
        robot_type=f.str("robot_type", default=name), joints=joints, actuators=actuators,
        position_limits=position_limits,
        velocity_limits=arm.vector("velocity_limits", n, positive=True),
        acceleration_limits=arm.vector("acceleration_limits", n, positive=True),
        jerk_limits=arm.vector("jerk_limits", n, positive=True),
        effort_limits=arm.vector("effort_limits", n, positive=True),
        home=home, ee_site=f.section("end_effector").str("site"),
        base_body=f.str("base_body"), gripper=gripper, cameras=tuple(cameras),
        control_rate_hz=control.number("rate_hz", positive=True),
        command_rate_hz=control.number("command_rate_hz", positive=True),
        action_type=action.choice("type", ACTION_TYPES),
        action_representation=action.choice("representation", REPRESENTATIONS),
        workspace_low=ws_low, workspace_high=ws_high,
        task_area_center=task.vector("center", 2),
        task_area_half_extent=task.vector("half_extent", 2, positive=True),
        cosmos3_domain=cosmos3.str("domain", default=None),
        cosmos3_viewpoint=cosmos3.str("viewpoint", default=None),
    )


def available_embodiments() -> list[str]:
    """Names of the folders under ``embodiments/`` that hold an ``embodiment.yaml``."""
    root = embodiments_dir()
    return sorted(p.parent.name for p in root.glob("*/embodiment.yaml"))


@functools.cache
def load_embodiment(name_or_path: str) -> Embodiment:
    """Load a shipped embodiment by name, or any ``embodiment.yaml`` (or its folder) by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_dir():
        return load_embodiment_file(path / "embodiment.yaml" if path.is_dir() else path)
    valid = available_embodiments()
    if name_or_path not in valid:
        raise UnknownNameError("embodiment", name_or_path, valid)
    return load_embodiment_file(embodiments_dir() / name_or_path / "embodiment.yaml")
