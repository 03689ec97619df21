"""The node core under bad stamps (issue #25): a future stamp never stops the node, a reset
clears the watermark, and refusals reach the diagnostics with their reasons."""

from __future__ import annotations

import numpy as np
import pytest
from node_fakes import make_core

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.serve.node_core import DIAG_WARN, default_projector


@pytest.fixture(scope="module")
def franka():
    return load_embodiment("franka")


@pytest.fixture(scope="module")
def projector(franka):
    return default_projector(franka)


def step(core, franka, clock, stamp_offset: float = 0.0) -> list[str | None]:
    """One 10 ms period: a joint state and (every 50 ms) frames stamped now + offset."""
    t = clock.advance(0.01)
    stamp = t + stamp_offset
    img = np.zeros((128, 128, 3), np.uint8)
    state = np.append(franka.home, 0.0).astype(np.float32)
    out = [core.on_joint_state(state, stamp)]
    if round(t * 100) % 5 == 0:
        out += [core.on_image(cam.name, img, stamp) for cam in franka.cameras]
    core.tick(t)
    return out


def holds(rec, n: int) -> list[str]:
    return [r for c in rec.commands[-n:] for r in c.reasons if r.startswith("hold:")]


def test_one_hour_ahead_does_not_stop_the_node(franka, projector):
    """The issue's report: a JointState and a frame stamped one hour ahead."""
    core, rec, clock = make_core(franka, projector)
    for _ in range(50):
        step(core, franka, clock)
    assert not holds(rec, 10)
    refused = step(core, franka, clock, stamp_offset=3600.0)
    assert set(refused) == {"future_stamp"}
    for _ in range(100):  # later correct messages are accepted and the node keeps moving
        assert set(step(core, franka, clock)) == {None}
    assert not holds(rec, 50)
    diag = core.diagnostics()["rejections"]
    assert diag["node"]["joint_state:future_stamp"] == 1
    assert diag["last"]["node"].endswith("future_stamp")
    assert diag["total"] >= 1


def test_reset_clears_a_latched_watermark(franka, projector):
    """A stamp inside a loose bound still sets the watermark: ~/reset forgets it."""
    core, rec, clock = make_core(franka, projector, max_future_s=30.0)
    for _ in range(20):
        step(core, franka, clock)
    assert set(step(core, franka, clock, stamp_offset=20.0)) == {None}
    assert "out_of_order" in step(core, franka, clock)
    core.reset()
    for _ in range(60):
        assert set(step(core, franka, clock)) == {None}
    assert not holds(rec, 20)


def test_a_hold_says_which_refusal_caused_it(franka, projector):
    core, rec, clock = make_core(franka, projector)
    for _ in range(30):
        step(core, franka, clock)
    for _ in range(100):  # every input from a sender whose clock is 1 h ahead
        step(core, franka, clock, stamp_offset=3600.0)
    level, message = core.status()
    assert level == DIAG_WARN
    assert "hold:" in message
    assert "future_stamp" in message
    core.publish_diagnostics()
    telemetry, _, published = rec.diagnostics[-1]
    assert published == message
    assert telemetry["rejections"]["node"]["joint_state:future_stamp"] == 100


def test_a_rejection_source_reaches_diagnostics(franka, projector):
    core, rec, clock = make_core(franka, projector)
    core.add_rejection_source("wire", lambda: ({"/joint_states:non_finite": 3},
                                               "/joint_states: non_finite: NaN"))
    core.publish_diagnostics()
    telemetry = rec.diagnostics[-1][0]
    assert telemetry["rejections"]["wire"] == {"/joint_states:non_finite": 3}
    assert telemetry["rejections"]["last"]["wire"] == "/joint_states: non_finite: NaN"
    assert telemetry["rejections"]["total"] == 3


def test_rejections_are_keys_of_the_diagnostics_message(franka, projector):
    """What `ros2 topic echo /diagnostics` shows: flattened ``rejections.*`` keys."""
    from cosmos_policy.transport.convert import diagnostics_msg

    core, rec, clock = make_core(franka, projector)
    core.add_rejection_source("wire", lambda: ({"/joint_states:non_finite": 3},
                                               "/joint_states: non_finite: NaN"))
    step(core, franka, clock, stamp_offset=3600.0)
    msg = diagnostics_msg(core.diagnostics(), level=1, message="x")
    values = {kv.key: kv.value for kv in msg.status[0].values}
    assert values["rejections.wire./joint_states:non_finite"] == "3"
    assert values["rejections.last.wire"] == "/joint_states: non_finite: NaN"
    assert values["rejections.node.joint_state:future_stamp"] == "1"


@pytest.mark.parametrize("jump_s", [30.0, -60.0])
def test_the_node_recovers_by_itself_from_a_clock_jump(franka, projector, jump_s):
    """System time stepped forward or back (NTP, an operator): the node may hold for a
    moment, then commands again from good input, without a reset or a restart."""
    core, rec, clock = make_core(franka, projector)
    for _ in range(60):
        step(core, franka, clock)
    assert not holds(rec, 10)
    clock._t += jump_s  # the clock the node and the sender share jumps
    for _ in range(300):
        step(core, franka, clock)
    assert not holds(rec, 50), holds(rec, 50)[:3]
    assert np.all(np.isfinite(rec.commands[-1].positions))
