"""Stamp watermark (issue #25): a future stamp is refused and never latched, a reset
clears the watermark, and a clock that jumps back is recovered from without a restart."""

from __future__ import annotations

import logging

import numpy as np

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.runtime.clock import ManualClock
from cosmos_policy.runtime.sync import ObservationSync, SyncConfig

EMB = load_embodiment("franka")
SHAPE = (EMB.camera("front").height, EMB.camera("front").width, 3)
STATE = np.append(EMB.home, 0.0)


def make(**kw) -> tuple[ObservationSync, ManualClock]:
    clock = ManualClock(100.0)
    sync = ObservationSync(EMB, clock, SyncConfig(**kw))
    assert sync.set_prompt("reach the red cube") is None
    return sync, clock


def push_all(sync: ObservationSync, t: float) -> list[str | None]:
    img = np.zeros(SHAPE, np.uint8)
    return [sync.push_image(c.name, img, t) for c in EMB.cameras] + [sync.push_state(STATE, t)]


def test_a_future_stamp_is_refused_logged_and_not_latched(caplog) -> None:
    sync, clock = make()
    with caplog.at_level(logging.WARNING, "cosmos_policy.runtime"):
        assert push_all(sync, clock.now() + 3600.0) == ["future_stamp"] * 3
    assert sync.telemetry.counter("rejected:future_stamp") == 3
    assert "ahead of this clock" in caplog.text
    # every later correct message is accepted: nothing was latched
    for _ in range(5):
        t = clock.advance(0.01)
        assert push_all(sync, t) == [None, None, None]
        assert sync.latest().timestamp == t


def test_the_future_bound_is_a_setting() -> None:
    sync, clock = make(max_future_s=0.5)
    assert sync.push_state(STATE, clock.now() + 0.4) is None
    assert sync.push_state(STATE, clock.now() + 0.6) == "future_stamp"


def test_clear_forgets_the_watermark() -> None:
    """A stamp inside the bound but ahead of the next messages: a reset clears it."""
    sync, clock = make(max_future_s=10.0)
    assert sync.push_state(STATE, clock.now() + 5.0) is None
    t = clock.advance(0.01)
    assert sync.push_state(STATE, t) == "out_of_order"
    sync.clear(not_before=t)
    t = clock.advance(0.01)
    assert push_all(sync, t) == [None, None, None]
    assert sync.latest().timestamp == t


def test_a_clock_jumping_back_recovers_by_itself() -> None:
    sync, clock = make()
    for _ in range(3):
        t = clock.advance(0.01)
        assert push_all(sync, t) == [None, None, None]
    first = sync.latest()
    sync.clear(not_before=clock.now())  # a reset just before the jump
    clock._t -= 60.0  # system time set back a minute (NTP step, operator)
    t = clock.advance(0.01)
    assert push_all(sync, t) == [None, None, None]
    obs = sync.latest()
    assert obs is not None
    assert obs is not first
    assert obs.timestamp == t
    assert sync.telemetry.counter("clock_jumps_back") >= 1
