"""``sim-robot --record FILE.mcap``: an MCAP with ROS 2 schemas that mcap-ros2-support
decodes into the messages that went over the wire, and that ``label``'s reader reads."""

from __future__ import annotations

import json
import random
import threading
import time

import numpy as np
import pytest

pytest.importorskip("cyclonedds")
pytest.importorskip("rosbags")
pytest.importorskip("mcap_ros2")

from cosmos_policy.transport import msgs, naming  # noqa: E402
from cosmos_policy.transport.convert import trajectory_msg  # noqa: E402
from cosmos_policy.transport.endpoints import (  # noqa: E402
    Endpoints,
    make_participant,
    write_loopback_config,
)

pytestmark = pytest.mark.timeout(120)


class Decoded:
    """One message as mcap-ros2-support decoded it, with its schema."""

    def __init__(self, schema, ros_msg) -> None:
        self.schema, self.ros_msg = schema, ros_msg


@pytest.fixture
def dds_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLONEDDS_URI", write_loopback_config(tmp_path).as_uri())
    return random.SystemRandom().randint(100, 230)  # a fixed id collides with parallel runs


def test_sim_robot_record_decodes_to_what_was_sent_and_label_reads_it(dds_env, tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from cosmos_policy.label.readers import rosbag
    from cosmos_policy.sim.sim_robot import SimRobot, SimRobotConfig

    path = tmp_path / "robot.mcap"
    rrd = tmp_path / "robot.rrd"
    robot = SimRobot(SimRobotConfig(domain_id=dds_env, max_episode_s=0.5, record=str(path),
                                    rerun=str(rrd) if _has_rerun() else None))
    emb = robot.emb
    policy = make_participant(dds_env)
    ep = Endpoints(policy, node="cosmos_policy")
    requests = ep.reader("rq/cosmos_policy/resetRequest", msgs.TriggerRequest,
                         naming.SERVICES, raw=True)
    replies = ep.writer("rr/cosmos_policy/resetReply", msgs.TriggerResponse, naming.SERVICES,
                        raw=True)
    commands = ep.writer("/joint_trajectory_controller/joint_trajectory", msgs.JointTrajectory,
                         naming.RELIABLE)
    sent = trajectory_msg(emb.joints, (np.asarray(emb.home) + 0.05)[None], [0.25])
    done = threading.Event()

    def policy_side() -> None:  # answers ~/reset, then commands once
        while not done.is_set():
            got = [r for r in requests.take(8) if isinstance(r, msgs.TriggerRequest)]
            if got:
                replies.write(msgs.TriggerResponse(guid=got[0].guid, seq=got[0].seq,
                                                   success=True, message="reset"))
                time.sleep(0.05)
                commands.write(sent)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=policy_side, daemon=True)
    thread.start()
    try:
        result = robot.run_episode(0)
    finally:
        done.set()
        thread.join(5)
        policy.__del__()
        robot.close()
    assert result["commands"] == 1, result

    by_topic: dict[str, list] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, _, decoded in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append(Decoded(schema, decoded))
    cams = {c.topic for c in emb.cameras}
    assert cams | {"/joint_states", "/cosmos_policy/prompt", "/sim_robot/episode",
                   "/joint_trajectory_controller/joint_trajectory"} <= set(by_topic)
    for cam in emb.cameras:
        img = by_topic[cam.topic][0]
        assert img.schema.name == "sensor_msgs/msg/Image"
        assert img.ros_msg.encoding == "rgb8"
        assert img.ros_msg.header.frame_id == f"{cam.name}_camera"
        assert len(img.ros_msg.data) == img.ros_msg.step * img.ros_msg.height > 0
    [traj] = by_topic["/joint_trajectory_controller/joint_trajectory"]
    assert traj.schema.name == "trajectory_msgs/msg/JointTrajectory"
    assert list(traj.ros_msg.joint_names) == list(sent.joint_names)
    np.testing.assert_allclose(traj.ros_msg.points[-1].positions, sent.points[-1].positions)
    assert traj.ros_msg.points[-1].time_from_start.nanosec == \
        sent.points[-1].time_from_start.nanosec
    joints = by_topic["/joint_states"][-1].ros_msg
    assert list(joints.name)[: emb.n_joints] == list(emb.joints)
    [report] = by_topic["/sim_robot/episode"]
    assert json.loads(report.ros_msg.data) == json.loads(json.dumps(result))
    prompt = by_topic["/cosmos_policy/prompt"][-1].ros_msg.data

    episode = rosbag.load_episode(path, path.name)
    assert episode.task == prompt
    first = by_topic[min(cams)]  # the reader's clock: the first camera by name
    assert set(episode.frames) == {rosbag.camera_name(c) for c in cams}
    for frames in episode.frames.values():
        assert frames.shape == (len(first), first[0].ros_msg.height, first[0].ros_msg.width, 3)
    assert episode.state is not None
    assert episode.state.shape == (len(first), emb.n_joints + 1)
    if _has_rerun():  # sim-robot --rerun beside --record: the same traffic, in Rerun
        from test_viz_rerun import _read

        _, rows, _, _ = _read(rrd)
        for joint in emb.joints:
            assert rows[f"/joints/commanded/{joint}"] == 1  # the one trajectory taken
            assert rows[f"/joints/measured/{joint}"] == len(by_topic["/joint_states"])
        for cam in emb.cameras:
            assert rows[f"/camera/{cam.name}"] == len(by_topic[cam.topic])


