"""The robot side killed mid-episode and restarted (issue #25): the bare-DDS server commands
the simulated robot (``cosmos-policy sim-robot``, another process) over loopback DDS; the
robot process gets SIGKILL mid-episode. The server must hold within 0.5 s (its watchdog sees
the joint states go stale), every command after the robot's last joint state must brake
within the embodiment's acceleration bound (no jump), and once the watchdog has fired no
command may follow the plan as if the robot were still there: once braked, the server sends
nothing to a robot that is silent. A new robot process then calls the server's ``~/reset``
(as ``sim-robot`` does at each episode start) and commanding resumes from the pose the new
robot reports. The fast variant has a light robot process that follows each command at once
and restarts elsewhere without calling ``~/reset``: the server starts again from where the
new robot is, never from where it held the old one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("cyclonedds")

from dds_fakes import ROOT, TRACKING_ROBOT, Tap, python_process  # noqa: E402

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.policy.stand_ins import RandomWalkModel  # noqa: E402
from cosmos_policy.serve.dds_server import DdsPolicyServer  # noqa: E402
from cosmos_policy.serve.node_core import NodeConfig, default_projector  # noqa: E402
from cosmos_policy.transport.dds import TransportConfig  # noqa: E402

pytestmark = pytest.mark.timeout(240)
HOLD_BOUND_S = 0.5  # issue #25: hold within 0.5 s of the robot going away


def _robot(domain: int, log, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cosmos_policy.cli", "sim-robot", "--transport", "dds",
         "--task", "reach", "--domain-id", str(domain), "--episodes", "0",
         "--max-episode-s", "120", "--seed", str(seed)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def _wait_for_motion(tap: Tap, since: float, seconds: float, timeout_s: float) -> float:
    """Wait until commands without holds have gone out for ``seconds``; returns the
    monotonic time of the first of them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        moving = [s for s, c in tap.since(since) if not _holding(c)]
        if moving and time.monotonic() - moving[0] >= seconds:
            return moving[0]
        time.sleep(0.05)
    raise AssertionError(f"no commands without holds within {timeout_s} s")


def _holding(command) -> bool:
    return any(r.startswith("hold:") for r in command.reasons)


def test_the_loop_starts_again_from_where_a_returning_robot_is() -> None:
    """Lockstep: a tracking arm whose joint states and frames stop for a second (the
    watchdog holds and brakes), then come back 0.2 rad away on every joint: the next command
    is one step from the new pose, never from where the hold left the old one, and motion
    resumes through the ramp."""
    from test_runtime_loop import EMB, PathModel, build, feed

    from cosmos_policy.runtime import ManualClock

    clock = ManualClock(0.0)
    loop, sync, _ = build(PathModel(speed=0.3), clock)
    state, sent, n = np.append(EMB.home, 0.0), [], EMB.n_joints
    for k in range(450):
        t = clock.advance(0.01) if k else 0.0
        if k == 250:  # a robot restarted elsewhere (the gap: 150..249)
            state = np.append(EMB.home + 0.2, 0.0)
        if not 150 <= k < 250:
            feed(sync, t, state, images=k % 3 == 0)
        cmd = loop.tick(t)
        sent.append(cmd)
        if not 150 <= k < 250:
            state = cmd.positions.copy()  # perfect tracking while it is there
    gap = sent[150:250]
    assert any("hold:stale_state" in c.reasons for c in gap[:25])
    assert not np.any(gap[-1].velocities)  # braked to rest
    step = np.abs(sent[250].positions[:n] - (EMB.home + 0.2))
    dt = loop.safety.config.dt
    assert np.all(step <= EMB.velocity_limits * dt + 1e-9), step
    q = np.array([c.positions[:n] for c in sent[250:]])
    assert np.all(np.abs(np.diff(q, axis=0)) <= EMB.velocity_limits * dt + 1e-9)
    assert sent[-1].velocities[0] > 0.1  # moving again
    assert loop.telemetry.snapshot()["counters"]["resyncs"] == 1


