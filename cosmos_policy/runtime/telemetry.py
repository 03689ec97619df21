"""Telemetry: per-stage latency percentiles and counters, as a plain snapshot dict.

Stages are recorded by the runtime pieces; any shell publishes :meth:`Telemetry.snapshot`
(ROS ``/diagnostics``, the evaluation report JSON, a log line). Recording is O(1) and
thread-safe; percentiles are computed only when a snapshot is taken.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

STAGES = ("camera_to_observation", "inference", "blending", "projection", "command", "tick")


class LatencyStats:
    """The last ``window`` samples of one latency (s), with count, p50, p99 and max."""

    def __init__(self, window: int = 2000) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._samples.append(float(seconds))
        self.count += 1

    def summary(self) -> dict[str, float | int]:
        """``{"count", "p50_ms", "p99_ms", "max_ms"}`` over the window (NaN when empty)."""
        if not self._samples:
            nan = float("nan")
            return {"count": self.count, "p50_ms": nan, "p99_ms": nan, "max_ms": nan}
        a = np.fromiter(self._samples, dtype=np.float64) * 1e3
        p50, p99 = np.percentile(a, [50, 99])
        return {"count": self.count, "p50_ms": float(p50), "p99_ms": float(p99),
                "max_ms": float(a.max())}

    def values(self) -> np.ndarray:
        """The samples in the window, seconds."""
        return np.fromiter(self._samples, dtype=np.float64)


class Telemetry:
    """Latency per stage, named counters and gauges; shared by all runtime pieces.

    Gauges are callables sampled at snapshot time (e.g. the chunk queue depth), so the
    pieces that own a number keep owning it.
    """

    def __init__(self, window: int = 2000) -> None:
        self._lock = threading.Lock()
        self._window = window
        self._stages: dict[str, LatencyStats] = {s: LatencyStats(window) for s in STAGES}
        self._counters: dict[str, int] = {}
        self._gauges: dict[str, Callable[[], Any]] = {}

    def record(self, stage: str, seconds: float) -> None:
        """Add one latency sample (s) to ``stage``."""
        with self._lock:
            stats = self._stages.get(stage)
            if stats is None:
                stats = self._stages[stage] = LatencyStats(self._window)
            stats.add(seconds)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def gauge(self, name: str, read: Callable[[], Any]) -> None:
        """Register a value read at snapshot time."""
        with self._lock:
            self._gauges[name] = read

    def stage_values(self, name: str) -> np.ndarray:
        """The samples (s) of one stage in the window."""
        with self._lock:
            stats = self._stages.get(name)
            return stats.values() if stats is not None else np.zeros(0)

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counters.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        """``{"latency": {stage: summary}, "counters": {...}, "gauges": {...}}``, JSON-ready."""
        with self._lock:  # summaries under the lock: the worker thread appends concurrently
            latency = {name: s.summary() for name, s in self._stages.items()}
            counters = dict(self._counters)
            gauges = dict(self._gauges)
        return {"latency": latency, "counters": counters,
                "gauges": {name: read() for name, read in gauges.items()}}
