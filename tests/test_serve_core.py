"""PolicyNodeCore in lockstep (ManualClock, LockstepInference): commands, holds, enable,
e-stop, reset, prompts and refusals, with a recording transport."""

from __future__ import annotations

import numpy as np
import pytest
from node_fakes import Recorder, make_core

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.runtime import LockstepInference, ManualClock
from cosmos_policy.serve.node_core import (
    DIAG_ERROR,
    DIAG_OK,
    DIAG_WARN,
    NodeConfig,
    PolicyNodeCore,
    check_prompt,
    default_projector,
)


@pytest.fixture(scope="module")
def franka():
    return load_embodiment("franka")


@pytest.fixture(scope="module")
def projector(franka):
    return default_projector(franka)


def feed(core, franka, clock, state, t):
    img = np.zeros((128, 128, 3), np.uint8)
    core.on_joint_state(state, t)
    if round(t * 100) % 5 == 0:
        for cam in franka.cameras:
            core.on_image(cam.name, img, t)


def run(core, franka, clock, seconds, state=None):
    state = np.append(franka.home, 0.0).astype(np.float32) if state is None else state
    out = []
    for _ in range(int(seconds * 100)):
        t = clock.advance(0.01)
        feed(core, franka, clock, state, t)
        cmd = core.tick(t)
        if cmd is not None:
            out.append(cmd)
            state = np.append(cmd.positions[:-1], 0.0).astype(np.float32)
    return out


def test_commands_flow_and_move(franka, projector):
    core, rec, clock = make_core(franka, projector)
    cmds = run(core, franka, clock, 2.0)
    assert len(rec.commands) == len(cmds) >= 190
    moved = np.abs(cmds[-1].positions[:7] - franka.home).max()
    assert moved > 1e-3  # the stand-in model moves the arm
    assert core.telemetry.counter("chunks") > 5
    core.publish_diagnostics()
    tele, level, msg = rec.diagnostics[-1]
    assert level == DIAG_OK
    assert msg == "running"
    assert tele["counters"]["chunks"] > 5


def test_disable_and_estop_hold(franka, projector):
    core, rec, clock = make_core(franka, projector)
    run(core, franka, clock, 1.0)
    core.enable(False)
    held = run(core, franka, clock, 1.0)
    assert any("hold:" in r for r in held[-1].reasons)
    assert np.allclose(held[-1].velocities, 0.0)
    assert core.status()[0] == DIAG_WARN
    core.enable(True)
    core.estop()
    assert core.status() == (DIAG_ERROR, "e-stop latched")
    held = run(core, franka, clock, 0.5)
    assert np.allclose(held[-1].velocities, 0.0)
    core.release_estop()
    moving = run(core, franka, clock, 1.5)
    assert np.abs(moving[-1].velocities).max() > 0


class DiveModel:
    """Asks the tool to go 30 cm below the table, straight under the pose it sees."""

    def __init__(self, franka, projector) -> None:
        self.franka, self.projector = franka, projector

    def policy(self, obs):
        from cosmos_policy.spec import ActionChunk

        n = self.franka.n_joints
        pose = np.asarray(self.projector.to_unified(obs.state[:n], float(obs.state[n])))
        pose[2] = -0.3
        return ActionChunk(np.tile(pose, (8, 1)).astype(np.float32), obs.timestamp, 0.1)

    def reset(self) -> None:
        pass


@pytest.mark.parametrize("workspace", [True, False])
def test_the_node_keeps_the_tool_in_the_workspace_box(franka, projector, workspace):
    """The node guards the workspace box like eval does; without the guard (an arm with no
    kinematic model) the same model drives the tool under the table."""
    from cosmos_policy.kinematics import KinematicModel

    clock = ManualClock(100.0)
    core = PolicyNodeCore(
        franka, DiveModel(franka, projector), Recorder(),
        NodeConfig(prompt="reach the red cube", workspace=workspace), clock=clock,
        projector=projector,
        inference_factory=lambda m, c, t: LockstepInference(m, latency_s=0.05, telemetry=t))
    cmds = run(core, franka, clock, 3.0)
    kin = KinematicModel(franka)
    z = np.array([kin.fk(c.positions[:7])[0][2] for c in cmds])
    floor = franka.workspace_low[2]
    if workspace:
        assert z.min() >= floor - 1e-3, z.min()
        assert core.telemetry.counter("safety:workspace") > 0
    else:
        assert z.min() < floor - 0.05, z.min()


def test_start_disabled_never_moves(franka, projector):
    core, rec, clock = make_core(franka, projector, start_enabled=False)
    cmds = run(core, franka, clock, 1.0)
    assert cmds
    assert all(np.allclose(c.positions[:7], franka.home, atol=1e-9) for c in cmds)


def test_reset_restarts_from_measured_pose(franka, projector):
    core, rec, clock = make_core(franka, projector)
    run(core, franka, clock, 1.0)
    ok, msg = core.reset()
    assert ok
    assert core.telemetry.counter("resets") == 1
    state = np.append(franka.home + 0.05, 0.0).astype(np.float32)
    cmds = run(core, franka, clock, 0.2, state=state)
    # after reset the plan is seeded at the newly measured pose, not the old plan
    assert np.abs(cmds[0].positions[:7] - state[:7]).max() < 0.01


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty_prompt"), ("   ", "empty_prompt"), ("x" * 513, "huge_prompt"),
    ("pick\x00up", "bad_prompt"), (None, "bad_prompt"), ("reach the cube", None)])
