"""Inference runners: call ``WorldActionModel.policy`` off the command path.

The control loop *submits* the newest observation and *polls* for finished chunks; it never
waits for the model. Two runners share that small contract:

- :class:`ThreadedInference`: a background thread runs the model back to back on the newest
  submitted observation (older ones are skipped, never queued). Real time.
- :class:`LockstepInference`: runs the model inline but releases each chunk only when the
  clock reaches ``start + latency``, with a fixed (simulated) or measured latency, so a
  simulation in lockstep sees the same timing as a robot, deterministically.

Every chunk is stamped with the timestamp of the observation it came from (a model that
stamps differently is corrected and counted as ``chunks_restamped``) and carries the
observation's state, which delta actions are relative to. Inference latency is measured
with ``time.perf_counter`` and recorded as the ``inference`` stage.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cosmos_policy.runtime.clock import Clock
from cosmos_policy.runtime.telemetry import Telemetry
from cosmos_policy.spec import ActionChunk, Observation, WorldActionModel


@dataclass(frozen=True)
class InferenceResult:
    """A chunk and where it came from.

    chunk: actions stamped with ``observation_time``.
    state: float32 (n + 1,) state of that observation (delta actions are relative to it).
    latency_s: wall time (s) the model took.
    ready_at: clock time (s) the chunk became available to the loop.
    """

    chunk: ActionChunk
    state: np.ndarray
    latency_s: float
    ready_at: float

    @property
    def observation_time(self) -> float:
        return self.chunk.timestamp


class InferenceRunner(Protocol):
    """What the control loop needs from an inference runner."""

    def submit(self, obs: Observation) -> None:
        """Offer the newest observation; it replaces any not yet started."""
        ...

    def poll(self, now: float) -> list[InferenceResult]:
        """Chunks finished by ``now`` (s, loop clock), oldest first; each returned once."""
        ...

    @property
    def busy(self) -> bool:
        """True while a model call is in flight."""
        ...

    def close(self) -> None:
        """Stop background work."""
        ...


def _stamped(chunk: ActionChunk, obs: Observation, telemetry: Telemetry) -> ActionChunk:
    if not isinstance(chunk, ActionChunk):
        raise TypeError(f"policy returned {type(chunk).__name__}, expected ActionChunk")
    if chunk.timestamp != obs.timestamp:
        telemetry.count("chunks_restamped")
        chunk = dataclasses.replace(chunk, timestamp=obs.timestamp)
    return chunk


class ThreadedInference:
    """Runs ``model.policy`` on a daemon thread, always on the newest submitted observation."""

    def __init__(self, model: WorldActionModel, clock: Clock,
                 telemetry: Telemetry | None = None) -> None:
        self.model = model
        self.clock = clock
        self.telemetry = telemetry or Telemetry()
        self.last_error: BaseException | None = None
        self._cv = threading.Condition()
        self._pending: Observation | None = None
        self._results: list[InferenceResult] = []
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="cosmos-inference", daemon=True)
        self._thread.start()

    def submit(self, obs: Observation) -> None:
        with self._cv:
            if self._pending is not None:
                self.telemetry.count("observations_skipped")
            self._pending = obs
            self._cv.notify()

    def poll(self, now: float) -> list[InferenceResult]:
        with self._cv:
            out, self._results = self._results, []
        return out

    @property
    def busy(self) -> bool:
        with self._cv:
            return self._busy or self._pending is not None

    def close(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                obs, self._pending, self._busy = self._pending, None, True
            t0 = time.perf_counter()
            try:
                chunk = _stamped(self.model.policy(obs), obs, self.telemetry)
            except Exception as exc:  # a model failure must not kill the runtime: count it
                self.last_error = exc
                self.telemetry.count("inference_errors")
                chunk = None
            latency = time.perf_counter() - t0
            self.telemetry.record("inference", latency)
            with self._cv:
                self._busy = False
                if chunk is not None:
                    self._results.append(InferenceResult(chunk, obs.state, latency,
                                                         self.clock.now()))


class LockstepInference:
    """Inline inference whose results appear after a simulated latency on the loop clock.

    latency_s: fixed latency (s) to simulate; None uses the measured wall time of each call.
    """

    def __init__(self, model: WorldActionModel, latency_s: float | None = None,
                 telemetry: Telemetry | None = None) -> None:
        if latency_s is not None and latency_s < 0:
            raise ValueError(f"latency_s: expected >= 0, got {latency_s}")
        self.model = model
        self.latency_s = latency_s
        self.telemetry = telemetry or Telemetry()
        self.last_error: BaseException | None = None
        self._pending: Observation | None = None
        self._in_flight: InferenceResult | None = None

    def submit(self, obs: Observation, now: float | None = None) -> None:
        """Offer ``obs``; it starts at ``now`` (default: its timestamp) when the runner is free."""
        if self._in_flight is None:
            self._start(obs, obs.timestamp if now is None else now)
        else:
            self._pending = obs

    def poll(self, now: float) -> list[InferenceResult]:
        out = []
        while self._in_flight is not None and self._in_flight.ready_at <= now:
            done, self._in_flight = self._in_flight, None
            out.append(done)
            if self._pending is not None:
                obs, self._pending = self._pending, None
                self._start(obs, max(done.ready_at, obs.timestamp))
        return out

    @property
    def busy(self) -> bool:
        return self._in_flight is not None

    def close(self) -> None:
        self._pending = self._in_flight = None

    def _start(self, obs: Observation, start: float) -> None:
        t0 = time.perf_counter()
        try:
            chunk = _stamped(self.model.policy(obs), obs, self.telemetry)
        except Exception as exc:  # same policy as the threaded runner: count, carry on
            self.last_error = exc
            self.telemetry.count("inference_errors")
            return
        wall = time.perf_counter() - t0
        latency = wall if self.latency_s is None else self.latency_s
        self.telemetry.record("inference", latency)
        self._in_flight = InferenceResult(chunk, obs.state, latency, start + latency)
