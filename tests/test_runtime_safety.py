"""Safety layer: every command respects every limit, whatever the target."""

from __future__ import annotations

from unittest.mock import Mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.kinematics import estimate_reach
from cosmos_policy.runtime.safety import (
    CommandSink,
    SafetyConfig,
    SafetyLayer,
    Watchdog,
    WatchdogConfig,
)

EMB = load_embodiment("franka")
N = EMB.n_joints
_M = np.random.default_rng(7).uniform(-0.12, 0.12, size=(3, N))
CENTER = np.array([0.45, 0.0, 0.3])
BOX_LOW, BOX_HIGH = CENTER - 0.12, CENTER + 0.12


def fake_fk(q: np.ndarray) -> np.ndarray:
    """A smooth stand-in for forward kinematics with a known per-joint reach ||M[:, i]||."""
    return CENTER + _M @ (np.sin(q) - np.sin(EMB.home))


def make_layer(workspace: bool = True, **overrides) -> tuple[SafetyLayer, SafetyConfig]:
    reach = np.linalg.norm(_M, axis=0) if workspace else None
    cfg = SafetyConfig.from_embodiment(EMB, reach=reach, **overrides)
    if workspace:
        cfg = SafetyConfig(**{**{k: getattr(cfg, k) for k in (
            "position_low", "position_high", "velocity", "acceleration", "jerk", "dt",
            "reach", "position_margin", "resume_s")}, "workspace_low": BOX_LOW,
            "workspace_high": BOX_HIGH})
    layer = SafetyLayer(cfg, fk=fake_fk if workspace else None)
    layer.reset(np.append(EMB.home, 0.0), 0.0)
    return layer, cfg


def check_stream(q: np.ndarray, cfg: SafetyConfig, fk=None) -> None:
    """q: (K, n + 1) commands starting at rest. Asserts every bound on the stream."""
    tol = 1e-6
    assert np.all(np.isfinite(q))
    joints, grip = q[:, :N], q[:, N]
    assert np.all(joints >= cfg.position_low - 1e-9)
    assert np.all(joints <= cfg.position_high + 1e-9)
    assert np.all((grip >= 0) & (grip <= 1))
    v = np.diff(joints, axis=0) / cfg.dt
    v = np.vstack([np.zeros(N), v])  # the stream starts at rest
    a = np.diff(v, axis=0) / cfg.dt
    j = np.diff(np.vstack([np.zeros(N), a]), axis=0) / cfg.dt
    assert np.all(np.abs(np.diff(joints, axis=0)) <= cfg.velocity * cfg.dt + tol)
    assert np.all(np.abs(v) <= cfg.velocity + tol)
    assert np.all(np.abs(a) <= cfg.acceleration + tol)
    assert np.all(np.abs(j) <= cfg.jerk + 1e-3)
    if fk is not None:
        p = np.array([fk(x) for x in joints])
        assert np.all(p >= BOX_LOW - 1e-9)
        assert np.all(p <= BOX_HIGH + 1e-9)


