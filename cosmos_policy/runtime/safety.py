"""The safety layer every command passes, and the watchdog that decides when to hold.

Guarantees, for the stream of *commanded* joint positions ``q_k`` at period ``dt`` (finite
differences ``v_k = (q_k - q_{k-1}) / dt``, ``a_k``, ``j_k`` likewise), whatever the target:

- every ``q_k`` is finite and inside the position limits (shrunk by ``position_margin``);
- ``|v_k| <= velocity``, ``|a_k| <= A = min(acceleration, jerk * dt / 2)`` (so
  ``|j_k| <= jerk`` follows), hence ``|q_k - q_{k-1}| <= velocity * dt``;
- with a forward-kinematics callable, the end effector stays in the workspace box.

The callable and its per-joint reach bounds are injected by whoever builds the loop
(:func:`cosmos_policy.kinematics.workspace_guard` makes both from the arm's MJCF), so this
module, like all of ``runtime/``, imports no MuJoCo.

How: the next velocity is the target velocity clipped into an interval that is never empty:
reachable within the acceleration bound, below the velocity limit, and slow enough to brake
before the position limits (``v <= -A dt + sqrt((A dt)^2 + 2 A gap)``). For the workspace the
layer keeps ``M = distance to the box faces - sum_i reach_i * braking_distance_i`` from going
below zero (``reach_i`` bounds how far the end effector moves per radian of joint i); full
braking never lowers M, so a safe choice always exists and is found by bisection.

Holding (watchdog, e-stop, bad target) means braking at the acceleration bound to a stop and
staying there; leaving a hold ramps the allowed speed back up over ``resume_s``.
The gripper command is clipped to [0, 1] and held through a hold or a non-finite value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from cosmos_policy.embodiment import Embodiment

FK = Callable[[np.ndarray], np.ndarray]  # joints (n,) -> end-effector position (3,), m


@dataclass(frozen=True)
class SentCommand:
    """A command as sent: joint positions + gripper (n + 1,), joint velocities (n,) implied
    by the step from the previous command, the time (s) it is for, and why it differs from
    the target (empty when it does not)."""

    time: float
    positions: np.ndarray
    velocities: np.ndarray
    reasons: tuple[str, ...] = ()

    @property
    def modified(self) -> bool:
        return bool(self.reasons)


class CommandSink(Protocol):
    """Where commands go: a ROS publisher, a simulator's actuators, a recorder."""

    def send(self, command: SentCommand) -> None:
        ...


@dataclass(frozen=True, eq=False)
class SafetyConfig:
    """Limits per joint (n,), in rad (or m) and per second; ``dt`` is the command period (s).

    workspace_low/high: (3,) m box for the end effector (base frame), or None.
    reach: (n,) m/rad bound on the end-effector speed per joint speed; needed with a box.
    """

    position_low: np.ndarray
    position_high: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    jerk: np.ndarray
    dt: float
    workspace_low: np.ndarray | None = None
    workspace_high: np.ndarray | None = None
    reach: np.ndarray | None = None
    position_margin: float = 0.0
    resume_s: float = 1.0
    bisect_steps: int = 10
    accel: np.ndarray = field(init=False)  # effective acceleration bound

    def __post_init__(self) -> None:
        n = len(self.position_low)
        for name in ("position_high", "velocity", "acceleration", "jerk"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: expected {n} finite numbers, got {arr}")
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "position_low", np.asarray(self.position_low, float))
        for name in ("velocity", "acceleration", "jerk"):
            if np.any(getattr(self, name) <= 0):
                raise ValueError(f"{name}: expected positive limits")
        if not self.dt > 0:
            raise ValueError(f"dt: expected > 0, got {self.dt}")
        if self.position_margin < 0 or np.any(
                self.position_high - self.position_low <= 2 * self.position_margin):
            raise ValueError("position_margin: expected >= 0 and smaller than half each range")
        if not self.resume_s >= 0:
            raise ValueError(f"resume_s: expected >= 0, got {self.resume_s}")
        if (self.workspace_low is None) != (self.workspace_high is None):
            raise ValueError("workspace_low and workspace_high: give both or neither")
        if self.reach is not None:
            reach = np.asarray(self.reach, dtype=np.float64)
            if reach.shape != (n,) or np.any(reach < 0) or not np.all(np.isfinite(reach)):
                raise ValueError(f"reach: expected {n} finite numbers >= 0")
            object.__setattr__(self, "reach", reach)
        object.__setattr__(self, "accel", np.minimum(self.acceleration, self.jerk * self.dt / 2))

    @classmethod
    def from_embodiment(cls, embodiment: Embodiment, *, reach: np.ndarray | None = None,
                        use_workspace: bool = True, **overrides: float) -> SafetyConfig:
        """Limits, command period and workspace box from ``embodiment.yaml``."""
        lim = embodiment.position_limits
        ws = use_workspace and reach is not None
        return cls(position_low=lim[:, 0], position_high=lim[:, 1],
                   velocity=embodiment.velocity_limits,
                   acceleration=embodiment.acceleration_limits, jerk=embodiment.jerk_limits,
                   dt=1.0 / embodiment.command_rate_hz,
                   workspace_low=embodiment.workspace_low if ws else None,
                   workspace_high=embodiment.workspace_high if ws else None,
                   reach=reach if ws else None, **overrides)