def _has_rerun() -> bool:
    import importlib.util

    return importlib.util.find_spec("rerun") is not None


def _decoded(path) -> dict[str, list]:
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    by_topic: dict[str, list] = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, _, decoded in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append(Decoded(schema, decoded))
    return by_topic


def test_serve_record_decodes_to_what_was_sent_and_received(dds_env, tmp_path):
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.label.readers import rosbag
    from cosmos_policy.policy.stand_ins import RandomWalkModel
    from cosmos_policy.serve.dds_server import DdsPolicyServer
    from cosmos_policy.serve.node_core import NodeConfig, default_projector
    from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
    from cosmos_policy.transport.dds import TransportConfig
    from cosmos_policy.transport.images import rgb_to_image

    emb = load_embodiment("franka")
    proj = default_projector(emb)
    path = tmp_path / "serve.mcap"
    server = DdsPolicyServer(emb, RandomWalkModel(emb, proj, seed=0),
                             TransportConfig(domain_id=dds_env),
                             NodeConfig(start_enabled=True), projector=proj,
                             record=str(path)).start()
    peer = make_participant(dds_env)
    ep = Endpoints(peer, node="peer")
    cams = {c.name: ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA) for c in emb.cameras}
    joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
    prompt = ep.writer("/cosmos_policy/prompt", msgs.String, naming.DEFAULT)
    cmds = ep.reader("/joint_trajectory_controller/joint_trajectory", msgs.JointTrajectory,
                     naming.RELIABLE)
    names = list(emb.joints) + [emb.gripper.joints[0]]
    rng = np.random.default_rng(0)
    sent_states, sent_images, received = [], [], []
    try:
        deadline = time.monotonic() + 20
        k = 0
        while (len(received) < 5 or k < 10) and time.monotonic() < deadline:
            t = time.time()
            if k % 10 == 0:
                prompt.write(msgs.String("reach the red cube"))
            state = joint_state_msg(names, list(emb.home + 0.001 * k) + [0.04], stamp=t)
            joints.write(state)
            sent_states.append(state)
            img = rgb_to_image(rng.integers(0, 255, (128, 128, 3), np.uint8),
                               seconds_to_stamp(t), frame_id="front_camera")
            cams["front"].write(img)
            cams["wrist"].write(rgb_to_image(np.zeros((128, 128, 3), np.uint8),
                                             seconds_to_stamp(t)))
            sent_images.append(img)
            received += [s for s in cmds.take(64) if isinstance(s, msgs.JointTrajectory)]
            k += 1
            time.sleep(0.03)
        time.sleep(0.2)
        received += [s for s in cmds.take(256) if isinstance(s, msgs.JointTrajectory)]
    finally:
        server.close()
        peer.__del__()
    assert received, "the server sent no command"
    by_topic = _decoded(path)
    # what the server took: the peer's joint states and frames, byte for byte
    got_states = by_topic["/joint_states"]
    assert got_states
    assert got_states[0].schema.name == "sensor_msgs/msg/JointState"
    sent_by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in sent_states}
    for m in got_states:
        sent = sent_by_stamp[(m.ros_msg.header.stamp.sec, m.ros_msg.header.stamp.nanosec)]
        assert list(m.ros_msg.name) == sent.name
        np.testing.assert_array_equal(m.ros_msg.position, sent.position)
    front = next(c.topic for c in emb.cameras if c.name == "front")
    sent_imgs = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in sent_images}
    for m in by_topic[front]:
        sent = sent_imgs[(m.ros_msg.header.stamp.sec, m.ros_msg.header.stamp.nanosec)]
        assert m.ros_msg.header.frame_id == "front_camera"
        assert bytes(m.ros_msg.data) == bytes(sent.data)
    # what the server sent: every command the peer received is in the recording
    got_cmds = by_topic["/joint_trajectory_controller/joint_trajectory"]
    assert got_cmds[0].schema.name == "trajectory_msgs/msg/JointTrajectory"
    recorded = {tuple(np.round(m.ros_msg.points[0].positions, 12)) for m in got_cmds}
    for msg in received:
        assert tuple(np.round(msg.points[0].positions, 12)) in recorded
    assert by_topic["/cosmos_policy/prompt"][-1].ros_msg.data == "reach the red cube"
    episode = rosbag.load_episode(path, path.name)  # label's reader takes it as an episode
    assert episode.task == "reach the red cube"
    assert episode.state is not None
    assert episode.frames["front"].shape[1:] == (128, 128, 3)


