"""Wire <-> core conversions other than images: stamps, joint states, prompts, commands,
diagnostics.

Inbound decoders validate and raise :class:`~cosmos_policy.transport.rejection.WireRejection`
with a reason; outbound encoders refuse non-finite values with ``ValueError`` (a bug in the
caller, never something to put on the wire).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.spec import MAX_PROMPT_CHARS
from cosmos_policy.transport import msgs
from cosmos_policy.transport.rejection import StampOrder, WireRejection

NS = 1_000_000_000


# ---------------------------------------------------------------- time


def stamp_to_seconds(stamp: msgs.Time | msgs.Duration) -> float:
    """builtin_interfaces Time/Duration -> float seconds."""
    return int(stamp.sec) + int(stamp.nanosec) / NS


def _split(seconds: float) -> tuple[int, int]:
    if not math.isfinite(seconds):
        raise ValueError(f"time {seconds} s is not finite")
    total = round(seconds * NS)
    sec, nanosec = divmod(total, NS)  # floor division keeps nanosec in [0, 1e9)
    if not -(2**31) <= sec < 2**31:
        raise ValueError(f"time {seconds} s does not fit builtin_interfaces (int32 seconds)")
    return int(sec), int(nanosec)


def seconds_to_stamp(seconds: float) -> msgs.Time:
    """Float seconds -> builtin_interfaces/Time (nanosec in [0, 1e9))."""
    return msgs.Time(*_split(seconds))


def seconds_to_duration(seconds: float) -> msgs.Duration:
    """Float seconds -> builtin_interfaces/Duration (nanosec in [0, 1e9))."""
    return msgs.Duration(*_split(seconds))


def header_seconds(header: msgs.Header) -> float:
    """A header's stamp in seconds; rejects a nanosec field outside [0, 1e9)."""
    if not 0 <= int(header.stamp.nanosec) < NS:
        raise WireRejection("bad_stamp", f"nanosec {header.stamp.nanosec} outside [0, 1e9)")
    return stamp_to_seconds(header.stamp)


# ---------------------------------------------------------------- joint states


@dataclass(frozen=True)
class JointReading:
    """A joint state in embodiment order.

    state: float32 (n + 1,) arm positions (rad or m) then gripper opening in [0, 1].
    velocities: float32 (n,) arm velocities, or None when the message had none.
    stamp: header stamp, s.
    """

    state: np.ndarray
    velocities: np.ndarray | None
    stamp: float


class JointStateDecoder:
    """sensor_msgs/JointState -> :class:`JointReading` in the embodiment's joint order.

    Names may come in any order. A name that is neither an arm nor a gripper joint is
    refused (``unknown_joint``), as are duplicates, missing arm joints, arrays of the wrong
    length and NaN/inf. The gripper opening may arrive in the same message or a separate
    one (as franka_gripper publishes it): a message with gripper joints only updates the
    opening and yields None; an arm message before any gripper opening is refused.
    """

    def __init__(self, embodiment: Embodiment, stamps: StampOrder | None = None) -> None:
        self.arm = tuple(embodiment.joints)
        self.gripper_joints = tuple(embodiment.gripper.joints)
        self._gripper_spec = embodiment.gripper
        self._known = set(self.arm) | set(self.gripper_joints)
        self.stamps = stamps or StampOrder()
        self.gripper: float | None = None

    def decode(self, msg: msgs.JointState) -> JointReading | None:
        """Validate ``msg``; raises :class:`WireRejection`."""
        names = list(msg.name)
        n = len(names)
        if n == 0:
            raise WireRejection("missing_joint", "no joint names")
        for field, values in (("position", msg.position), ("velocity", msg.velocity),
                              ("effort", msg.effort)):
            if len(values) not in ((n,) if field == "position" else (0, n)):
                raise WireRejection(
                    "bad_size", f"{len(values)} {field} values for {n} names")
        unknown = sorted(set(names) - self._known)
        if unknown:
            raise WireRejection("unknown_joint", f"unknown joints {unknown}")
        if len(set(names)) != n:
            raise WireRejection("duplicate_joint", f"duplicate names in {names}")
        pos = np.asarray(msg.position, dtype=np.float64)
        vel = np.asarray(msg.velocity, dtype=np.float64) if len(msg.velocity) else None
        if not np.all(np.isfinite(pos)) or (vel is not None and not np.all(np.isfinite(vel))):
            raise WireRejection("non_finite", "NaN or inf in position or velocity")
        index = {name: i for i, name in enumerate(names)}
        has_arm = any(j in index for j in self.arm)
        missing = [j for j in self.arm if j not in index]
        if has_arm and missing:
            raise WireRejection("missing_joint", f"missing arm joints {missing}")
        stamp = header_seconds(msg.header)
        self.stamps.check("joint_states" if has_arm else "gripper_states", stamp)
        g_name = self.gripper_joints[0] if self.gripper_joints else None
        if g_name in index:
            self.gripper = self._gripper_spec.opening(float(pos[index[g_name]]))
        if not has_arm:
            if g_name not in index:
                raise WireRejection("missing_joint", f"neither arm joints nor {g_name!r}")
            return None
        if self.gripper is None:
            raise WireRejection("missing_joint", f"no gripper opening yet ({g_name!r})")
        order = [index[j] for j in self.arm]
        state = np.append(pos[order], self.gripper).astype(np.float32)
        return JointReading(state, None if vel is None else vel[order].astype(np.float32), stamp)