class SafetyLayer:
    """Filters targets into safe commands and forwards them to an optional sink."""

    def __init__(self, config: SafetyConfig, fk: FK | None = None,
                 sink: CommandSink | None = None) -> None:
        if config.workspace_low is not None and (fk is None or config.reach is None):
            raise ValueError("a workspace box needs an fk callable and config.reach")
        self.config = config
        self.fk = fk if config.workspace_low is not None else None
        self.sink = sink
        self.n = len(config.position_low)
        self._low = config.position_low + config.position_margin
        self._high = config.position_high - config.position_margin
        self._q: np.ndarray | None = None
        self._v = np.zeros(self.n)
        self._g = 0.0
        self._margin = 0.0
        self._estop = False
        self._holding = False
        self._resume_from: float | None = None
        self.last: SentCommand | None = None

    # ------------------------------------------------------------------ state
    def reset(self, state: np.ndarray, now: float, *, ramp: bool = False) -> None:
        """Start from the measured state (n + 1,) at rest; clears holds (not the e-stop).

        ramp: leave through the resume ramp, as after a hold (a robot that came back).
        """
        state = np.asarray(state, dtype=np.float64)
        self._q, self._v, self._g = state[: self.n].copy(), np.zeros(self.n), float(state[-1])
        self._margin = self._workspace_margin(self._q, self._v)
        self._holding, self._resume_from = ramp, None
        self.last = SentCommand(now, state.copy(), np.zeros(self.n), ("reset",))

    def estop(self) -> None:
        """Latch the emergency stop: brake to a stop and hold until :meth:`release_estop`."""
        self._estop = True

    def release_estop(self) -> None:
        """Unlatch the emergency stop; motion resumes through the speed ramp."""
        self._estop = False

    @property
    def estopped(self) -> bool:
        return self._estop

    @property
    def q_commanded(self) -> np.ndarray | None:
        """The last commanded joint positions (n,), or None before :meth:`reset`."""
        return None if self._q is None else self._q.copy()

    # ------------------------------------------------------------------ the filter
    def send(self, target: np.ndarray | None, now: float,
             hold: str | None = None) -> SentCommand:
        """Make ``target`` (n + 1,) safe, send it to the sink, return what was sent.

        ``hold`` names a reason to stop (e.g. from the watchdog); a None target also holds.
        """
        if self._q is None:
            raise RuntimeError("SafetyLayer.send before reset(state): the start pose is unknown")
        cfg, n = self.config, self.n
        reasons: list[str] = []
        if self._estop:
            hold = "estop"
        elif hold is None and target is None:
            hold = "no_target"
        if hold is None:
            target = np.asarray(target, dtype=np.float64)
            if target.shape != (n + 1,):
                hold = "bad_target_shape"
            elif not np.all(np.isfinite(target[:n])):
                hold = "non_finite"
        scale = self._speed_scale(now, hold is not None)
        q, v, dt, A, V = self._q, self._v, cfg.dt, cfg.accel, cfg.velocity
        if hold is not None:
            reasons.append(f"hold:{hold}")
            v_des = np.zeros(n)
        else:
            if np.any(target[:n] < self._low) or np.any(target[:n] > self._high):
                reasons.append("position_limit")
            v_des = (target[:n] - q) / dt
            if np.any(np.abs(v_des) > V):
                reasons.append("velocity_limit")
            if scale < 1.0 and np.any(np.abs(v_des) > scale * V):
                reasons.append("resume_ramp")
            v_des = np.clip(v_des, -scale * V, scale * V)
        brake_hi = -A * dt + np.sqrt((A * dt) ** 2 + 2 * A * np.maximum(self._high - q, 0.0))
        brake_lo = -A * dt + np.sqrt((A * dt) ** 2 + 2 * A * np.maximum(q - self._low, 0.0))
        acc_lo, acc_hi = v - A * dt, v + A * dt
        v_lo = np.maximum(np.maximum(-V, -brake_lo), acc_lo)
        v_hi = np.minimum(np.minimum(V, brake_hi), acc_hi)
        v_hi = np.maximum(v_hi, v_lo)  # only rounding can cross them (the interval is never empty)
        v_new = np.clip(v_des, v_lo, v_hi)
        if hold is None and (np.any(v_des < acc_lo) or np.any(v_des > acc_hi)):
            reasons.append("acceleration_limit")
        if self.fk is not None:
            v_new = self._keep_in_workspace(q, v_new, np.clip(0.0, v_lo, v_hi), reasons)
        q_new = q + v_new * dt
        g = self._g
        if hold is None:
            if math.isfinite(target[n]):
                g = float(np.clip(target[n], 0.0, 1.0))
                if g != target[n]:
                    reasons.append("gripper_clip")
            else:
                reasons.append("gripper_non_finite")
        self._q, self._v, self._g = q_new, v_new, g
        cmd = SentCommand(now, np.append(q_new, g), v_new.copy(), tuple(reasons))
        self.last = cmd
        if self.sink is not None:
            self.sink.send(cmd)
        return cmd

    # ------------------------------------------------------------------ internals
    def _speed_scale(self, now: float, holding: bool) -> float:
        """1 normally; ramps 0 -> 1 over resume_s after a hold ends."""
        if holding:
            self._holding, self._resume_from = True, None
            return 1.0
        if self._holding:
            self._holding, self._resume_from = False, now
        if self._resume_from is None or self.config.resume_s == 0:
            return 1.0
        s = (now - self._resume_from) / self.config.resume_s
        if s >= 1.0:
            self._resume_from = None
            return 1.0
        return max(s, 0.0)

    def _braking_distance(self, v: np.ndarray) -> np.ndarray:
        """Distance (n,) covered braking from ``v`` at the bound, in this layer's steps."""
        step = self.config.accel * self.config.dt
        speed = np.abs(v)
        m = np.floor(speed / step)
        return self.config.dt * (m * speed - step * m * (m + 1) / 2)

    def _workspace_margin(self, q: np.ndarray, v: np.ndarray) -> float:
        if self.fk is None:
            return 0.0
        p = np.asarray(self.fk(q), dtype=np.float64)
        inside = min(np.min(p - self.config.workspace_low), np.min(self.config.workspace_high - p))
        return float(inside - self.config.reach @ self._braking_distance(v))

    def _keep_in_workspace(self, q: np.ndarray, v_new: np.ndarray, v_stop: np.ndarray,
                           reasons: list[str]) -> np.ndarray:
        """Largest step towards ``v_new`` from full braking that keeps the margin >= floor."""
        dt = self.config.dt
        floor = min(0.0, self._margin)
        margin = self._workspace_margin(q + v_new * dt, v_new)
        if margin >= floor:
            self._margin = margin
            return v_new
        reasons.append("workspace")
        ok, bad = 0.0, 1.0
        best = self._workspace_margin(q + v_stop * dt, v_stop)
        for _ in range(self.config.bisect_steps):
            mid = 0.5 * (ok + bad)
            v_mid = v_stop + mid * (v_new - v_stop)
            m = self._workspace_margin(q + v_mid * dt, v_mid)
            if m >= floor:
                ok, best = mid, m
            else:
                bad = mid
        self._margin = best
        return v_stop + ok * (v_new - v_stop)


