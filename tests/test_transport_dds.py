"""DdsTransport over real cyclonedds, loopback only, on a random private domain.

A "robot" participant built from the same message types plays the ROS 2 side: it
publishes camera frames, joint states and a prompt, listens for commands, diagnostics and
service replies. One test puts the robot in another process so samples cross UDP.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest.mock import Mock

import numpy as np
import pytest

pytest.importorskip("cyclonedds")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.runtime.safety import SentCommand  # noqa: E402
from cosmos_policy.runtime.sync import ObservationSync  # noqa: E402
from cosmos_policy.transport import msgs, naming  # noqa: E402
from cosmos_policy.transport.convert import joint_state_msg, stamp_to_seconds  # noqa: E402
from cosmos_policy.transport.dds import DdsTransport, TransportConfig  # noqa: E402
from cosmos_policy.transport.endpoints import (  # noqa: E402
    LOOPBACK_CONFIG,
    Endpoints,
    make_participant,
    write_loopback_config,
)
from cosmos_policy.transport.images import rgb_to_compressed, rgb_to_image  # noqa: E402

TIMEOUT_S = 10.0
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def dds_env(tmp_path_factory):
    """CYCLONEDDS_URI pointing at a loopback-only config, and a random domain id."""
    path = write_loopback_config(tmp_path_factory.mktemp("dds"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CYCLONEDDS_URI", path.as_uri())
        # Random per run (not seeded): a fixed id would collide with a parallel run.
        yield random.SystemRandom().randint(100, 230)


@pytest.fixture(scope="module")
def franka():
    return load_embodiment("franka")


@pytest.fixture
def robot(dds_env):
    participant = make_participant(dds_env)
    yield Endpoints(participant, node="robot")
    participant.__del__()


def _take_until(reader, timeout_s: float = TIMEOUT_S, spin=None, write=None):
    """Poll ``reader`` (spinning a transport, re-writing a sample) until it yields data."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if write is not None:
            write()
        if spin is not None:
            spin()
        samples = [s for s in reader.take(16) if isinstance(s, reader.topic.data_type)]
        if samples:
            return samples
        time.sleep(0.02)
    raise AssertionError(f"nothing on {reader.topic.name} within {timeout_s} s")