def _check_the_stop(tap: Tap, server: DdsPolicyServer, t_kill: float, last_state: float,
                    restart: float) -> dict:
    """The checks on what the server sent between the kill and the restart; returns the
    figures (seconds after the kill, the peak implied acceleration over the bound)."""
    emb, cfg, safety = server.core.embodiment, server.core.config, server.core.loop.safety
    after_kill = [(s, c) for s, c in tap.since(t_kill) if s < restart]
    before_kill = [c for s, c in tap.since(t_kill - 1.0) if s < t_kill]
    # The server held within 0.5 s of the kill, for the stale joint states.
    holds = [(s, c) for s, c in after_kill if _holding(c)]
    assert holds, [c.reasons for _, c in after_kill[-5:]]
    assert any("hold:stale_state" in c.reasons for _, c in holds), holds[0][1].reasons
    first = next(i for i, (_, c) in enumerate(after_kill) if _holding(c))
    # Once the watchdog fired it never let go while the robot was gone ...
    assert all(_holding(c) for _, c in after_kill[first:]), \
        [c.reasons for _, c in after_kill[first:] if not _holding(c)][:3]
    # ... and nothing later than the watchdog's bound after the last joint state (plus
    # a period of scheduling) followed the plan.
    late = [c for _, c in after_kill
            if c.time > last_state + cfg.max_state_age_s + 0.05 and not _holding(c)]
    assert not late, [c.reasons for c in late[:3]]
    # Braking: from the commands before the kill on, every step's implied acceleration is
    # inside the bound and every step inside the velocity limit; it ends at rest.
    cmds = before_kill[-2:] + [c for _, c in after_kill]
    dt, n = safety.config.dt, emb.n_joints
    q = np.array([c.positions[:n] for c in cmds])
    v = np.diff(q, axis=0) / dt
    ratio = float(np.max(np.abs(np.diff(v, axis=0)) / dt / safety.config.accel))
    assert ratio <= 1.0 + 1e-6, ratio
    assert np.all(np.abs(np.diff(q, axis=0)) <= emb.velocity_limits * dt + 1e-9)
    assert not np.any(cmds[-1].velocities), "not at rest"
    # Then nothing more to a robot that is not there (braking takes < 0.3 s at most).
    last_sent = after_kill[-1][0] - t_kill
    assert last_sent < 1.0 + cfg.max_state_age_s, last_sent
    return {"hold_s": holds[0][0] - t_kill, "accel_ratio": ratio, "last_sent_s": last_sent,
            "withheld": server.gate.withheld}


def _server(domain: int, prompt: str | None) -> DdsPolicyServer:
    emb = load_embodiment("franka")
    proj = default_projector(emb)
    return DdsPolicyServer(emb, RandomWalkModel(emb, proj, seed=0),
                           TransportConfig(domain_id=domain), NodeConfig(prompt=prompt),
                           projector=proj).start()


