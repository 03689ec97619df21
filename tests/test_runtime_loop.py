"""Control loop end to end (lockstep and threaded), inference runners, post-processing."""

from __future__ import annotations

import dataclasses
import time
from unittest.mock import Mock

import numpy as np
import pytest

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.geometry import matrix_from_rot6d, rot6d_from_matrix
from cosmos_policy.runtime import (
    ActionProcessor,
    JointProjector,
    LockstepInference,
    ManualClock,
    MonotonicClock,
    ObservationSync,
    SafetyConfig,
    SafetyLayer,
    SyncConfig,
    Telemetry,
    ThreadedInference,
    Watchdog,
    WatchdogConfig,
    build_loop,
)
from cosmos_policy.spec import ActionChunk, Observation, WorldActionModel

EMB = load_embodiment("franka")
N = EMB.n_joints
IDENTITY6 = np.array([1.0, 0, 0, 0, 1, 0])


class FakeProjector:
    """EE 'position' is joints 1..3 (rad); orientation ignored; the other joints stay."""

    def to_unified(self, q: np.ndarray, gripper: float) -> np.ndarray:
        return np.concatenate([q[:3], IDENTITY6, [gripper]])

    def to_joint_targets(self, action, q_current, representation="absolute") -> np.ndarray:
        assert representation == "absolute"
        return np.concatenate([action[:3], q_current[3:], [action[9]]])


class PathModel:
    """Chunks that move joint 1 forward at `speed` rad/s from the observed state."""

    def __init__(self, speed: float = 0.3, horizon: int = 16, delay_s: float = 0.0,
                 stamp_offset: float = 0.0) -> None:
        self.speed, self.horizon, self.delay_s, self.stamp_offset = (speed, horizon, delay_s,
                                                                     stamp_offset)
        self.calls = 0

    def policy(self, obs: Observation) -> ActionChunk:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        dt = 1.0 / EMB.control_rate_hz
        steps = np.arange(1, self.horizon + 1)[:, None]
        base = np.concatenate([obs.state[:3], IDENTITY6, [1.0]])
        actions = np.tile(base, (self.horizon, 1))
        actions[:, 0:1] += self.speed * dt * steps
        return ActionChunk(actions.astype(np.float32), obs.timestamp + self.stamp_offset, dt)

    def forward_dynamics(self, obs, actions):
        raise NotImplementedError

    def inverse_dynamics(self, frames, state):
        raise NotImplementedError

    def reset(self) -> None:
        self.calls = 0


def build(model, clock, inference=None, mode: str = "rtc", watchdog=None):
    telemetry = Telemetry()
    sync = ObservationSync(EMB, clock, SyncConfig(tolerance_s=0.02), telemetry)
    sync.set_prompt("push the cube")
    projector = Mock(spec=JointProjector, wraps=FakeProjector())
    loop = build_loop(
        EMB, clock=clock, sync=sync, telemetry=telemetry,
        inference=inference or LockstepInference(model, latency_s=0.15, telemetry=telemetry),
        projector=projector, blending=mode,
        safety=SafetyLayer(SafetyConfig.from_embodiment(EMB, resume_s=0.2)), watchdog=watchdog)
    return loop, sync, projector


def feed(sync: ObservationSync, t: float, state: np.ndarray, images: bool) -> None:
    sync.push_state(state, t)
    if images:
        for cam in ("front", "wrist"):
            sync.push_image(cam, np.zeros((128, 128, 3), np.uint8), t)


@pytest.mark.parametrize("mode", ["rtc", "ensemble"])
def test_lockstep_loop_follows_the_model_within_limits(mode: str) -> None:
    clock = ManualClock(0.0)
    model = PathModel(speed=0.3)
    loop, sync, projector = build(model, clock, mode=mode)
    sent = []
    loop.subscribe(sent.append)
    state = np.append(EMB.home, 0.0)
    for k in range(300):  # 3 s at 100 Hz; cameras at ~33 Hz; perfect tracking
        t = clock.advance(0.01) if k else 0.0
        feed(sync, t, state, images=k % 3 == 0)
        cmd = loop.tick(t)
        state = cmd.positions.copy()
    q = np.array([c.positions for c in sent])
    assert len(sent) == 300
    assert model.calls >= 15
    # After the start-up transient (chunks anchored on a state that lags while the safety
    # layer ramps up) joint 1 moves forward at the model's speed.
    v = np.diff(q[:, 0]) / 0.01
    assert np.all(v[100:] >= -1e-6)
    assert np.mean(v[200:]) == pytest.approx(0.3, abs=0.02)
    np.testing.assert_allclose(q[:, 3:N], np.tile(EMB.home[3:], (300, 1)), atol=1e-9)
    assert projector.to_joint_targets.call_count > 200
    snap = loop.telemetry.snapshot()
    for stage in ("camera_to_observation", "inference", "blending", "projection", "command",
                  "tick"):
        assert snap["latency"][stage]["count"] > 0, stage
    assert snap["counters"]["chunks"] >= 15
    assert snap["gauges"]["chunk_queue_depth"] >= 1