def joint_state_msg(names: Sequence[str], positions: Sequence[float],
                    velocities: Sequence[float] = (), stamp: float = 0.0) -> msgs.JointState:
    """Build a sensor_msgs/JointState (for simulators and tests)."""
    return msgs.JointState(header=msgs.Header(stamp=seconds_to_stamp(stamp)), name=list(names),
                           position=[float(p) for p in positions],
                           velocity=[float(v) for v in velocities])


# ---------------------------------------------------------------- prompt


def prompt_from_msg(msg: msgs.String, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """std_msgs/String -> prompt text, stripped; refuses empty, huge or control characters."""
    text = msg.data.strip()
    if not text:
        raise WireRejection("empty_prompt", "prompt is empty")
    if len(text) > max_chars:
        raise WireRejection("huge_prompt",
                            f"prompt has {len(text)} characters, at most {max_chars}")
    if any(not (c.isprintable() or c in "\n\t") for c in text):
        raise WireRejection("bad_prompt", "prompt holds control characters")
    return text


# ---------------------------------------------------------------- commands


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: NaN or inf; refusing to put it on the wire")
    return values


def trajectory_msg(joint_names: Sequence[str], positions: np.ndarray,
                   times_from_start: Sequence[float], velocities: np.ndarray | None = None,
                   stamp: float = 0.0) -> msgs.JointTrajectory:
    """trajectory_msgs/JointTrajectory with one point per row.

    positions: (T, n) rad or m, columns in ``joint_names`` order.
    times_from_start: (T,) s, strictly increasing and > 0.
    velocities: optional (T, n). ``stamp`` 0 means "start now" to joint_trajectory_controller.
    """
    pos = _finite("positions", np.asarray(positions, dtype=np.float64))
    times = _finite("times_from_start", np.asarray(times_from_start, dtype=np.float64))
    if pos.ndim != 2 or pos.shape[1] != len(joint_names) or times.shape != (len(pos),):
        raise ValueError(f"positions {pos.shape} and times {times.shape} do not fit "
                         f"{len(joint_names)} joints")
    if len(times) == 0 or times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times_from_start must be > 0 and strictly increase")
    vel = None
    if velocities is not None:
        vel = _finite("velocities", np.asarray(velocities, dtype=np.float64))
        if vel.shape != pos.shape:
            raise ValueError(f"velocities {vel.shape}, expected {pos.shape}")
    points = [msgs.JointTrajectoryPoint(
        positions=pos[i].tolist(), velocities=[] if vel is None else vel[i].tolist(),
        time_from_start=seconds_to_duration(float(times[i]))) for i in range(len(pos))]
    return msgs.JointTrajectory(header=msgs.Header(stamp=seconds_to_stamp(stamp)),
                                joint_names=list(joint_names), points=points)


def command_to_trajectory(command: Any, joint_names: Sequence[str],
                          time_from_start: float) -> msgs.JointTrajectory:
    """A runtime ``SentCommand`` (positions (n + 1,), velocities (n,)) -> a one-point
    trajectory over the first ``len(joint_names)`` values, reached ``time_from_start`` s
    after receipt (typically the command period)."""
    n = len(joint_names)
    pos = np.asarray(command.positions, dtype=np.float64)[:n]
    vel = np.asarray(command.velocities, dtype=np.float64)
    return trajectory_msg(joint_names, pos[None], [time_from_start],
                          vel[None, :n] if vel.shape[0] >= n else None)


def float64_array_msg(values: Sequence[float] | np.ndarray,
                      label: str = "") -> msgs.Float64MultiArray:
    """std_msgs/Float64MultiArray of a 1-D vector (what forward_command_controller reads)."""
    data = _finite("values", np.asarray(values, dtype=np.float64))
    if data.ndim != 1:
        raise ValueError(f"expected a 1-D vector, got shape {data.shape}")
    dims = [msgs.MultiArrayDimension(label=label, size=len(data), stride=len(data))] if label \
        else []
    return msgs.Float64MultiArray(layout=msgs.MultiArrayLayout(dim=dims, data_offset=0),
                                  data=data.tolist())


# ---------------------------------------------------------------- gripper


def gripper_joint_position(embodiment: Embodiment, opening: float) -> float:
    """A gripper command in [0, 1] (0 open, 1 closed) -> the position (m or rad) of the
    gripper's first joint, what a position controller of that joint takes."""
    if not math.isfinite(opening):
        raise ValueError("gripper command: NaN or inf")
    return embodiment.gripper.position(opening)


class GripperPacer:
    """When a gripper command goes on the wire: at once when it moved more than ``tol`` (of
    the [0, 1] range) from the last one sent, else every ``period_s``. Repeating it means a
    robot whose gripper was reset between episodes, or a controller that restarted, gets
    the command again without a new one having to differ."""

    def __init__(self, period_s: float = 0.1, tol: float = 0.01) -> None:
        self.period_s, self.tol = period_s, tol
        self._last: tuple[float, float] | None = None  # (opening, time) last sent

    def due(self, opening: float, now: float) -> bool:
        last = self._last
        if (last is not None and abs(opening - last[0]) <= self.tol
                and 0.0 <= now - last[1] < self.period_s):
            return False
        self._last = (opening, now)
        return True


# ---------------------------------------------------------------- diagnostics


def _flatten(prefix: str, value: Any, out: list[msgs.KeyValue]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif isinstance(value, float):
        out.append(msgs.KeyValue(prefix, f"{value:.6g}"))
    else:
        out.append(msgs.KeyValue(prefix, str(value)))


def diagnostics_msg(telemetry: Mapping[str, Any], name: str = "cosmos_policy",
                    level: int = msgs.DIAG_OK, message: str = "", hardware_id: str = "",
                    stamp: float = 0.0) -> msgs.DiagnosticArray:
    """A telemetry dict (nested, e.g. ``Telemetry.snapshot()``) -> DiagnosticArray with one
    status whose values are the flattened ``a.b.c`` keys, sorted."""
    if level not in (msgs.DIAG_OK, msgs.DIAG_WARN, msgs.DIAG_ERROR, msgs.DIAG_STALE):
        raise ValueError(f"diagnostic level {level}; expected 0..3")
    values: list[msgs.KeyValue] = []
    _flatten("", telemetry, values)
    status = msgs.DiagnosticStatus(level=level, name=name, message=message,
                                   hardware_id=hardware_id, values=values)
    return msgs.DiagnosticArray(header=msgs.Header(stamp=seconds_to_stamp(stamp)),
                                status=[status])


__all__ = [
    "MAX_PROMPT_CHARS", "GripperPacer", "JointReading", "JointStateDecoder",
    "command_to_trajectory", "diagnostics_msg", "float64_array_msg", "gripper_joint_position",
    "header_seconds", "joint_state_msg", "prompt_from_msg", "seconds_to_duration",
    "seconds_to_stamp", "stamp_to_seconds", "trajectory_msg",
]