def test_serve_rerun_records_the_loop_across_a_reset(dds_env, tmp_path):
    pytest.importorskip("rerun")
    from test_viz_rerun import _read

    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.policy.stand_ins import RandomWalkModel
    from cosmos_policy.serve.dds_server import DdsPolicyServer
    from cosmos_policy.serve.node_core import NodeConfig, default_projector
    from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
    from cosmos_policy.transport.dds import TransportConfig
    from cosmos_policy.transport.images import rgb_to_image
    from cosmos_policy.viz.rerun_log import RerunRecorder, attach_node

    emb = load_embodiment("franka")
    proj = default_projector(emb)
    rrd = tmp_path / "serve.rrd"
    server = DdsPolicyServer(emb, RandomWalkModel(emb, proj, seed=0),
                             TransportConfig(domain_id=dds_env),
                             NodeConfig(prompt="reach the red cube", start_enabled=True),
                             projector=proj)
    viz = RerunRecorder("serve-test", [*emb.joints, "gripper"], path=rrd)
    attach_node(server.core, viz)
    server.start()
    peer = make_participant(dds_env)
    ep = Endpoints(peer, node="peer")
    cams = {c.name: ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA) for c in emb.cameras}
    joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
    names = list(emb.joints) + [emb.gripper.joints[0]]
    reset_at = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            t = time.time()
            joints.write(joint_state_msg(names, list(emb.home) + [0.04], stamp=t))
            for w in cams.values():
                w.write(rgb_to_image(np.zeros((128, 128, 3), np.uint8), seconds_to_stamp(t)))
            if reset_at is None and server.core.commands_sent >= 20:
                server.core.reset()  # builds a new loop: the recording must follow it
                reset_at, sent_at_reset = time.time(), server.core.commands_sent
            if reset_at is not None and server.core.commands_sent >= sent_at_reset + 20:
                break
            time.sleep(0.02)
    finally:
        server.close()
        viz.close()
        peer.__del__()
    assert reset_at is not None
    sent = server.core.commands_sent
    assert sent >= sent_at_reset + 20
    _, rows, times, timelines = _read(rrd)
    for joint in [*emb.joints, "gripper"]:
        assert rows[f"/joints/commanded/{joint}"] >= sent, joint  # every command, both loops
    after = [t for t in times["/joints/commanded/joint1"] if t > reset_at * 1e9]
    assert len(after) >= 20
    assert rows["/camera/front"] > 0
    assert rows["/chunk/actions"] > 0
    assert all(t == {"sim_time"} for t in timelines.values())
