"""Clocks: the runtime never reads time on its own, it asks a clock it was given.

All runtime times are seconds on one clock, the clock of the observation stamps: a
monotonic clock on a workstation, simulated time in MuJoCo, ROS time on a robot. Latency
*measurements* (how long inference or a tick took) always use ``time.perf_counter``, which
is monotonic and independent of the clock object.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of time in seconds."""

    def now(self) -> float:
        """Current time (s) on this clock."""
        ...

    def sleep_until(self, t: float) -> None:
        """Block (or, for simulated clocks, advance) until :meth:`now` >= ``t``."""
        ...


class MonotonicClock:
    """``time.monotonic`` seconds; sleeps with ``time.sleep`` (no busy waiting)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class ManualClock:
    """Simulated time that moves only when told to: for lockstep simulation and tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def set(self, t: float) -> None:
        """Jump to ``t`` (s); time never goes backwards."""
        with self._lock:
            if t < self._t:
                raise ValueError(f"time goes forward only: {t} < {self._t}")
            self._t = float(t)

    def advance(self, dt: float) -> float:
        """Move forward by ``dt`` seconds and return the new time."""
        with self._lock:
            if dt < 0:
                raise ValueError(f"dt must be >= 0, got {dt}")
            self._t += dt
            return self._t

    def sleep_until(self, t: float) -> None:
        with self._lock:
            self._t = max(self._t, float(t))
