"""The control loop: observation -> action for now -> safety -> send -> subscribers.

Run it in lockstep with a simulator by calling :meth:`ControlLoop.tick` with the simulated
time, or on its own thread at the command rate with :meth:`ControlLoop.start` (real clock).
The loop never waits for the model: inference runs in an
:class:`~cosmos_policy.runtime.worker.InferenceRunner`. On its own thread it sleeps until
each deadline; a tick that ends after the next deadline counts the missed periods as
``deadline_misses`` and skips them (no bursts of catch-up commands).

Joint states that stop (a robot driver killed, a link down) make the watchdog hold within
``max_state_age_s``: the safety layer brakes at its acceleration bound. When they come back
the robot may be elsewhere (a restarted driver, an arm moved by hand), so the loop starts
again from the pose measured, at rest, through the resume ramp, and drops chunks planned from
observations before that; it never continues from where the last command left the arm.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cosmos_policy.runtime.clock import Clock
from cosmos_policy.runtime.postprocess import ActionProcessor
from cosmos_policy.runtime.safety import SafetyLayer, SentCommand, Watchdog
from cosmos_policy.runtime.scheduler import ChunkScheduler
from cosmos_policy.runtime.sync import ObservationSync
from cosmos_policy.runtime.telemetry import Telemetry
from cosmos_policy.runtime.worker import InferenceRunner

Subscriber = Callable[[SentCommand], None]
log = logging.getLogger("cosmos_policy.runtime")


@dataclass(frozen=True)
class LoopConfig:
    """rate_hz: command rate (the embodiment's ``control.command_rate_hz``).
    seed_from_state: start the plan at the measured pose so the first chunk blends in.
    switch_interval_s: if set, ``sys.setswitchinterval`` while the thread runs (process
    wide): how long a Python-heavy thread may hold the GIL before the loop gets it back.
    """

    rate_hz: float
    seed_from_state: bool = True
    switch_interval_s: float | None = None

    def __post_init__(self) -> None:
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise ValueError(f"rate_hz: expected a positive number, got {self.rate_hz}")
        if self.switch_interval_s is not None and not self.switch_interval_s > 0:
            raise ValueError("switch_interval_s: expected > 0")


class ControlLoop:
    """Wires the runtime pieces together; every piece is passed in (and replaceable)."""

    def __init__(self, *, config: LoopConfig, clock: Clock, sync: ObservationSync,
                 inference: InferenceRunner, scheduler: ChunkScheduler,
                 processor: ActionProcessor, safety: SafetyLayer,
                 watchdog: Watchdog | None = None, telemetry: Telemetry | None = None) -> None:
        self.config = config
        self.clock = clock
        self.sync = sync
        self.inference = inference
        self.scheduler = scheduler
        self.processor = processor
        self.safety = safety
        self.watchdog = watchdog or Watchdog()
        self.telemetry = telemetry or sync.telemetry
        self.scheduler.telemetry = self.scheduler.telemetry or self.telemetry  # late-chunk counts
        self.deadline_misses = 0
        self._subscribers: list[Subscriber] = []
        self._submitted = -math.inf
        self._obs_time: float | None = None
        self._last_chunk: float | None = None
        self._started = False
        # (now, newest state stamp) when the watchdog first held for stale joint states
        self._state_lost: tuple[float, float] | None = None
        self._stale_before = -math.inf  # chunks of observations up to this stamp are stale
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.telemetry.gauge("chunk_queue_depth", lambda: self.scheduler.depth)
        self.telemetry.gauge("deadline_misses", lambda: self.deadline_misses)
        self.telemetry.gauge("estop", lambda: self.safety.estopped)
        self.telemetry.gauge("latency_estimate_s", lambda: self.scheduler.latency_estimate)
        self.telemetry.gauge("rtc_frozen_steps", lambda: self.scheduler.frozen_steps)
        self.telemetry.gauge("rtc_blend_steps", lambda: self.scheduler.blend_steps)

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(command)`` after every command is sent."""
        self._subscribers.append(callback)

    # ------------------------------------------------------------------ one step
    def tick(self, now: float | None = None) -> SentCommand | None:
        """One command period at ``now`` (s, loop clock; default ``clock.now()``).

        Returns the command sent, or None while no joint state has arrived yet.
        """
        t0 = time.perf_counter()
        now = self.clock.now() if now is None else now
        obs = self.sync.latest()
        if obs is not None and obs.timestamp > self._submitted:
            self._submitted = self._obs_time = obs.timestamp
            self.inference.submit(obs)
        self._take_chunks(now)
        latest_state = self.sync.latest_state()
        if not self._started:
            if latest_state is None:
                self.telemetry.count("waiting_for_state")
                return None
            self._start(latest_state[0], now)
        elif self._state_lost is not None and latest_state is not None \
                and self.watchdog.state_fresh(now, latest_state[1]):
            self._resync(latest_state, now)
        t1 = time.perf_counter()
        action = self.scheduler.action_at(now)
        t2 = time.perf_counter()
        target, hold = None, None
        if action is not None:
            try:
                target = self.processor.to_joint_targets(action, self.safety.q_commanded)
            except Exception:  # a projector failure holds the arm; it must not stop the loop
                self.telemetry.count("projection_errors")
                hold = "projection_error"
        t3 = time.perf_counter()
        hold = hold or self.watchdog.check(
            now, self._obs_time, None if latest_state is None else latest_state[1],
            self._last_chunk, self.scheduler.plan_end())
        if hold == "stale_state" and self._state_lost is None:
            self._state_lost = (now, -math.inf if latest_state is None else latest_state[1])
        cmd = self.safety.send(target, now, hold)
        t4 = time.perf_counter()
        for callback in self._subscribers:
            try:
                callback(cmd)
            except Exception:  # a subscriber's bug is its own; the command is already out
                self.telemetry.count("subscriber_errors")
        for reason in cmd.reasons:
            self.telemetry.count(f"safety:{reason}")
        self.telemetry.record("blending", t2 - t1)
        self.telemetry.record("projection", t3 - t2)
        self.telemetry.record("command", t4 - t3)
        self.telemetry.record("tick", time.perf_counter() - t0)
        return cmd

    def _start(self, state, now: float) -> None:
        self.safety.reset(state, now)
        if self.config.seed_from_state:
            self.scheduler.seed(self.processor.current_action(state), now)
        self._started = True

    def _resync(self, latest_state: tuple[np.ndarray, float], now: float) -> None:
        """Joint states are back after the watchdog held for their absence: start again from
        the measured pose, at rest, as at the start (see the module docstring)."""
        state = latest_state[0]
        lost_at, last_stamp = self._state_lost  # type: ignore[misc]
        off = float(np.max(np.abs(state[: self.safety.n] - self.safety.q_commanded)))
        log.warning("joint states are back (held %.2f s for their absence): restarting from "
                    "the measured pose, %.3f rad from the last command", now - lost_at, off)
        self._state_lost = None
        self.safety.reset(state, now, ramp=True)
        if self.config.seed_from_state:
            self.scheduler.seed(self.processor.current_action(state), now)
        # Observations up to the last state before the gap show the arm where it was; any
        # later one holds a state from after the gap (the sync pairs frames within its
        # tolerance, far less than the watchdog's bound).
        self._stale_before = last_stamp
        self.telemetry.count("resyncs")

    def _take_chunks(self, now: float) -> None:
        for result in self.inference.poll(now):
            if result.chunk.timestamp <= self._stale_before:
                self.telemetry.count("chunks_before_resync")
                continue
            try:
                actions = self.processor.to_absolute(result.chunk.actions, result.state)
            except Exception:  # e.g. a delta chunk of the wrong width
                self.telemetry.count("chunks_rejected")
                continue
            chunk = dataclasses.replace(result.chunk, actions=actions)
            if self.scheduler.add(chunk, now, result.latency_s):
                self._last_chunk = now
                self.telemetry.count("chunks")
            else:
                self.telemetry.count("chunks_rejected")

    # ------------------------------------------------------------------ own thread
    def start(self) -> None:
        """Run :meth:`tick` at ``rate_hz`` on a thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("control loop already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cosmos-control", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        old_interval = sys.getswitchinterval()
        if self.config.switch_interval_s is not None:
            sys.setswitchinterval(self.config.switch_interval_s)
        try:
            period = 1.0 / self.config.rate_hz
            deadline = self.clock.now()
            while not self._stop.is_set():
                self.clock.sleep_until(deadline)
                start = self.clock.now()
                self.telemetry.record("jitter", max(0.0, start - deadline))
                try:
                    self.tick(start)
                except Exception:  # keep commanding; the count says it broke
                    self.telemetry.count("tick_errors")
                deadline += period
                late = self.clock.now() - deadline
                if late > 0:
                    missed = math.floor(late / period) + 1
                    self.deadline_misses += missed
                    deadline += missed * period
        finally:
            sys.setswitchinterval(old_interval)
