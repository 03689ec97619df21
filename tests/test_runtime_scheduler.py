"""Chunk scheduling, blending (RTC, temporal ensembling) and interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.geometry import (
    matrix_from_quat,
    matrix_from_rot6d,
    quat_from_matrix,
    rot6d_from_matrix,
)
from cosmos_policy.runtime.interp import ActionLayout, TimedActions
from cosmos_policy.runtime.scheduler import ChunkScheduler, SchedulerConfig
from cosmos_policy.spec import ActionChunk

DT = 0.1  # action period (10 Hz)
CMD_DT = 0.01  # command period (100 Hz)
JOINT = ActionLayout("joint", 3)  # two joints + gripper
V = 0.5  # rad/s along the planned path


def path(t: np.ndarray | float) -> np.ndarray:
    """The plan every chunk in these tests samples: joints move at V, gripper closes at 1 s."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    return np.stack([V * t, -V * t, (t >= 1.0).astype(float)], axis=-1)


def chunk_from(t_obs: float, horizon: int = 16, offset: float = 0.0) -> ActionChunk:
    times = t_obs + DT * np.arange(1, horizon + 1)
    actions = path(times)
    actions[:, :2] -= offset * np.array([1.0, -1.0])  # lag behind the path by `offset` rad
    return ActionChunk(actions=actions.astype(np.float32), timestamp=t_obs, dt=DT)


def run(scheduler: ChunkScheduler, arrivals: dict[int, tuple[ActionChunk, float]],
        ticks: int) -> np.ndarray:
    """Command ticks 0..ticks-1 at 100 Hz; arrivals: tick -> (chunk, latency)."""
    out = []
    for k in range(ticks):
        now = k * CMD_DT
        if k in arrivals:
            chunk, latency = arrivals[k]
            assert scheduler.add(chunk, now, latency)
        out.append(scheduler.action_at(now))
    return np.array(out)


def test_chunk_starts_at_the_present_not_at_its_first_action() -> None:
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc"))
    s.add(chunk_from(0.0), now=0.35, latency_s=0.35)  # arrives 3.5 action periods late
    np.testing.assert_allclose(s.action_at(0.35)[:2], path(0.35)[0, :2], atol=1e-6)


@pytest.mark.parametrize("mode", ["rtc", "ensemble"])
def test_latency_does_not_send_the_arm_backwards(mode: str) -> None:
    latency = 0.25
    s = ChunkScheduler(JOINT, SchedulerConfig(mode=mode))
    s.seed(path(0.0)[0], 0.0)
    arrivals = {round((t + latency) / CMD_DT): (chunk_from(t), latency)
                for t in np.arange(0.0, 2.0, latency)}
    cmds = run(s, arrivals, 220)
    t = np.arange(220) * CMD_DT
    assert np.all(np.diff(cmds[:, 0]) >= -1e-6)  # forward only, blending in from the seed too
    # once the first chunk has blended in from the seed, the commands follow the plan
    settled = round(3 * latency / CMD_DT)
    np.testing.assert_allclose(cmds[settled:, 0], path(t[settled:])[:, 0], atol=1e-5)


def test_naive_restart_from_the_first_action_would_step_back() -> None:
    """The failure the scheduler avoids: executing a late chunk from its first action."""
    latency = 0.25
    chunk = chunk_from(1.0)
    naive_first = chunk.actions[0, 0]  # what a naive queue would command on arrival
    assert naive_first < path(1.0 + latency)[0, 0] - 0.05


def test_rtc_switch_is_continuous_and_monotone_for_a_lagging_chunk() -> None:
    """A chunk anchored on the stale state lags the plan by what it moved in one latency."""
    latency = 0.3
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc", min_blend_steps=1))
    s.add(chunk_from(0.0, horizon=30), now=0.0, latency_s=latency)
    arrive = 1.0
    t_obs = arrive - latency
    lag = V * latency
    k_arrive = round(arrive / CMD_DT)
    cmds = run(s, {k_arrive: (chunk_from(t_obs, horizon=30, offset=lag), latency)}, 250)
    assert s.frozen_steps == 3
    assert s.blend_steps == 3
    steps = np.diff(cmds[:, 0])
    assert np.all(steps >= -1e-6), "the blend moved the arm backwards"  # float32 actions
    # continuity: no step during the switch is larger than the plan's own step
    assert np.max(np.abs(steps)) <= V * CMD_DT + 1e-6
    # and the new chunk has fully taken over after the blend window
    t_end = t_obs + (s.frozen_steps + s.blend_steps) * DT
    k_end = int(np.ceil(t_end / CMD_DT)) + 1
    np.testing.assert_allclose(cmds[k_end:, 0], path(np.arange(k_end, 250) * CMD_DT)[:, 0] - lag,
                               atol=1e-5)