def test_stale_observations_hold_and_fresh_ones_resume() -> None:
    clock = ManualClock(0.0)
    watchdog = Watchdog(WatchdogConfig(max_observation_age_s=0.3, max_state_age_s=0.1))
    loop, sync, _ = build(PathModel(speed=0.5), clock, watchdog=watchdog)
    state = np.append(EMB.home, 0.0)
    cmds = []
    for k in range(400):
        t = clock.advance(0.01) if k else 0.0
        cameras_alive = not (150 <= k < 250)  # the cameras stop for a second
        feed(sync, t, state, images=cameras_alive and k % 3 == 0)
        cmds.append(loop.tick(t))
        state = cmds[-1].positions.copy()
    holds = [k for k, c in enumerate(cmds) if "hold:stale_observation" in c.reasons]
    assert holds
    assert 170 < holds[0] < 200
    assert np.allclose(cmds[240].velocities, 0.0)  # braked to a stop
    assert cmds[-1].velocities[0] > 0.1  # and moving again after the ramp


def test_estop_through_the_loop() -> None:
    clock = ManualClock(0.0)
    loop, sync, _ = build(PathModel(), clock)
    state = np.append(EMB.home, 0.0)
    for k in range(200):
        t = clock.advance(0.01) if k else 0.0
        if k == 100:
            loop.safety.estop()
        feed(sync, t, state, images=k % 3 == 0)
        cmd = loop.tick(t)
        state = cmd.positions.copy()
    assert "hold:estop" in cmd.reasons
    assert np.allclose(cmd.velocities, 0.0)
    assert loop.telemetry.snapshot()["gauges"]["estop"] is True


def test_threaded_inference_restamps_and_survives_errors() -> None:
    telemetry = Telemetry()
    model = PathModel(delay_s=0.05, stamp_offset=0.5)
    runner = ThreadedInference(model, MonotonicClock(), telemetry)
    obs = Observation({}, np.append(EMB.home, 0.0).astype(np.float32), "x", 3.0)
    runner.submit(obs)
    results = []
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        results = runner.poll(0.0)
        time.sleep(0.005)
    assert results[0].chunk.timestamp == 3.0
    assert results[0].latency_s >= 0.05
    assert telemetry.counter("chunks_restamped") == 1
    broken = Mock(spec=WorldActionModel)
    broken.policy.side_effect = RuntimeError("engine fell over")
    runner2 = ThreadedInference(broken, MonotonicClock(), telemetry)
    runner2.submit(obs)
    deadline = time.monotonic() + 5
    while telemetry.counter("inference_errors") == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert telemetry.counter("inference_errors") == 1
    runner2.submit(obs)
    deadline = time.monotonic() + 5
    while telemetry.counter("inference_errors") < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert telemetry.counter("inference_errors") == 2  # the worker is still alive
    runner.close()
    runner2.close()


