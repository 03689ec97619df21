"""``serve --record FILE.mcap`` over ``--transport websocket`` and ``--transport ros``: the
MCAP decodes with mcap-ros2-support into the messages that were sent and received, and
``label``'s reader reads it as an episode (frames + joint states + prompt)."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

pytest.importorskip("cyclonedds")
pytest.importorskip("rosbags")
pytest.importorskip("mcap_ros2")

from test_viz_mcap import _decoded  # noqa: E402

pytestmark = pytest.mark.timeout(120)
PROMPT = "reach the red cube"


def _franka():
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.policy.stand_ins import RandomWalkModel
    from cosmos_policy.serve.node_core import default_projector

    emb = load_embodiment("franka")
    proj = default_projector(emb)
    return emb, proj, RandomWalkModel(emb, proj, seed=0)


def test_websocket_record_holds_each_request_and_reply(tmp_path):
    from websockets.sync.client import connect

    from cosmos_policy.label.readers import rosbag
    from cosmos_policy.serve.websocket_server import PolicyWebSocketServer
    from cosmos_policy.serve.wire_msgpack import packb, unpackb
    from cosmos_policy.viz.mcap_serve import ACTIONS_TOPIC

    emb, proj, model = _franka()
    path = tmp_path / "ws.mcap"
    server = PolicyWebSocketServer(emb, model, port=0, projector=proj,
                                   record=str(path)).start()
    rng = np.random.default_rng(0)
    sent, replies = [], []
    try:
        with connect(f"ws://127.0.0.1:{server.port}", open_timeout=5) as ws:
            unpackb(ws.recv(timeout=5))  # the handshake
            ws.send(packb({"images": {}, "state": np.zeros(8, np.float32),
                           "prompt": PROMPT}))  # refused: nothing to record
            assert isinstance(ws.recv(timeout=30), str)
            for k in range(4):
                state = np.append(emb.home + 0.01 * k, 0.25 * k).astype(np.float32)
                request = {"images": {c.name: rng.integers(0, 255, (128, 128, 3), np.uint8)
                                      for c in emb.cameras},
                           "state": state, "prompt": PROMPT, "timestamp": 1000.0 + 0.1 * k}
                ws.send(packb(request))
                replies.append(unpackb(ws.recv(timeout=30)))
                sent.append(request)
    finally:
        server.close()
    by_topic = _decoded(path)
    names = [*emb.joints, emb.gripper.joints[0]]
    states = by_topic["/joint_states"]
    assert [m.schema.name for m in states] == ["sensor_msgs/msg/JointState"] * len(sent)
    for m, request in zip(states, sent, strict=True):
        assert list(m.ros_msg.name) == names
        want = [*request["state"][:-1], emb.gripper.position(float(request["state"][-1]))]
        np.testing.assert_allclose(m.ros_msg.position, want, rtol=0, atol=1e-6)
        assert m.ros_msg.header.stamp.sec + m.ros_msg.header.stamp.nanosec * 1e-9 == \
            pytest.approx(request["timestamp"], abs=1e-6)
    for cam in emb.cameras:
        images = by_topic[cam.topic]
        assert [m.schema.name for m in images] == ["sensor_msgs/msg/Image"] * len(sent)
        for m, request in zip(images, sent, strict=True):
            assert m.ros_msg.encoding == "rgb8"
            assert bytes(m.ros_msg.data) == request["images"][cam.name].tobytes()
    trajs = by_topic["/joint_trajectory_controller/joint_trajectory"]
    assert [m.schema.name for m in trajs] == ["trajectory_msgs/msg/JointTrajectory"] * len(sent)
    for m, reply in zip(trajs, replies, strict=True):
        targets = reply["joint_targets"]
        assert list(m.ros_msg.joint_names) == list(emb.joints)
        got = np.array([p.positions for p in m.ros_msg.points])
        np.testing.assert_allclose(got, targets[:, : emb.n_joints], rtol=0, atol=1e-6)
        last = m.ros_msg.points[-1].time_from_start
        assert last.sec + last.nanosec * 1e-9 == pytest.approx(len(targets) * reply["dt"])
    grips = by_topic["/gripper_controller/commands"]
    for m, reply in zip(grips, replies, strict=True):
        assert m.ros_msg.data == pytest.approx(
            [emb.gripper.position(float(reply["joint_targets"][0, -1]))])
    for m, reply in zip(by_topic[ACTIONS_TOPIC], replies, strict=True):
        assert [d.label for d in m.ros_msg.layout.dim] == ["step", "action"]
        np.testing.assert_allclose(np.reshape(m.ros_msg.data, reply["actions"].shape),
                                   reply["actions"], rtol=0, atol=1e-6)
    assert [m.ros_msg.data for m in by_topic["/cosmos_policy/prompt"]] == [PROMPT]
    episode = rosbag.load_episode(path, path.name)  # label's reader: one episode
    assert episode.task == PROMPT
    assert episode.frames["front"].shape == (len(sent), 128, 128, 3)
    np.testing.assert_array_equal(episode.frames["front"][-1], sent[-1]["images"]["front"])
    assert episode.state is not None
    assert episode.state.shape == (len(sent), emb.n_joints + 1)


@pytest.fixture
def ros_domain(monkeypatch):
    pytest.importorskip("rclpy")
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return random.SystemRandom().randint(100, 230)  # a fixed id collides with parallel runs


def test_ros_record_decodes_to_what_was_sent_and_received(ros_domain, tmp_path):
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from cosmos_policy.label.readers import rosbag
    from cosmos_policy.serve.node_core import NodeConfig
    from cosmos_policy.serve.ros_server import RosPolicyServer
    from cosmos_policy.transport.dds import TransportConfig
    from cosmos_policy.transport.ros import OwnNode, qos_profiles

    emb, proj, model = _franka()
    path = tmp_path / "ros.mcap"
    server = RosPolicyServer(emb, model, TransportConfig(domain_id=ros_domain),
                             NodeConfig(start_enabled=True, diagnostics_period_s=0.1),
                             projector=proj,
                             record=str(path)).start()
    peer = OwnNode("peer", ros_domain)
    node, qos = peer.node, qos_profiles()
    cams = {c.name: node.create_publisher(Image, c.topic, qos_profile_sensor_data)
            for c in emb.cameras}
    joints = node.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
    prompt = node.create_publisher(String, "/cosmos_policy/prompt", qos["latched"])
    received: list = []
    node.create_subscription(JointTrajectory, "/joint_trajectory_controller/joint_trajectory",
                             received.append, qos["reliable"])
    peer.start()
    names = [*emb.joints, emb.gripper.joints[0]]
    rng = np.random.default_rng(0)
    sent_states, sent_images = [], []
    try:
        prompt.publish(String(data=PROMPT))
        deadline, k = time.monotonic() + 60, 0
        while (len(received) < 5 or k < 10) and time.monotonic() < deadline:
            now = node.get_clock().now().to_msg()
            state = JointState(name=names, position=[*(emb.home + 0.001 * k), 0.04])
            state.header.stamp = now
            joints.publish(state)
            sent_states.append(state)
            for cam in emb.cameras:
                img = Image(height=128, width=128, encoding="rgb8", step=384,
                            data=rng.integers(0, 255, 128 * 128 * 3, np.uint8).tobytes())
                img.header.stamp, img.header.frame_id = now, f"{cam.name}_camera"
                cams[cam.name].publish(img)
                if cam.name == "front":
                    sent_images.append(img)
            k += 1
            time.sleep(0.03)
        time.sleep(0.3)
    finally:
        server.close()
        peer.close()
    assert received, "the server sent no command"
    by_topic = _decoded(path)
    got_states = by_topic["/joint_states"]
    assert got_states[0].schema.name == "sensor_msgs/msg/JointState"
    sent_by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in sent_states}
    for m in got_states:
        sent = sent_by_stamp[(m.ros_msg.header.stamp.sec, m.ros_msg.header.stamp.nanosec)]
        assert list(m.ros_msg.name) == list(sent.name)
        np.testing.assert_array_equal(m.ros_msg.position, sent.position)
    front = next(c.topic for c in emb.cameras if c.name == "front")
    sent_imgs = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in sent_images}
    assert by_topic[front]
    for m in by_topic[front]:
        sent = sent_imgs[(m.ros_msg.header.stamp.sec, m.ros_msg.header.stamp.nanosec)]
        assert m.schema.name == "sensor_msgs/msg/Image"
        assert m.ros_msg.header.frame_id == "front_camera"
        assert bytes(m.ros_msg.data) == bytes(sent.data)
    got_cmds = by_topic["/joint_trajectory_controller/joint_trajectory"]
    assert got_cmds[0].schema.name == "trajectory_msgs/msg/JointTrajectory"
    recorded = {tuple(np.round(m.ros_msg.points[0].positions, 12)) for m in got_cmds}
    for msg in received:  # every command the peer got is in the recording
        assert tuple(np.round(msg.points[0].positions, 12)) in recorded
    assert [m.ros_msg.data for m in by_topic["/cosmos_policy/prompt"]] == [PROMPT]
    assert by_topic["/diagnostics"][0].schema.name == "diagnostic_msgs/msg/DiagnosticArray"
    episode = rosbag.load_episode(path, path.name)
    assert episode.task == PROMPT
    assert episode.state is not None
    assert episode.frames["front"].shape[1:] == (128, 128, 3)


def test_serve_cli_records_websocket_requests(tmp_path):
    """``cosmos-policy serve --transport websocket --record``: the CLI wires the recording and
    closes it on SIGTERM, so the file is complete."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from websockets.sync.client import connect

    from cosmos_policy.serve.wire_msgpack import packb, unpackb

    emb, _, _ = _franka()
    path = tmp_path / "cli.mcap"
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "cosmos_policy.cli", "serve", "--transport",
                             "websocket", "--port", "0", "--record", str(path),
                             "--duration", "90"], env=env, stdout=subprocess.PIPE,
                            # the log apart: a log line written between the print's text and
                            # its newline would run into the port's digits
                            stderr=(tmp_path / "serve.log").open("w"), text=True)
    try:
        found = None
        for line in proc.stdout:  # "serving franka on ws://127.0.0.1:PORT"
            found = re.search(r"ws://127\.0\.0\.1:(\d+)", line)
            if found:
                break
        assert found, (tmp_path / "serve.log").read_text()[-2000:]
        state = np.append(emb.home, 0.5).astype(np.float32)
        with connect(f"ws://127.0.0.1:{found.group(1)}", open_timeout=10) as ws:
            unpackb(ws.recv(timeout=10))
            ws.send(packb({"images": {c.name: np.zeros((128, 128, 3), np.uint8)
                                      for c in emb.cameras},
                           "state": state, "prompt": PROMPT}))
            reply = unpackb(ws.recv(timeout=60))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    by_topic = _decoded(path)
    [joints] = by_topic["/joint_states"]
    np.testing.assert_allclose(joints.ros_msg.position[: emb.n_joints], emb.home, atol=1e-6)
    [traj] = by_topic["/joint_trajectory_controller/joint_trajectory"]
    assert len(traj.ros_msg.points) == len(reply["joint_targets"])