def test_a_robot_killed_and_restarted_elsewhere_is_never_commanded_from_the_old_pose(dds_env):
    """Fast variant: a light robot process following each command at once, SIGKILLed, then
    started again 0.15 rad away on every joint, with no ~/reset."""
    server = _server(dds_env, "reach the red cube")
    tap = Tap(server)
    emb, offset = server.core.embodiment, 0.15
    robot = python_process(TRACKING_ROBOT, dds_env, 0.0, 60)
    try:
        _wait_for_motion(tap, time.monotonic(), 1.0, timeout_s=60)
        robot.kill()
        t_kill = time.monotonic()
        robot.wait(10)
        last_state = server.core.sync.latest_state()[1]
        time.sleep(1.5)
        restart = time.monotonic()
        robot = python_process(TRACKING_ROBOT, dds_env, offset, 60)
        resumed = _wait_for_motion(tap, restart, 0.5, timeout_s=60)
        first_cmd_at, first_cmd = tap.since(restart)[0]
        states = [(t, q) for t, q in tap.states if t >= restart]
    finally:
        robot.kill()
        robot.wait(10)
        server.close()
    stop = _check_the_stop(tap, server, t_kill, last_state, restart)
    # The new robot got no command before the server had seen it: every state it sent
    # until the server's first command shows it where it started.
    n, dt = emb.n_joints, server.core.loop.safety.config.dt
    new_pose = np.asarray(emb.home) + offset
    before = [q for t, q in states if t < first_cmd_at]
    assert before, "the server commanded before the new robot's first joint state"
    assert all(np.allclose(q[:n], new_pose, atol=1e-6) for q in before)
    # The first command is one step from where the new robot is, not where the old one held.
    step = np.abs(first_cmd.positions[:n] - new_pose)
    assert np.all(step <= emb.velocity_limits * dt + 1e-9), step
    print(f"kill -> first hold {stop['hold_s'] * 1000:.0f} ms, last command "
          f"{stop['last_sent_s'] * 1000:.0f} ms, then {stop['withheld']} withheld; peak "
          f"acceleration {stop['accel_ratio']:.3f} of the bound; first state of the new "
          f"robot -> first command {first_cmd_at - states[0][0]:.3f} s, -> moving "
          f"{resumed - states[0][0]:.3f} s")
    assert stop["hold_s"] <= HOLD_BOUND_S, stop


def test_the_sim_robot_killed_mid_episode_then_restarted_and_reset(dds_env, tmp_path):
    server = _server(dds_env, None)  # the robot publishes the episode's prompt
    tap = Tap(server)
    emb = server.core.embodiment
    log = open(tmp_path / "robot.log", "w")  # noqa: SIM115 - closed in finally
    robot = _robot(dds_env, log, seed=0)
    try:
        _wait_for_motion(tap, time.monotonic(), 2.0, timeout_s=90)  # mid-episode, moving
        robot.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        state_age = time.time() - server.core.sync.latest_state()[1]
        robot.wait(10)
        last_state = server.core.sync.latest_state()[1]  # wall-clock stamp of the last state
        time.sleep(2.0)
        held = tap.sent[-1][1].positions[: emb.n_joints].copy()
        robot = _robot(dds_env, log, seed=1)
        t_restart = time.monotonic()
        resumed = _wait_for_motion(tap, t_restart, 0.5, timeout_s=90)
        reset_at = [t for t in tap.resets if t >= t_restart]
        first_state = next(q for t, q in tap.states if t >= reset_at[0]) if reset_at else None
        first_cmd_at, first_cmd = tap.since(reset_at[0])[0] if reset_at else (None, None)
    finally:
        robot.kill()
        robot.wait(10)
        server.close()
        log.close()
    robot_log = (tmp_path / "robot.log").read_text()[-3000:]
    stop = _check_the_stop(tap, server, t_kill, last_state, t_restart)
    # Nothing went out between the restart and the reset the new robot asked for.
    assert reset_at, robot_log
    assert not [s for s, _ in tap.since(t_restart) if s < reset_at[0]]
    # It resumed from where the new robot is, not from where it held the killed one.
    n, dt = emb.n_joints, server.core.loop.safety.config.dt
    step = np.abs(first_cmd.positions[:n] - first_state[:n])
    assert np.all(step <= emb.velocity_limits * dt + 1e-9), step
    print(f"kill -> first hold {stop['hold_s'] * 1000:.0f} ms, last command "
          f"{stop['last_sent_s'] * 1000:.0f} ms, then {stop['withheld']} withheld; peak "
          f"acceleration {stop['accel_ratio']:.3f} of the bound; restart -> reset "
          f"{reset_at[0] - t_restart:.2f} s; reset -> first command "
          f"{first_cmd_at - reset_at[0]:.3f} s, -> moving {resumed - reset_at[0]:.3f} s; the "
          f"last joint state was {state_age * 1000:.0f} ms old at the kill; held pose "
          f"{np.abs(held - first_state[:n]).max():.3f} rad from the new robot's")
    assert stop["hold_s"] <= HOLD_BOUND_S, stop
