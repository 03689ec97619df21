"""``cosmos-policy serve --transport ros`` and ``sim-robot --transport ros``: the closed loop
over rclpy (ROS 2 from the ``ros`` extra, Fast DDS), three processes on a random domain.

The server (seeded random stand-in model) starts holding; this process's rclpy node checks
``/diagnostics`` says so, enables it through ``~/enable``, lets the MuJoCo sim robot run two
short episodes (each begins with the robot's own ``~/reset`` call), then latches ``~/estop``
and releases it with ``~/reset``; SIGINT ends the server cleanly. Every wait polls with a
deadline. Without rclpy only the shell's wiring runs (a stand-in transport, lockstep core).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 90.0
NODE = "/cosmos_policy"


class Process:
    """A CLI process whose output lines are collected on a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, "-m", "cosmos_policy.cli", *args],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout),
                                        daemon=True)
        self._reader.start()

    def tail(self, n: int = 30) -> str:
        return "".join(self.lines[-n:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        self._reader.join(timeout=10)
        self.proc.stdout.close()


@pytest.fixture
def domain(monkeypatch):
    domain = random.SystemRandom().randint(100, 230)  # not seeded: parallel runs differ
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


def _until(node, done, what: str, timeout_s: float = DEADLINE_S, why=lambda: "") -> None:
    import rclpy

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if done():
            return
    raise AssertionError(f"not within {timeout_s} s: {what}\n{why()}")


def _call(node, client, request):
    import rclpy

    assert client.wait_for_service(timeout_sec=DEADLINE_S), f"{client.srv_name} not available"
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=DEADLINE_S)
    assert future.done(), f"{client.srv_name}: no reply"
    return future.result()


def _value(status, key: str) -> str | None:
    return next((kv.value for kv in status.values if kv.key == key), None)


@pytest.mark.ros
def test_closed_loop_over_rclpy(domain):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String
    from std_srvs.srv import SetBool, Trigger

    server = Process("serve", "--transport", "ros", "--model", "random", "--domain-id",
                     str(domain), "--duration", "240")
    robot = None
    rclpy.init()
    node = rclpy.create_node("serve_test")
    try:
        diags: list = []
        episodes: list[dict] = []
        node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: diags.extend(m.status), 10)
        node.create_subscription(String, "/sim_robot/episode",
                                 lambda m: episodes.append(json.loads(m.data)), 10)
        _until(node, lambda: diags and diags[-1].message == "disabled: holding",
               "the server holds until ~/enable", why=server.tail)
        assert diags[-1].name == "cosmos_policy"
        assert diags[-1].hardware_id == "franka"
        reply = _call(node, node.create_client(SetBool, f"{NODE}/enable"),
                      SetBool.Request(data=True))
        assert reply.success
        assert reply.message == "enabled=True"

        robot = Process("sim-robot", "--transport", "ros", "--task", "reach", "--domain-id",
                        str(domain), "--episodes", "2", "--max-episode-s", "3")
        _until(node, lambda: len(episodes) == 2 or robot.proc.poll() is not None,
               "two episodes over rclpy", why=robot.tail)
        assert len(episodes) == 2, robot.tail()
        for ep in episodes:
            assert ep["policy_reset"] is True, ep  # the robot's ~/reset call was answered
            assert ep["first_command_s"] is not None, ep
            assert ep["first_command_s"] < 1.0, ep
            assert ep["commands"] > 50, ep  # ~100 Hz for up to 3 s
            assert ep["max_joint_motion_rad"] > 0.01, ep  # the commands moved the arm

        n = len(diags)
        _until(node, lambda: len(diags) > n, "diagnostics after the episodes")
        last = diags[-1]
        assert _value(last, "gauges.enabled") == "True"
        assert int(_value(last, "gauges.commands_sent")) > 100
        assert int(_value(last, "counters.resets")) >= 2
        assert int(_value(last, "latency.camera_to_command.count")) > 0

        reply = _call(node, node.create_client(Trigger, f"{NODE}/estop"), Trigger.Request())
        assert reply.success
        _until(node, lambda: diags[-1].message == "e-stop latched", "e-stop in diagnostics")
        assert diags[-1].level == bytes([2])  # ERROR
        reply = _call(node, node.create_client(Trigger, f"{NODE}/reset"), Trigger.Request())
        assert reply.success
        _until(node, lambda: diags[-1].message != "e-stop latched", "e-stop released by reset")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        if robot is not None:
            robot.kill()
    os.killpg(server.proc.pid, signal.SIGINT)  # Ctrl-C
    assert server.proc.wait(timeout=30) == 0, server.tail()
    server.kill()  # already ended: only collects the last lines and closes the pipe
    assert not any("Traceback" in line for line in server.lines), server.tail(60)
    assert any(line.startswith("telemetry {") for line in server.lines), server.tail()