def _spin_until(transport, done, timeout_s: float = TIMEOUT_S, write=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if write is not None:
            write()
        transport.spin_once(0.05)
        if done():
            return
    raise AssertionError("condition not met within timeout")


def _joint_msg(franka, stamp: float, q=None):
    q = np.linspace(-0.5, 0.5, 7) if q is None else q
    names = list(reversed(franka.joints)) + ["finger_joint1"]
    return joint_state_msg(names, list(reversed(q.tolist())) + [0.02], [0.0] * 8, stamp=stamp)


def test_observations_arrive_from_a_ros2_shaped_peer(dds_env, franka, robot):
    # The prompt is latched before the transport exists: transient local must deliver it.
    prompt_w = robot.writer("/cosmos_policy/prompt", msgs.String, naming.PROMPT)
    prompt_w.write(msgs.String("put the cube in the bowl"))
    config = TransportConfig(domain_id=dds_env,
                             cameras={"wrist": "/camera/wrist/image_raw/compressed"})
    rng = np.random.default_rng(0)
    front = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    wrist = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    front_w = robot.writer("/camera/front/image_raw", msgs.Image, naming.SENSOR_DATA)
    wrist_w = robot.writer("/camera/wrist/image_raw/compressed", msgs.CompressedImage,
                           naming.SENSOR_DATA)
    joints_w = robot.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
    front_msg, wrist_msg = rgb_to_image(front, encoding="bgr8"), rgb_to_compressed(wrist, "png")
    tick = [0]

    def publish():
        tick[0] += 1
        stamp = 100.0 + 0.01 * tick[0]
        front_msg.header.stamp = wrist_msg.header.stamp = msgs.Time(100, tick[0] * 10_000_000)
        front_w.write(front_msg)
        wrist_w.write(wrist_msg)
        joints_w.write(_joint_msg(franka, stamp))

    with DdsTransport(franka, config) as transport:
        seen = []
        transport.on_image(lambda cam, img, stamp: seen.append(cam))
        sync = Mock(spec=ObservationSync)
        transport.feed(sync)
        _spin_until(transport, lambda: transport.observations() is not None, write=publish)
        obs = transport.observations()
        obs.validate(franka.observation_spec())
        np.testing.assert_array_equal(obs.images["front"], front)
        np.testing.assert_array_equal(obs.images["wrist"], wrist)
        np.testing.assert_allclose(obs.state[:7], np.linspace(-0.5, 0.5, 7), rtol=1e-6)
        assert obs.state[7] == pytest.approx(0.5)
        assert obs.prompt == "put the cube in the bowl"
        assert obs.timestamp > 100.0
        assert {"front", "wrist"} <= set(seen)
        assert {c.args[0] for c in sync.push_image.call_args_list} == {"front", "wrist"}
        state, stamp, velocities = sync.push_state.call_args.args
        np.testing.assert_array_equal(state, obs.state)
        assert stamp >= obs.timestamp
        assert velocities.shape == (7,)
        sync.set_prompt.assert_called_with("put the cube in the bowl")
        assert not transport.rejections.counts


def test_bad_input_is_counted_and_good_input_still_flows(dds_env, franka, robot):
    with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
        front_w = robot.writer("/camera/front/image_raw", msgs.Image, naming.SENSOR_DATA)
        joints_w = robot.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
        prompt_w = robot.writer("/cosmos_policy/prompt", msgs.String, naming.DEFAULT)
        bad_image = rgb_to_image(np.zeros((128, 128, 3), np.uint8))
        bad_image.encoding = "32FC1"
        nan_joints = _joint_msg(franka, 1.0, q=np.full(7, np.nan))

        def publish_bad():
            front_w.write(bad_image)
            joints_w.write(nan_joints)
            prompt_w.write(msgs.String("   "))

        counts = transport.rejections.counts
        _spin_until(transport, lambda: len(counts) == 3, write=publish_bad)
        assert set(counts) == {("/camera/front/image_raw", "bad_encoding"),
                               ("/joint_states", "non_finite"),
                               ("/cosmos_policy/prompt", "empty_prompt")}
        states = []
        transport.on_joint_state(states.append)
        stamp = [2.0]

        def publish_good():
            stamp[0] += 0.01
            joints_w.write(_joint_msg(franka, stamp[0]))

        _spin_until(transport, lambda: bool(states), write=publish_good)
        assert np.all(np.isfinite(states[0].state))


@pytest.mark.parametrize("mode", ["trajectory", "forward"])
def test_commands_and_diagnostics_reach_the_peer(dds_env, franka, robot, mode):
    config = TransportConfig(domain_id=dds_env, command_mode=mode, time_from_start_s=0.05)
    if mode == "trajectory":
        topic, msg_type = "/joint_trajectory_controller/joint_trajectory", msgs.JointTrajectory
    else:
        topic, msg_type = "/joint_trajectory_controller/commands", msgs.Float64MultiArray
    cmd_r = robot.reader(topic, msg_type, naming.RELIABLE)
    diag_r = robot.reader("/diagnostics", msgs.DiagnosticArray, naming.DIAGNOSTICS)
    target = np.linspace(-0.3, 0.3, 8)
    command = SentCommand(time=1.0, positions=target, velocities=np.full(7, 0.1))
    with DdsTransport(franka, config) as transport:
        got = _take_until(cmd_r, write=lambda: transport.send(command))[0]
        diag = _take_until(diag_r, write=lambda: transport.publish_diagnostics(
            {"counters": {"frames": 12}}, level=msgs.DIAG_WARN, message="slow"))[0]
        with pytest.raises(ValueError, match="NaN"):
            transport.send(SentCommand(time=1.0, positions=np.full(8, np.nan),
                                       velocities=np.zeros(7)))
    if mode == "trajectory":
        assert got.joint_names == list(franka.joints)
        assert got.points[0].positions == pytest.approx(target[:7].tolist())
        assert stamp_to_seconds(got.points[0].time_from_start) == pytest.approx(0.05)
    else:
        assert got.data == pytest.approx(target[:7].tolist())
    status = diag.status[0]
    assert (status.level, status.message, status.hardware_id) == (msgs.DIAG_WARN, "slow",
                                                                  "franka")
    assert [(kv.key, kv.value) for kv in status.values] == [("counters.frames", "12")]


def test_the_gripper_goes_to_its_controller_as_a_joint_position(dds_env, franka, robot):
    """The command's last value (0 open .. 1 closed) reaches the gripper's position controller
    as the gripper joint's position; the arm's trajectory does not carry it."""
    config = TransportConfig(domain_id=dds_env, gripper_period_s=0.05)
    grip_r = robot.reader("/gripper_controller/commands", msgs.Float64MultiArray,
                          naming.RELIABLE)
    g = franka.gripper
    with DdsTransport(franka, config) as transport:
        assert transport.topics["gripper_commands"] == "/gripper_controller/commands"
        t = [0.0]

        def send(opening: float) -> None:
            t[0] += 0.1  # one gripper period and more apart: each one goes out
            transport.send(SentCommand(time=t[0], positions=np.append(np.zeros(7), opening),
                                       velocities=np.zeros(7)))

        closed = _take_until(grip_r, write=lambda: send(1.0))[-1]
        half = _take_until(grip_r, write=lambda: send(0.5))[-1]
        with pytest.raises(ValueError, match="NaN"):
            send(np.nan)
    assert closed.data == pytest.approx([g.closed_position])
    assert half.data == pytest.approx([(g.open_position + g.closed_position) / 2])
    with DdsTransport(franka, TransportConfig(domain_id=dds_env, gripper_controller="")) as t2:
        assert "gripper_commands" not in t2.topics


def test_gripper_commands_repeat_at_their_period_and_go_out_at_once_on_change() -> None:
    from cosmos_policy.transport.convert import GripperPacer

    pacer = GripperPacer(period_s=0.1, tol=0.01)
    sent = [t for t, x in [(0.0, 0.0), (0.01, 0.0), (0.05, 0.005), (0.06, 1.0), (0.07, 1.0),
                           (0.15, 1.0), (0.17, 1.0)] if pacer.due(x, t)]
    assert sent == [0.0, 0.06, 0.17]


def test_services_answer_with_the_request_header(dds_env, franka, robot):
    with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
        enabled = []
        transport.services.on_enable(lambda on: (enabled.append(on) or True, f"enabled={on}"))
        rq = robot.writer("rq/cosmos_policy/enableRequest", msgs.SetBoolRequest,
                          naming.SERVICES, raw=True)
        rr = robot.reader("rr/cosmos_policy/enableReply", msgs.SetBoolResponse,
                          naming.SERVICES, raw=True)
        request = msgs.SetBoolRequest(guid=0xABCDEF, seq=7, data=True)
        reply = _take_until(rr, spin=lambda: transport.spin_once(0.02),
                            write=lambda: rq.write(request))[0]
        assert (reply.guid, reply.seq, reply.success, reply.message) == (0xABCDEF, 7, True,
                                                                         "enabled=True")
        assert enabled[0] is True
        rq2 = robot.writer("rq/cosmos_policy/resetRequest", msgs.TriggerRequest,
                           naming.SERVICES, raw=True)
        rr2 = robot.reader("rr/cosmos_policy/resetReply", msgs.TriggerResponse,
                           naming.SERVICES, raw=True)
        reply2 = _take_until(rr2, spin=lambda: transport.spin_once(0.02),
                             write=lambda: rq2.write(msgs.TriggerRequest(guid=1, seq=3)))[0]
        assert (reply2.seq, reply2.success) == (3, False)  # no handler: says so
        assert "not available" in reply2.message


def test_a_repeated_request_is_answered_again_without_running_twice(dds_env, franka, robot):
    """A client that sends a request again (its reply was late) must not reset twice."""
    with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
        calls = []
        transport.services.on_reset(lambda: (calls.append(1) or True, f"reset {len(calls)}"))
        rq = robot.writer("rq/cosmos_policy/resetRequest", msgs.TriggerRequest,
                          naming.SERVICES, raw=True)
        rr = robot.reader("rr/cosmos_policy/resetReply", msgs.TriggerResponse,
                          naming.SERVICES, raw=True)

        def ask(seq: int, times: int) -> list:
            replies: list = []
            deadline = time.monotonic() + TIMEOUT_S
            while len(replies) < times and time.monotonic() < deadline:
                rq.write(msgs.TriggerRequest(guid=42, seq=seq))
                transport.spin_once(0.05)
                replies += [r for r in rr.take(16) if isinstance(r, msgs.TriggerResponse)]
            return replies

        first = ask(5, 3)  # written until three replies came back: at least three requests
        assert len(first) >= 3
        assert {(r.seq, r.message) for r in first} == {(5, "reset 1")}
        assert len(calls) == 1
        second = ask(6, 1)
        assert (second[0].seq, second[0].message) == (6, "reset 2")
        rq.write(msgs.TriggerRequest(guid=42, seq=5))  # older than the last: dropped
        for _ in range(10):
            transport.spin_once(0.02)
        assert len(calls) == 2
        late = [r.seq for r in rr.take(16) if isinstance(r, msgs.TriggerResponse)]
        assert set(late) <= {6}, late  # repeats of the 6th request's answer at most


ROBOT_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from cosmos_policy.transport import msgs, naming
    from cosmos_policy.transport.convert import joint_state_msg
    from cosmos_policy.transport.endpoints import Endpoints, make_participant

    ep = Endpoints(make_participant(int(sys.argv[1])), node="robot")
    joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
    cmds = ep.reader("/joint_trajectory_controller/joint_trajectory", msgs.JointTrajectory,
                     naming.RELIABLE)
    names = [f"joint{i}" for i in range(1, 8)] + ["finger_joint1"]
    deadline = time.monotonic() + float(sys.argv[2])
    k = 0
    while time.monotonic() < deadline:
        k += 1
        joints.write(joint_state_msg(names, [0.1 * i for i in range(7)] + [0.0], stamp=k))
        got = [s for s in cmds.take(8) if isinstance(s, msgs.JointTrajectory)]
        if got:
            print("GOT", got[0].points[0].positions[0], flush=True)
            sys.exit(0)
        time.sleep(0.02)
    sys.exit(3)
""")


def test_round_trip_across_two_processes(dds_env, franka, tmp_path):
    script = tmp_path / "robot.py"
    script.write_text(ROBOT_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, str(script), str(dds_env), "20"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
            states = []
            transport.on_joint_state(states.append)
            _spin_until(transport, lambda: bool(states), timeout_s=20.0)
            np.testing.assert_allclose(states[-1].state[:7], [0.1 * i for i in range(7)],
                                       rtol=1e-6)
            deadline = time.monotonic() + 20.0
            while proc.poll() is None and time.monotonic() < deadline:
                q = states[-1].state.astype(np.float64) + 0.25
                transport.send(SentCommand(time=0.0, positions=q, velocities=np.zeros(7)))
                transport.spin_once(0.05)
            out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert out.startswith("GOT 0.25")


def test_background_thread_survives_a_failing_callback(dds_env, franka, robot):
    joints_w = robot.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
    with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
        calls = []

        def flaky(reading):
            calls.append(reading.stamp)
            if len(calls) == 1:
                raise RuntimeError("a bug in a subscriber")

        transport.on_joint_state(flaky)
        transport.start()
        deadline = time.monotonic() + TIMEOUT_S
        k = 0
        while len(calls) < 3 and time.monotonic() < deadline:
            k += 1
            joints_w.write(_joint_msg(franka, float(k)))
            time.sleep(0.02)
        assert len(calls) >= 3, "the poller thread stopped after the failing callback"
        assert transport.poller.handler_errors == 1
        assert calls == sorted(calls)


def test_explicit_config_and_domain_checks(dds_env):
    config = LOOPBACK_CONFIG.replace('id="any"', f'id="{(dds_env + 1) % 233}"')
    participant = make_participant((dds_env + 1) % 233, config)
    try:
        with pytest.raises(ValueError, match="already exists"):
            make_participant((dds_env + 1) % 233, config)
    finally:
        participant.__del__()
    with pytest.raises(ValueError, match="0..232"):
        make_participant(233)


def test_a_latched_prompt_is_handled_once(dds_env, franka, robot):
    """A transient-local publisher matches both prompt readers; its prompt counts once."""
    with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
        prompts: list[str] = []
        transport.on_prompt(prompts.append)
        latched = robot.writer("/cosmos_policy/prompt", msgs.String, naming.PROMPT)
        volatile = robot.writer("/cosmos_policy/prompt", msgs.String, naming.DEFAULT)
        _spin_until(transport, lambda: transport.topics and len(
            latched.get_matched_subscriptions()) == 2 and len(
            volatile.get_matched_subscriptions()) == 1)
        latched.write(msgs.String("stack the cubes"))
        _spin_until(transport, lambda: prompts)
        volatile.write(msgs.String("open the drawer"))
        _spin_until(transport, lambda: len(prompts) >= 2)
        for _ in range(10):  # a duplicate, if any, is in flight: give it time to land
            transport.spin_once(0.02)
        assert prompts == ["stack the cubes", "open the drawer"]


@pytest.mark.parametrize("type_information", [False, True])
def test_endpoints_announce_type_information_only_when_asked(dds_env, robot,
                                                             type_information):
    """Fast DDS 3 cannot be matched on type information (see transport/xtypes.py)."""
    ours = Endpoints(make_participant(dds_env), node="ours", type_information=type_information)
    writer = ours.writer("/probe_types", msgs.JointState, naming.DEFAULT)
    reader = robot.reader("/probe_types", msgs.JointState, naming.DEFAULT)
    deadline = time.monotonic() + TIMEOUT_S
    while not reader.get_matched_publications() and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = reader.get_matched_publication_data(reader.get_matched_publications()[0])
    assert (seen.type_id is not None) is type_information
    writer.write(msgs.JointState(name=["a"], position=[1.0]))
    assert _take_until(reader)[0].position == [1.0]
    ours.participant.__del__()


def test_estop_answers_and_a_header_request_is_not_taken_for_fast_dds(dds_env, franka, robot):
    with DdsTransport(franka, TransportConfig(domain_id=dds_env)) as transport:
        calls: list[str] = []
        transport.services.on_estop(lambda: (calls.append("estop") or True, "holding"))
        rq = robot.writer("rq/cosmos_policy/estopRequest", msgs.TriggerRequest,
                          naming.SERVICES, raw=True)
        rr = robot.reader("rr/cosmos_policy/estopReply", msgs.TriggerResponse,
                          naming.SERVICES, raw=True)
        reply = _take_until(rr, spin=lambda: transport.spin_once(0.02),
                            write=lambda: rq.write(msgs.TriggerRequest(guid=9, seq=1)))[0]
        assert (reply.seq, reply.success, reply.message) == (1, True, "holding")
        assert calls == ["estop"]  # once, though the Fast DDS-layout reader saw it too
        assert transport.services.fastdds_requests["/cosmos_policy/estop"] == []
