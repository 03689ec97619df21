"""Chunk scheduling and blending: which action to execute *now*, from the recent chunks.

Timing model: a chunk predicted from an observation stamped ``t_obs`` holds action ``i`` for
``t_obs + (i + 1) * dt``. It reaches the runtime one inference latency later; actions whose
time has passed are skipped, so latency never re-anchors the arm to the stale state the
model saw. Two ways to combine overlapping chunks:

- ``"ensemble"`` (temporal ensembling, ACT): at time t every chunk that covers t (from its
  arrival on) votes with weight ``exp(-k * j)``, j = 0 for the oldest; k > 0 favours older
  chunks (ACT's choice, smooth), k < 0 favours newer ones (reactive).
- ``"rtc"`` (real-time chunking, executed in the runtime): with the latency estimate L (the
  largest of the last few measured latencies, times a margin), the first
  ``d = ceil(L / dt)`` steps of a new chunk form the *frozen prefix*: they fall inside the
  inference that produced it, so the executing plan keeps them (and :meth:`frozen_prefix`
  offers them to a model able to inpaint them). At the switch point ``max(t_obs + d dt,
  arrival)`` the plan cross-fades linearly to the new chunk over ``H = max(d,
  min_blend_steps)`` steps. The command is continuous at the switch, and if the new chunk
  lags the plan by no more than the plan moves in one latency (a chunk anchored on a stale
  state), the blend never moves the arm backwards, because ``H dt >= L``.

Late chunks: when the frozen prefix would cover the whole chunk (a latency estimate longer
than the chunk lasts, e.g. one slow first call that stays in the estimate's window), the
chunk is executed from its arrival: its remaining part, cross-faded in over at most
``min_blend_steps`` steps and half of what is left. A chunk that arrives after its last
action is dropped (the arm holds). Both are counted (``chunks_late``,
``chunks_late_dropped``); the first logs one warning with the measured latency against the
chunk's horizon, naming the fixes (fewer sampling steps, a faster engine, a longer chunk).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from cosmos_policy.runtime.interp import ActionLayout, TimedActions
from cosmos_policy.runtime.telemetry import Telemetry
from cosmos_policy.spec import ActionChunk

log = logging.getLogger("cosmos_policy.runtime")

MODES = ("rtc", "ensemble")


@dataclass(frozen=True)
class SchedulerConfig:
    """mode: "rtc" or "ensemble".
    ensemble_k: exponent of the ensembling weights (per chunk, 1/chunk).
    min_blend_steps / max_blend_steps: bounds on the RTC cross-fade, in action steps.
    latency_window: how many recent latencies the estimate is the maximum of.
    latency_margin: factor (>= 1) on that maximum.
    max_chunks: chunks kept at most (oldest dropped first).
    """

    mode: str = "rtc"
    ensemble_k: float = 0.01
    min_blend_steps: int = 2
    max_blend_steps: int = 50
    latency_window: int = 10
    latency_margin: float = 1.0
    max_chunks: int = 8

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {list(MODES)}, got {self.mode!r}")
        if not math.isfinite(self.ensemble_k):
            raise ValueError("ensemble_k: expected a finite number")
        if not 1 <= self.min_blend_steps <= self.max_blend_steps:
            raise ValueError("blend steps: expected 1 <= min_blend_steps <= max_blend_steps")
        if self.latency_window < 1 or self.max_chunks < 2:
            raise ValueError("latency_window >= 1 and max_chunks >= 2 expected")
        if not self.latency_margin >= 1.0:
            raise ValueError(f"latency_margin: expected >= 1, got {self.latency_margin}")


@dataclass
class _Segment:
    """A plan and the window in which it takes over from the segments before it."""

    plan: TimedActions
    blend_start: float
    blend_end: float
    arrival: float


class ChunkScheduler:
    """Keeps timed actions from recent chunks and answers "what now?" at any time."""

    def __init__(self, layout: ActionLayout, config: SchedulerConfig | None = None,
                 telemetry: Telemetry | None = None) -> None:
        self.layout = layout
        self.config = config or SchedulerConfig()
        self.telemetry = telemetry
        self._segments: list[_Segment] = []
        self._latencies: deque[float] = deque(maxlen=self.config.latency_window)
        self.rejected = 0
        self.late = 0  # executed from their arrival, remaining part only
        self.late_dropped = 0  # arrived after their last action
        self._warned_late = False
        self.frozen_steps = 0
        self.blend_steps = 0

    # ------------------------------------------------------------------ input
    def seed(self, action: np.ndarray, now: float) -> None:
        """Start from a constant plan (the current pose), so the first chunk blends in."""
        plan = TimedActions(self.layout, np.asarray(action, dtype=np.float64)[None],
                            np.array([now]))
        self._segments = [_Segment(plan, -math.inf, -math.inf, now)]

    def add(self, chunk: ActionChunk, now: float, latency_s: float) -> bool:
        """Schedule a chunk of *absolute* actions that arrived at ``now`` after ``latency_s``.

        Returns False (and keeps the current plan) when the chunk has non-finite actions, the
        wrong width, or ended before it arrived (counted as late and dropped).
        """
        actions = np.asarray(chunk.actions, dtype=np.float64)
        if actions.shape[1] != self.layout.dim or not np.all(np.isfinite(actions)):
            self.rejected += 1
            return False
        if math.isfinite(latency_s) and latency_s >= 0:
            self._latencies.append(latency_s)
        plan = TimedActions(self.layout, actions, chunk.times())
        if self.config.mode == "ensemble" or not self._segments:
            start = max(now, plan.start) if not self._segments else now
            segment = _Segment(plan, start, start, now)
        else:
            d = self._frozen_steps(chunk.dt)
            switch = max(chunk.timestamp + d * chunk.dt, now)
            h = min(max(d, self.config.min_blend_steps), self.config.max_blend_steps)
            self.frozen_steps, self.blend_steps = d, h
            if switch >= plan.end and now < plan.end:
                # the prefix would swallow the chunk: run what is left of it from now, with a
                # short fade (at most half of what is left) so the command stays continuous
                fade = min(self.config.min_blend_steps * chunk.dt, (plan.end - now) / 2)
                segment = _Segment(plan, now, now + fade, now)
                self._late(chunk, now, latency_s, dropped=False)
            else:
                segment = _Segment(plan, switch, switch + h * chunk.dt, now)
        if plan.end < segment.blend_start:  # ended before it arrived: nothing left to run
            self.rejected += 1
            self._late(chunk, now, latency_s, dropped=True)
            return False
        self._segments.append(segment)
        if len(self._segments) > self.config.max_chunks:
            self._segments.pop(0)
        return True

    def reset(self) -> None:
        """Forget every plan (the latency history is kept)."""
        self._segments.clear()

    # ------------------------------------------------------------------ output
    def action_at(self, t: float) -> np.ndarray | None:
        """The action (D,) to execute at time ``t`` (s), or None before the first plan."""
        if not self._segments:
            return None
        self._prune(t)
        return self._value(t)

    def _value(self, t: float) -> np.ndarray:
        """The action at ``t`` from the segments kept; reads only."""
        if self.config.mode == "ensemble":
            return self._ensemble(t)
        value = self._segments[0].plan.at(t)
        for seg in self._segments[1:]:
            if t < seg.blend_start:
                break  # later segments start later still
            new = seg.plan.at(t)
            if t >= seg.blend_end:
                value = new
            else:
                w = (t - seg.blend_start) / (seg.blend_end - seg.blend_start)
                value = self.layout.blend(np.stack([value, new]), np.array([1.0 - w, w]))
        return value

    def frozen_prefix(self, t_obs: float, dt: float) -> np.ndarray:
        """Actions (d, D) the current plan executes at ``t_obs + (i + 1) dt``, i < d: the
        steps that will run during the next inference (for models that can inpaint them)."""
        d = self._frozen_steps(dt)
        if not self._segments or d == 0:
            return np.zeros((0, self.layout.dim))
        return np.stack([self._value(t_obs + (i + 1) * dt) for i in range(d)])

    @property
    def latency_estimate(self) -> float:
        """Seconds: the largest recent latency times the margin (0 before any)."""
        return max(self._latencies, default=0.0) * self.config.latency_margin

    @property
    def depth(self) -> int:
        """Chunks currently kept."""
        return len(self._segments)

    def plan_end(self) -> float:
        """Time (s) of the last action of the newest plan (-inf before any)."""
        return self._segments[-1].plan.end if self._segments else -math.inf

    # ------------------------------------------------------------------ internals
    def _late(self, chunk: ActionChunk, now: float, latency_s: float, *, dropped: bool) -> None:
        """Count a late chunk; warn the first time, with the latency against the horizon."""
        name = "chunks_late_dropped" if dropped else "chunks_late"
        if dropped:
            self.late_dropped += 1
        else:
            self.late += 1
        if self.telemetry is not None:
            self.telemetry.count(name)
        if self._warned_late:
            return
        self._warned_late = True
        age = now - chunk.timestamp
        measured = latency_s if math.isfinite(latency_s) and latency_s >= 0 else age
        horizon = len(chunk.actions) * chunk.dt
        log.warning(
            "a chunk came %.0f ms after its observation (inference %.0f ms, estimate %.0f ms) "
            "but lasts only %.0f ms (%d actions x %.0f ms): %s; further late chunks are only "
            "counted (%s). Use fewer sampling steps, a faster engine or a longer chunk.",
            age * 1e3, measured * 1e3, self.latency_estimate * 1e3, horizon * 1e3,
            len(chunk.actions), chunk.dt * 1e3,
            "dropped, the arm holds" if dropped else "executing only its remaining part",
            name)

    def _frozen_steps(self, dt: float) -> int:
        return max(1, math.ceil(self.latency_estimate / dt - 1e-9))

    def _prune(self, t: float) -> None:
        """Drop what can no longer matter at ``t`` or later."""
        if self.config.mode == "ensemble":
            # chunks that have ended go, but the newest stays to hold its last action
            self._segments = [s for s in self._segments if s.plan.end >= t] or self._segments[-1:]
            return
        last_done = 0  # once a segment has fully taken over, the ones before it are moot
        for i, seg in enumerate(self._segments):
            if seg.blend_end <= t:
                last_done = i
        if last_done:
            del self._segments[:last_done]

    def _ensemble(self, t: float) -> np.ndarray:
        live = [s for s in self._segments if s.blend_start <= t <= s.plan.end]
        if not live:
            return self._segments[-1].plan.at(t)
        if len(live) == 1:
            return live[0].plan.at(t)
        values = np.stack([s.plan.at(t) for s in live])
        weights = np.exp(-self.config.ensemble_k * np.arange(len(live)))
        return self.layout.blend(values, weights)
