"""Wilson interval and the safety limit check of the evaluation report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosmos_policy.sim.evaluate import CommandLog, EpisodeRun
from cosmos_policy.sim.report import limit_check, wilson_interval


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    (0, 10, 0.0, 0.27753),   # reference values: Wilson (1927), z = 1.96
    (10, 10, 0.72247, 1.0),
    (5, 10, 0.23659, 0.76341),
    (81, 100, 0.72221, 0.87485),  # by hand: centre 0.79853, half-width 0.07632
])
def test_wilson_interval_matches_reference(k: int, n: int, lo: float, hi: float) -> None:
    a, b = wilson_interval(k, n)
    assert a == pytest.approx(lo, abs=1e-4)
    assert b == pytest.approx(hi, abs=1e-4)


def test_wilson_interval_contains_estimate_and_shrinks() -> None:
    wide = wilson_interval(3, 10)
    narrow = wilson_interval(300, 1000)
    assert wide[0] < 0.3 < wide[1]
    assert narrow[0] < 0.3 < narrow[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    # the centre is pulled towards 1/2, unlike the Wald interval
    assert (wide[0] + wide[1]) / 2 > 0.3
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="not in"):
        wilson_interval(5, 3)
    assert not math.isnan(wilson_interval(1, 1)[0])


def _run(commanded: list[list[float]]) -> EpisodeRun:
    log = CommandLog(times=[0.01 * i for i in range(len(commanded))],
                     commanded=[np.asarray(c) for c in commanded])
    return EpisodeRun(0, True, 1, 0.1, 0.1, "p", {}, {}, log)


def test_limit_check_flags_position_and_step_violations() -> None:
    limits = np.array([[-1.0, 1.0], [-1.0, 1.0]])
    vmax, dt = np.array([1.0, 1.0]), 0.01
    ok = _run([[0.0, 0.0, 0.0], [0.005, -0.01, 1.0]])
    assert limit_check([ok], limits, vmax, dt)["ok"]
    too_far = _run([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0]])
    assert not limit_check([too_far], limits, vmax, dt)["ok"]
    too_fast = _run([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0]])
    res = limit_check([too_fast], limits, vmax, dt)
    assert not res["ok"]
    assert res["max_step_over_bound"] == pytest.approx(5.0)