@pytest.mark.ros
def test_forward_commands_over_rclpy(domain):
    """``--command-interface forward``: Float64MultiArray position targets on
    ``/<controller>/commands``, which the sim robot obeys as forward_command_controller
    would; started ``--enabled``, so it moves without ``~/enable``."""
    server = Process("serve", "--transport", "ros", "--model", "random", "--domain-id",
                     str(domain), "--duration", "120", "--enabled", "--command-interface",
                     "forward", "--controller", "forward_position_controller")
    robot = None
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not any(line.startswith("serving") for line in server.lines):
            assert time.monotonic() < deadline, server.tail()
            assert server.proc.poll() is None, server.tail()
            time.sleep(0.05)
        serving = next(line for line in server.lines if line.startswith("serving"))
        # the only command topic: what the robot counts came as Float64MultiArray
        assert "'commands': '/forward_position_controller/commands'" in serving, serving
        robot = Process("sim-robot", "--transport", "ros", "--task", "reach", "--domain-id",
                        str(domain), "--episodes", "1", "--max-episode-s", "3",
                        "--controller", "forward_position_controller")
        assert robot.proc.wait(timeout=DEADLINE_S) == 0, robot.tail()
        robot.kill()
        summary = json.loads(robot.lines[-1])
        episode = json.loads(next(line for line in robot.lines if " episode {" in line)
                             .split(" episode ", 1)[1])
    finally:
        if robot is not None:
            robot.kill()
        server.kill()
    assert summary["episodes"] == 1
    assert summary["refused_commands"] == {}
    assert episode["policy_reset"] is True, episode
    assert episode["commands"] > 50, episode
    assert episode["max_joint_motion_rad"] > 0.01, episode


class _Services:
    def __init__(self) -> None:
        self.handlers: dict = {}

    def on_reset(self, handler) -> None:
        self.handlers["reset"] = handler

    def on_enable(self, handler) -> None:
        self.handlers["enable"] = handler

    def on_estop(self, handler) -> None:
        self.handlers["estop"] = handler


class _Transport:
    """What ``attach`` and ``CameraToCommand`` see of a RosTransport, recording."""

    def __init__(self) -> None:
        self.services = _Services()
        self.inputs: dict = {}
        self.sent: list = []

    def on_image(self, cb) -> None:
        self.inputs["image"] = cb

    def on_joint_state(self, cb) -> None:
        self.inputs["joint_state"] = cb

    def on_prompt(self, cb) -> None:
        self.inputs["prompt"] = cb

    def send(self, command) -> None:
        self.sent.append(command)

    def publish_diagnostics(self, *args, **kwargs) -> None:
        pass


def test_the_rclpy_shell_wires_inputs_services_and_times_commands():
    import numpy as np

    pytest.importorskip("cyclonedds")
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.policy.stand_ins import RandomWalkModel
    from cosmos_policy.runtime import LockstepInference, ManualClock
    from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore, default_projector
    from cosmos_policy.serve.ros_server import CameraToCommand, attach
    from cosmos_policy.transport.convert import JointReading

    emb = load_embodiment("franka")
    projector = default_projector(emb)
    transport = _Transport()
    probe = CameraToCommand(RandomWalkModel(emb, projector, seed=1), transport)
    clock = ManualClock(time.time())
    core = PolicyNodeCore(emb, probe, probe, NodeConfig(start_enabled=False), clock=clock,
                          projector=projector, inference_factory=lambda m, c, t:
                          LockstepInference(m, latency_s=0.05, telemetry=t))
    probe.core = core
    attach(core, transport)
    handlers = transport.services.handlers
    assert transport.inputs["prompt"]("") == "empty_prompt"  # into the core's checks
    assert transport.inputs["prompt"]("reach the red cube") is None
    assert handlers["enable"](True) == (True, "enabled=True")
    state = np.append(emb.home, 0.0).astype(np.float32)
    img = np.zeros((128, 128, 3), np.uint8)
    for k in range(200):
        t = clock.advance(0.01)
        transport.inputs["joint_state"](JointReading(state, None, t))
        if k % 5 == 0:
            for cam in emb.cameras:
                transport.inputs["image"](cam.name, img, t)
        core.tick(t)
    chunks = core.telemetry.counter("chunks")
    assert chunks > 5
    assert len(transport.sent) > 150  # the core's commands went out through the probe
    # one camera_to_command sample per chunk taken (the first command of each)
    assert len(core.telemetry.stage_values("camera_to_command")) == chunks
    assert handlers["estop"]()[0]
    assert core.status()[1] == "e-stop latched"
    handlers["enable"](True)
    assert core.status()[1] == "e-stop latched"  # enable does not release the e-stop
    assert handlers["reset"]()[0]
    assert core.status()[1] != "e-stop latched"  # reset does
    assert core.telemetry.counter("resets") == 1