def test_loop_thread_paces_on_its_clock_and_counts_deadline_misses() -> None:
    """The loop's own thread on a manual clock: every sleep jumps to its deadline, so the
    count of ticks and misses is exact and the test takes no wall-clock time."""
    import threading

    clock = ManualClock(0.0)
    model = PathModel()
    loop, sync, _ = build(model, clock)
    feed(sync, 0.0, np.append(EMB.home, 0.0), images=True)
    starts: list[float] = []
    overran, reached, release = threading.Event(), threading.Event(), threading.Event()

    def subscriber(cmd) -> None:
        now = clock.now()
        starts.append(now)
        feed(sync, now, cmd.positions, images=True)
        if now > 0.3 and not overran.is_set():
            overran.set()
            clock.advance(0.035)  # this tick overran: 3.5 periods
        if now >= 0.8 - 1e-9:  # hold the loop here until the test has counted
            reached.set()
            release.wait(5)

    loop.subscribe(subscriber)
    loop.start()
    assert reached.wait(5)
    ticks, misses = list(starts), loop.deadline_misses
    loop.stop(timeout=0)
    release.set()
    loop.inference.close()
    period = 1.0 / EMB.command_rate_hz
    # 0.8 s at 100 Hz is 80 ticks before the one at 0.8; the overrun skipped 3 of them.
    assert len(ticks) == 80 + 1 - 3, ticks
    assert misses == 3
    gaps = np.diff(ticks)
    np.testing.assert_allclose(np.sort(gaps)[:-1], period, atol=1e-9)
    assert gaps.max() == pytest.approx(4 * period)
    assert model.calls >= 3


def test_delta_joint_actions_are_relative_to_the_observed_state() -> None:
    emb = dataclasses.replace(EMB, action_type="joint", action_representation="delta")
    proc = ActionProcessor(emb)
    state = np.append(EMB.home, 0.7)
    deltas = np.zeros((4, N + 1))
    deltas[:, 0] = [0.1, 0.2, 0.3, 0.4]
    deltas[:, N] = 1.0
    out = proc.to_absolute(deltas, state)
    np.testing.assert_allclose(out[:, 0], EMB.home[0] + deltas[:, 0])
    np.testing.assert_allclose(out[:, N], 1.0)  # the gripper stays absolute
    np.testing.assert_allclose(proc.to_joint_targets(out[0], EMB.home), out[0])


def test_delta_ee_actions_compose_with_the_observed_pose() -> None:
    emb = dataclasses.replace(EMB, action_representation="delta")
    projector = Mock(spec=JointProjector)
    R0 = matrix_from_rot6d(np.array([0.0, 1, 0, -1, 0, 0]))  # 90 deg about z
    projector.to_unified.return_value = np.concatenate([[0.5, 0.1, 0.3], rot6d_from_matrix(R0),
                                                        [0.0]])
    proc = ActionProcessor(emb, projector)
    delta = np.concatenate([[0.01, 0, -0.02], IDENTITY6, [1.0]])[None]
    out = proc.to_absolute(delta, np.append(EMB.home, 0.0))
    np.testing.assert_allclose(out[0, :3], [0.51, 0.1, 0.28])
    np.testing.assert_allclose(matrix_from_rot6d(out[0, 3:9]), R0, atol=1e-12)
    projector.to_unified.assert_called_once()


def test_ee_pose_needs_a_projector() -> None:
    with pytest.raises(ValueError, match="projector"):
        ActionProcessor(EMB)


def test_build_loop_takes_the_embodiment_defaults_and_the_callers_pieces() -> None:
    clock = ManualClock(0.0)
    telemetry = Telemetry()
    runner = LockstepInference(PathModel(), latency_s=0.1, telemetry=telemetry)
    fk = Mock(side_effect=lambda q: np.zeros(3))
    reach = np.full(N, 0.5)
    loop = build_loop(EMB, clock=clock, inference=runner, telemetry=telemetry,
                      sync=SyncConfig(tolerance_s=0.02), projector=FakeProjector(),
                      blending="ensemble", rate_hz=50.0, guard=(fk, reach))
    assert loop.config.rate_hz == 50.0
    assert loop.scheduler.config.mode == "ensemble"
    assert loop.sync.telemetry is telemetry
    assert loop.telemetry is telemetry
    assert loop.safety.fk is fk
    np.testing.assert_array_equal(loop.safety.config.reach, reach)
    assert loop.safety.config.workspace_low is not None
    plain = build_loop(EMB, clock=clock, inference=runner, projector=FakeProjector())
    assert plain.config.rate_hz == EMB.command_rate_hz
    assert plain.safety.fk is None
    assert plain.safety.config.workspace_low is None
    with pytest.raises(ValueError, match="guard or safety"):
        build_loop(EMB, clock=clock, inference=runner, projector=FakeProjector(),
                   guard=(fk, reach), safety=SafetyLayer(SafetyConfig.from_embodiment(EMB)))