def test_without_blending_the_same_switch_would_jump() -> None:
    """Control for the test above: replacing the plan outright jumps by the lag."""
    latency = 0.3
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc", min_blend_steps=1, max_blend_steps=1))
    s.add(chunk_from(0.0, horizon=30), now=0.0, latency_s=0.0)  # latency 0: d = H = 1
    k_arrive = 100
    cmds = run(s, {k_arrive: (chunk_from(1.0 - latency, horizon=30, offset=V * latency), 0.0)},
               150)
    assert np.min(np.diff(cmds[:, 0])) < -0.005


def test_rtc_sizes_prefix_and_blend_from_the_measured_latency() -> None:
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc", min_blend_steps=2, latency_window=3))
    for k, lat in enumerate([0.05, 0.42, 0.11, 0.12, 0.13]):
        s.add(chunk_from(k * 0.5), now=k * 0.5 + lat, latency_s=lat)
    assert s.latency_estimate == pytest.approx(0.13)
    assert s.frozen_steps == 2
    assert s.blend_steps == 2
    prefix = s.frozen_prefix(2.5, DT)
    assert prefix.shape == (2, 3)


def test_ensemble_weights_follow_act() -> None:
    k = 0.5
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="ensemble", ensemble_k=k))
    s.add(chunk_from(0.0, offset=0.0), now=0.0, latency_s=0.0)
    s.add(chunk_from(0.0, offset=0.2), now=0.0, latency_s=0.0)
    t = 0.45
    w = np.exp(-k * np.arange(2))
    expected = (w[0] * path(t)[0, 0] + w[1] * (path(t)[0, 0] - 0.2)) / w.sum()
    assert s.action_at(t)[0] == pytest.approx(expected, abs=1e-6)  # float32 chunks


def test_bad_chunks_are_rejected_and_the_plan_kept() -> None:
    s = ChunkScheduler(JOINT)
    s.add(chunk_from(0.0), now=0.0, latency_s=0.0)
    before = s.action_at(0.3)
    bad = chunk_from(0.2)
    bad.actions[3, 1] = np.nan
    assert not s.add(bad, now=0.3, latency_s=0.1)
    assert not s.add(ActionChunk(np.zeros((4, 5), np.float32), 0.2, DT), now=0.3, latency_s=0.1)
    assert not s.add(chunk_from(0.0, horizon=2), now=5.0, latency_s=5.0)  # ended already
    np.testing.assert_allclose(s.action_at(0.3), before)
    assert s.rejected == 3


def test_gripper_is_stepped_not_interpolated() -> None:
    plan = TimedActions(JOINT, path(np.array([0.9, 1.0, 1.1])), np.array([0.9, 1.0, 1.1]))
    assert plan.at(0.95)[2] == 0.0
    assert plan.at(0.95)[0] == pytest.approx(V * 0.95)
    assert plan.at(1.0)[2] == 1.0
    assert plan.at(1.05)[2] == 1.0


def _rotz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def test_rotations_are_slerped_at_constant_rate() -> None:
    layout = ActionLayout("ee_pose", 10)
    a0 = np.concatenate([[0, 0, 0], rot6d_from_matrix(_rotz(0.0)), [0]])
    a1 = np.concatenate([[1, 0, 0], rot6d_from_matrix(_rotz(2.0)), [1]])
    mid = layout.interpolate(a0, a1, 0.25)
    np.testing.assert_allclose(matrix_from_rot6d(mid[3:9]), _rotz(0.5), atol=1e-9)
    assert mid[0] == pytest.approx(0.25)
    assert mid[9] == 0.0
    # a noisy, non-orthonormal 6-D rotation comes back orthonormal
    noisy = rot6d_from_matrix(_rotz(0.3)) + np.random.default_rng(0).normal(0, 0.05, 6)
    R = matrix_from_rot6d(noisy)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_quaternion_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = -q if q[0] < 0 else q
        np.testing.assert_allclose(quat_from_matrix(matrix_from_quat(q)), q, atol=1e-9)


def test_timed_ee_actions_slerp_like_the_layout() -> None:
    layout = ActionLayout("ee_pose", 10)
    a = np.stack([np.concatenate([[0.1 * i, 0, 0], rot6d_from_matrix(_rotz(0.7 * i)), [i % 2]])
                  for i in range(4)])
    plan = TimedActions(layout, a, np.array([1.0, 1.1, 1.2, 1.3]))
    # The plan moves x at 1 m/s and turns about z at 7 rad/s; the gripper holds the value of
    # the action before t (0, 1, 0 for the three times).
    for t, grip in ((1.03, 0.0), (1.15, 1.0), (1.29, 0.0)):
        out = plan.at(t)
        np.testing.assert_allclose(out[:3], [t - 1.0, 0.0, 0.0], atol=1e-9)
        np.testing.assert_allclose(matrix_from_rot6d(out[3:9]), _rotz(7.0 * (t - 1.0)),
                                   atol=1e-9)
        assert out[9] == grip


