"""Observation sync: consistent sets, drop/stale counting, rejection with reasons."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.runtime.clock import ManualClock
from cosmos_policy.runtime.sync import ObservationSync, SyncConfig

EMB = load_embodiment("franka")
N = EMB.n_joints
SHAPE = (EMB.camera("front").height, EMB.camera("front").width, 3)


def frame(value: int) -> np.ndarray:
    return np.full(SHAPE, value, dtype=np.uint8)


def make(tol: float = 0.02, **kw) -> tuple[ObservationSync, ManualClock]:
    clock = ManualClock(10.0)
    sync = ObservationSync(EMB, clock, SyncConfig(tolerance_s=tol, **kw))
    assert sync.set_prompt("stack the cubes") is None
    return sync, clock


def joint_msg(q: np.ndarray, finger: float = 0.04) -> tuple[list[str], np.ndarray]:
    names = list(EMB.joints) + list(EMB.gripper.joints)
    return names, np.concatenate([q, [finger, finger]])


def test_newest_consistent_set_is_chosen() -> None:
    sync, clock = make(tol=0.02)
    assert sync.latest() is None
    for i, t in enumerate([9.90, 9.93, 9.96]):
        assert sync.push_image("front", frame(i), t) is None
    for i, t in enumerate([9.91, 9.95, 9.99]):  # wrist 0.03 late on the last: too far
        assert sync.push_image("wrist", frame(10 + i), t) is None
    for t in np.arange(9.90, 10.0, 0.01):
        names, pos = joint_msg(EMB.home + t)
        assert sync.push_joint_state(names, pos, float(t)) is None
    obs = sync.latest()
    # newest front (9.96) pairs with wrist 9.95 (0.01 apart), state nearest 9.955
    assert obs.images["front"][0, 0, 0] == 2
    assert obs.images["wrist"][0, 0, 0] == 11
    assert obs.timestamp == pytest.approx(9.95)
    assert obs.state.shape == (N + 1,)
    assert obs.state.dtype == np.float32
    assert obs.state[-1] == 0.0  # fingers at open_position -> opening 0
    assert obs.prompt == "stack the cubes"
    assert sync.latest() is obs  # nothing new: the same observation
    # the unused older frames behind the chosen ones are counted as dropped
    assert sync.telemetry.counter("dropped_frames") == 3


def test_no_consistent_set_means_no_observation() -> None:
    sync, _ = make(tol=0.01)
    sync.push_image("front", frame(0), 9.90)
    sync.push_image("wrist", frame(0), 9.95)
    sync.push_state(np.append(EMB.home, 0.0), 9.90)
    assert sync.latest() is None


@pytest.mark.parametrize(("push", "reason"), [
    (lambda s: s.push_image("front", np.zeros((10, 10, 3), np.uint8), 9.9), "bad_shape"),
    (lambda s: s.push_image("front", np.zeros(SHAPE, np.float32), 9.9), "bad_dtype"),
    (lambda s: s.push_image("side", frame(0), 9.9), "unknown_camera"),
    (lambda s: s.push_image("front", frame(0), float("nan")), "bad_stamp"),
    (lambda s: s.push_image("front", frame(0), 5.0), "stale"),
    (lambda s: s.push_joint_state(["joint1", "elbow"], [0.0, 0.0], 9.9), "unknown_joint"),
    (lambda s: s.push_joint_state(["joint1"], [0.0], 9.9), "missing_joint"),
    (lambda s: s.push_joint_state(list(EMB.joints), [0.0] * (N - 1), 9.9), "bad_shape"),
    (lambda s: s.push_joint_state(list(EMB.joints), [float("nan")] * N, 9.9), "non_finite"),
    (lambda s: s.push_state(np.zeros(N), 9.9), "bad_shape"),
    (lambda s: s.push_state(np.full(N + 1, np.inf), 9.9), "non_finite"),
    (lambda s: s.set_prompt("   "), "bad_prompt"),
])
def test_bad_input_is_rejected_with_a_reason(push, reason) -> None:
    sync, _ = make()
    assert push(sync) == reason
    assert sync.last_rejection == reason
    assert sync.telemetry.counter(f"rejected:{reason}") == 1


def test_out_of_order_stamps_are_rejected() -> None:
    sync, _ = make()
    assert sync.push_image("front", frame(0), 9.95) is None
    assert sync.push_image("front", frame(1), 9.94) == "out_of_order"
    assert sync.push_state(np.append(EMB.home, 0.0), 9.95) is None
    assert sync.push_state(np.append(EMB.home, 0.0), 9.95) == "out_of_order"
    assert sync.telemetry.counter("stale_frames") == 0


def test_ring_overflow_counts_dropped_frames_and_stale_counts() -> None:
    sync, _ = make(frames_kept=2, max_age_s=0.5)
    for i in range(5):
        sync.push_image("front", frame(i), 9.6 + 0.01 * i)
    assert sync.telemetry.counter("dropped_frames") == 3
    assert sync.push_image("wrist", frame(0), 9.4) == "stale"
    assert sync.telemetry.counter("stale_frames") == 1


def test_gripper_opening_from_finger_joint_and_latest_state() -> None:
    sync, _ = make()
    names, pos = joint_msg(EMB.home, finger=0.01)
    sync.push_joint_state(names, pos, 9.99, velocities=np.zeros(N + 2))
    state, stamp = sync.latest_state()
    assert state[-1] == pytest.approx(0.75)
    assert stamp == 9.99
    # gripper joints may be missing: the last opening is kept
    sync.push_joint_state(list(EMB.joints), EMB.home, 9.995)
    assert sync.latest_state()[0][-1] == pytest.approx(0.75)