def test_prompt_checks(text, reason):
    assert check_prompt(text) == reason


def test_bad_inputs_refused_and_counted(franka, projector):
    core, rec, clock = make_core(franka, projector)
    t = clock.advance(0.01)
    assert core.on_image("front", np.zeros((64, 64, 3), np.uint8), t) == "bad_shape"
    assert core.on_image("nope", np.zeros((128, 128, 3), np.uint8), t) == "unknown_camera"
    bad = np.append(franka.home, 0.0).astype(np.float32)
    bad[2] = np.nan
    assert core.on_joint_state(bad, t) is not None
    assert core.on_named_joint_state(["bogus"], [0.0], t) is not None
    assert core.on_prompt("") == "empty_prompt"
    counters = core.telemetry.snapshot()["counters"]
    assert counters["refused:image:bad_shape"] == 1
    assert counters["refused:prompt:empty_prompt"] == 1
    assert core.tick(t) is None  # no valid state yet: nothing is sent
    assert rec.commands == []


def test_warm_up_pays_the_first_call_at_start_and_resets() -> None:
    import time as _time

    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.policy.stand_ins import warm_up
    from cosmos_policy.spec import ActionChunk

    class LazyModel:  # its first call loads something slow, as the prompt encoder does
        def __init__(self) -> None:
            self.calls, self.resets, self.loaded = [], 0, False

        def policy(self, obs):  # noqa: ANN001, ANN202
            if not self.loaded:
                _time.sleep(0.2)
                self.loaded = True
            self.calls.append(obs)
            return ActionChunk(np.zeros((4, 10), np.float32), obs.timestamp, 0.1)

        def reset(self) -> None:
            self.resets += 1

    emb = load_embodiment("franka")
    model = LazyModel()
    took = warm_up(model, emb, "reach the blue cube")
    assert took >= 0.2
    assert model.loaded
    assert model.resets == 1
    (obs,) = model.calls
    assert obs.prompt == "reach the blue cube"
    np.testing.assert_allclose(obs.state[:7], emb.home)  # a pose the arm can be in
    assert set(obs.images) == {c.name for c in emb.cameras}
    t0 = _time.perf_counter()
    model.policy(obs)  # what the loop sees afterwards: no load
    assert _time.perf_counter() - t0 < 0.1


def test_reset_never_serves_the_previous_episodes_frames(franka, projector):
    """After ~/reset the first observation the model sees is made of inputs that arrived after
    the reset, not of the previous episode's buffered frames (a new episode's prompt with
    the old scene would send the arm back to the old target)."""
    core, rec, clock = make_core(franka, projector)
    seen = []
    policy = core.model.policy
    core.model.policy = lambda obs: (seen.append(obs.timestamp), policy(obs))[1]
    run(core, franka, clock, 1.0)
    assert seen
    core.reset()
    t_reset = clock.now()
    assert core.sync.latest() is None  # nothing buffered survives the boundary
    seen.clear()
    run(core, franka, clock, 0.5)
    assert seen
    assert min(seen) > t_reset


def test_sync_clear_keeps_the_prompt(franka):
    from cosmos_policy.runtime import ManualClock as Clock
    from cosmos_policy.runtime.sync import ObservationSync

    clock = Clock(10.0)
    sync = ObservationSync(franka, clock)
    sync.set_prompt("reach the red cube")
    img = np.zeros((128, 128, 3), np.uint8)
    state = np.append(franka.home, 0.0)
    t = clock.advance(0.01)
    for cam in franka.cameras:
        sync.push_image(cam.name, img, t)
    sync.push_state(state, t)
    assert sync.latest() is not None
    sync.clear()
    assert sync.latest() is None
    assert sync.latest_state() is None
    t = clock.advance(0.01)
    for cam in franka.cameras:
        sync.push_image(cam.name, img + 1, t)
    sync.push_state(state, t)
    obs = sync.latest()
    assert obs.timestamp == t
    assert obs.prompt == "reach the red cube"


def test_reset_refuses_inputs_from_before_the_boundary(franka, projector):
    """A frame or joint state of the previous episode that arrives after ~/reset (still in
    flight on the wire) is refused; inputs stamped after the reset make observations."""
    core, rec, clock = make_core(franka, projector)
    run(core, franka, clock, 0.3)
    t_old = clock.now() - 0.005  # taken before the reset, delivered after it
    clock.advance(0.01)
    core.reset()
    img = np.zeros((128, 128, 3), np.uint8)
    state = np.append(franka.home, 0.0).astype(np.float32)
    for cam in franka.cameras:
        assert core.on_image(cam.name, img, t_old) == "before_reset"
    assert core.on_joint_state(state, t_old) == "before_reset"
    assert core.sync.latest() is None
    assert core.sync.latest_state() is None
    t = clock.advance(0.01)
    for cam in franka.cameras:
        assert core.on_image(cam.name, img, t) is None
    assert core.on_joint_state(state, t) is None
    assert core.sync.latest().timestamp == t