# ---------------------------------------------------------------- late chunks (issue #24)
def _slow_first_call(s: ChunkScheduler) -> None:
    """One slow first call (e.g. warm-up) keeps the latency estimate above the horizon."""
    s.seed(path(0.0)[0], 0.0)
    assert s.add(chunk_from(0.0, horizon=8), now=0.5, latency_s=0.5)  # 8 x 0.1 s = 0.8 s


def test_a_late_chunk_still_drives_the_arm_for_its_remaining_part(caplog) -> None:
    from cosmos_policy.runtime.telemetry import Telemetry

    tel = Telemetry()
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc", latency_window=10), tel)
    s.add(chunk_from(0.0, horizon=8), now=0.0, latency_s=1.5)  # estimate 1.5 s > 0.8 s
    # the next chunk (0.8 s long) arrives 0.6 s after its observation: 0.2 s remain of it
    late = chunk_from(1.0, horizon=8, offset=0.3)
    with caplog.at_level("WARNING", logger="cosmos_policy.runtime"):
        assert s.add(late, now=1.6, latency_s=0.6)
    # after a short fade, the commands are the late chunk's own, not a hold of the old plan
    for t in (1.7, 1.75, 1.8):
        np.testing.assert_allclose(s.action_at(t)[:2], path(t)[0, :2] - [0.3, -0.3], atol=1e-5)
    assert s.late == 1
    assert s.late_dropped == 0
    assert s.rejected == 0
    assert tel.counter("chunks_late") == 1
    assert "executing only its remaining part" in caplog.text
    assert "1500 ms" in caplog.text
    assert "800 ms" in caplog.text


def test_without_the_late_path_the_same_chunk_would_be_lost() -> None:
    """Control: a chunk's frozen prefix of ceil(1.5 / 0.1) = 15 steps covers all 8 actions."""
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc"))
    s.add(chunk_from(0.0, horizon=8), now=0.0, latency_s=1.5)
    assert s._frozen_steps(DT) > 8


def test_an_entirely_late_chunk_is_dropped_counted_and_warned_once(caplog) -> None:
    from cosmos_policy.runtime.telemetry import Telemetry

    tel = Telemetry()
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc"), tel)
    s.seed(path(0.0)[0], 0.0)
    held = s.action_at(0.0)
    with caplog.at_level("WARNING", logger="cosmos_policy.runtime"):
        for k in range(3):  # inference 1.2 s, chunks last 0.8 s: each ends before it arrives
            t_obs = 1.2 * k
            assert not s.add(chunk_from(t_obs, horizon=8), now=t_obs + 1.2, latency_s=1.2)
    np.testing.assert_allclose(s.action_at(4.0), held)
    assert s.late_dropped == 3
    assert s.rejected == 3
    assert tel.counter("chunks_late_dropped") == 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "1200 ms" in warnings[0].getMessage()
    assert "800 ms" in warnings[0].getMessage()


def test_a_late_then_timely_chunk_warns_once_and_counts_both(caplog) -> None:
    s = ChunkScheduler(JOINT, SchedulerConfig(mode="rtc", latency_window=1))
    with caplog.at_level("WARNING", logger="cosmos_policy.runtime"):
        _slow_first_call(s)  # 0.5 s of 0.8 s: on time (prefix 5 steps < 8)
        assert s.late == 0
        assert not s.add(chunk_from(0.5, horizon=8), now=1.5, latency_s=1.0)  # ended at 1.3
        assert s.add(chunk_from(1.4, horizon=8), now=1.5, latency_s=0.1)  # the window forgot
    assert (s.late, s.late_dropped) == (0, 1)
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1


def test_eval_reports_late_chunks(tmp_path, capsys) -> None:
    """End to end: inference (2.5 s, simulated) longer than a chunk lasts (16 x 0.1 s)."""
    import json

    from cosmos_policy.cli import main

    out = tmp_path / "rep"
    assert main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                 "--max-steps", "30", "--lockstep", "--latency-ms", "2500", "--videos", "0",
                 "--image-size", "64", "--model", "random", "--out", str(out)]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["late_chunks"]["dropped"] >= 1
    assert report["late_chunks"]["executed"] == 0
    assert "late run/drop" in capsys.readouterr().out