@dataclass(frozen=True)
class WatchdogConfig:
    """Hold when the inputs go stale (seconds on the loop clock).

    max_observation_age_s: newest consistent observation older than this.
    max_state_age_s: newest joint state older than this.
    max_chunk_gap_s: no new chunk for this long (inference overrun or failure).
    """

    max_observation_age_s: float = 0.5
    max_state_age_s: float = 0.2
    max_chunk_gap_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_observation_age_s", "max_state_age_s", "max_chunk_gap_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")


class Watchdog:
    """Names the reason to hold at ``now``, or None when everything is fresh."""

    def __init__(self, config: WatchdogConfig | None = None) -> None:
        self.config = config or WatchdogConfig()

    def state_fresh(self, now: float, state_time: float | None) -> bool:
        """Whether a joint state stamped ``state_time`` is recent enough at ``now``."""
        return state_time is not None and now - state_time <= self.config.max_state_age_s

    def check(self, now: float, observation_time: float | None, state_time: float | None,
              last_chunk_time: float | None, plan_end: float) -> str | None:
        cfg = self.config
        if not self.state_fresh(now, state_time):
            return "stale_state"
        if observation_time is None or now - observation_time > cfg.max_observation_age_s:
            return "stale_observation"
        if last_chunk_time is None:
            return "waiting_for_chunk"
        if now - last_chunk_time > cfg.max_chunk_gap_s:
            return "inference_overrun"
        if now > plan_end:
            return "plan_exhausted"
        return None