_BAD = st.sampled_from([np.nan, np.inf, -np.inf, 1e9, -1e9, 0.0])
_STEP = st.one_of(
    st.tuples(st.just("random"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("bad"), _BAD),
    st.tuples(st.just("flip"), st.just(0)),
    st.tuples(st.just("none"), st.just(0)),
    st.tuples(st.just("estop"), st.booleans()),
    st.tuples(st.just("hold"), st.just(0)),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(steps=st.lists(_STEP, min_size=5, max_size=80), scale=st.sampled_from([0.05, 1.0, 5.0]))
def test_any_model_output_gives_commands_within_every_limit(steps, scale) -> None:
    layer, cfg = make_layer()
    sent = [layer.last.positions]
    prev = np.append(EMB.home, 0.5)
    for k, (kind, arg) in enumerate(steps, start=1):
        hold = None
        if kind == "random":
            target = np.random.default_rng(arg).normal(0, scale, N + 1) + prev
        elif kind == "bad":
            target = np.full(N + 1, arg)
            target[::2] = prev[::2]  # partly plausible, partly garbage
        elif kind == "flip":
            target = -prev
        elif kind == "none":
            target = None
        elif kind == "estop":
            target = prev
            layer.estop() if arg else layer.release_estop()
        else:
            target, hold = prev, "watchdog"
        if target is not None:
            prev = target
        # several commands per target, as at 100 Hz between 10 Hz actions
        for _ in range(3):
            cmd = layer.send(target, k * cfg.dt, hold)
            sent.append(cmd.positions)
    check_stream(np.array(sent), cfg, fake_fk)


def test_check_stream_catches_a_violation() -> None:
    _, cfg = make_layer(workspace=False)
    q = np.tile(np.append(EMB.home, 0.0), (3, 1))
    q[2, 0] += 0.1  # 10 rad/s in one step
    with pytest.raises(AssertionError):
        check_stream(q, cfg)


def test_far_target_is_clipped_and_reasons_given() -> None:
    sink = Mock(spec=CommandSink)
    cfg = SafetyConfig.from_embodiment(EMB)
    layer = SafetyLayer(cfg, sink=sink)
    layer.reset(np.append(EMB.home, 0.0), 0.0)
    target = np.append(EMB.home + 1.0, 2.0)
    cmd = layer.send(target, 0.01)
    assert {"velocity_limit", "acceleration_limit", "gripper_clip"} <= set(cmd.reasons)
    assert np.all(np.abs(cmd.positions[:N] - EMB.home) <= cfg.accel * cfg.dt**2 + 1e-12)
    assert cmd.positions[N] == 1.0
    sink.send.assert_called_once_with(cmd)
    # a reachable target is sent unchanged
    layer2 = SafetyLayer(cfg)
    layer2.reset(np.append(EMB.home, 0.0), 0.0)
    near = np.append(EMB.home + 1e-5, 0.3)
    out = layer2.send(near, 0.01)
    assert out.reasons == ()
    np.testing.assert_allclose(out.positions, near)


def test_converges_to_a_position_limit_without_crossing() -> None:
    layer, cfg = make_layer(workspace=False)
    target = np.append(EMB.home, 0.0)
    target[0] = 10.0
    start = layer.last.positions
    qs = [layer.send(target, k * cfg.dt).positions for k in range(1, 600)]
    check_stream(np.array([start] + qs), cfg)
    assert qs[-1][0] == pytest.approx(cfg.position_high[0], abs=1e-6)


def test_hold_decelerates_within_the_acceleration_limit_and_stops() -> None:
    layer, cfg = make_layer(workspace=False)
    target = np.append(EMB.home + 0.5, 0.0)
    qs = [layer.last.positions] + [layer.send(target, k * cfg.dt).positions for k in range(1, 30)]
    v_before = np.abs(np.diff(np.array(qs[-2:]), axis=0)[0, :N]) / cfg.dt
    assert np.max(v_before) > 0.1
    held = [layer.send(target, (30 + k) * cfg.dt, hold="stale_observation") for k in range(100)]
    assert all("hold:stale_observation" in c.reasons for c in held)
    qs_all = np.array(qs + [c.positions for c in held])
    check_stream(qs_all, cfg)
    np.testing.assert_allclose(held[-1].velocities, 0.0, atol=1e-12)


def test_estop_latches_and_resume_ramps_speed_back() -> None:
    layer, cfg = make_layer(workspace=False, resume_s=0.5)
    target = np.append(EMB.home + 0.5, 0.0)
    layer.estop()
    stopped = [layer.send(target, k * cfg.dt) for k in range(1, 20)]
    assert all("hold:estop" in c.reasons for c in stopped)
    np.testing.assert_allclose(stopped[-1].positions[:N], EMB.home)
    layer.release_estop()
    speeds = []
    for k in range(20, 200):
        c = layer.send(target, k * cfg.dt)
        speeds.append(np.max(np.abs(c.velocities) / cfg.velocity))
    assert speeds[0] < 0.05  # starts slow
    assert speeds[10] <= 12 * cfg.dt / 0.5 + 1e-9  # bounded by the ramp
    assert max(speeds) > 0.5  # and gets back to speed


def test_workspace_box_is_kept() -> None:
    layer, cfg = make_layer()
    far = np.append(EMB.home + 2.0 * np.sign(_M[0]), 0.0)  # drives the fake EE out in +x
    qs = [layer.last] + [layer.send(far, k * cfg.dt) for k in range(1, 400)]
    assert any("workspace" in c.reasons for c in qs)
    assert fake_fk(qs[-1].positions[:N])[0] > BOX_HIGH[0] - 0.02  # it got near the face
    check_stream(np.array([c.positions for c in qs]), cfg, fake_fk)


def test_estimate_reach_bounds_the_true_reach() -> None:
    est = estimate_reach(fake_fk, EMB.position_limits[:, 0], EMB.position_limits[:, 1],
                         samples=64, factor=1.0)
    true = np.linalg.norm(_M, axis=0)
    assert np.all(est <= true + 1e-6)
    assert np.all(est >= 0.8 * true)


def test_watchdog_reasons() -> None:
    wd = Watchdog(WatchdogConfig(max_observation_age_s=0.5, max_state_age_s=0.2,
                                 max_chunk_gap_s=1.0))
    assert wd.check(10.0, 9.9, 9.95, 9.5, 11.0) is None
    assert wd.check(10.0, 9.9, 9.7, 9.5, 11.0) == "stale_state"
    assert wd.check(10.0, 9.4, 9.95, 9.5, 11.0) == "stale_observation"
    assert wd.check(10.0, 9.9, 9.95, None, 11.0) == "waiting_for_chunk"
    assert wd.check(10.0, 9.9, 9.95, 8.5, 11.0) == "inference_overrun"
    assert wd.check(10.0, 9.9, 9.95, 9.5, 9.9) == "plan_exhausted"
