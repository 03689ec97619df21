"""Evaluation under load: results held back by ``LatencyCharged`` (issue #25)."""

from __future__ import annotations

import numpy as np

from cosmos_policy.runtime import InferenceResult
from cosmos_policy.sim.evaluate import LatencyCharged
from cosmos_policy.spec import ActionChunk


def _result(t: float, latency: float) -> InferenceResult:
    chunk = ActionChunk(actions=np.zeros((4, 8), np.float32), timestamp=t, dt=0.1)
    return InferenceResult(chunk=chunk, state=np.zeros(8, np.float32), latency_s=latency,
                           ready_at=t + latency)


class _Inner:
    """A runner that hands out a fixed list of results once."""

    def __init__(self, results: list[InferenceResult]) -> None:
        self.results = results
        self.busy = False

    def submit(self, obs: object) -> None:
        pass

    def poll(self, now: float) -> list[InferenceResult]:
        out, self.results = self.results, []
        return out

    def close(self) -> None:
        pass


def test_two_held_results_are_released_in_turn() -> None:
    """Two results held at once (a slow machine): each comes out when its latency is paid."""
    first, second = _result(0.0, 0.5), _result(0.1, 0.6)
    runner = LatencyCharged(_Inner([first, second]))  # type: ignore[arg-type]
    assert runner.poll(0.2) == []
    assert runner.busy
    released = runner.poll(0.55)
    assert len(released) == 1
    assert released[0] is first
    later = runner.poll(0.75)
    assert len(later) == 1
    assert later[0] is second
    assert not runner.busy


def test_equal_results_are_each_released_once() -> None:
    """Two results with equal fields are still two results (identity, not equality)."""
    a, b = _result(0.0, 0.5), _result(0.0, 0.5)
    runner = LatencyCharged(_Inner([a, b]))  # type: ignore[arg-type]
    released = runner.poll(1.0)
    assert len(released) == 2
    assert released[0] is a
    assert released[1] is b
