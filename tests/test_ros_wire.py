"""The bare-DDS wire against a default ROS 2 graph: rclpy on Fast DDS, in its own process.

Every message type crosses both ways between our cyclonedds endpoints and an rclpy node
(tests/ros_wire_peer.py), and rclpy calls ``~/estop``, ``~/enable`` and ``~/reset`` on our
server. ROS 2 Jazzy runs with this interpreter (the ``ros`` extra); Kilted (Fast DDS 3,
where type information used to block every type holding a sequence) with the interpreter
named by ``COSMOS_POLICY_KILTED_PYTHON`` (its own venv: .ci/setup makes one).

Loopback only, on a random domain: parallel runs on one machine do not see each other.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cyclonedds")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.transport import msgs, naming  # noqa: E402
from cosmos_policy.transport.dds import DdsTransport, TransportConfig  # noqa: E402
from cosmos_policy.transport.endpoints import (  # noqa: E402
    Endpoints,
    make_participant,
    write_loopback_config,
)

sys.path.insert(0, str(Path(__file__).parent))
from ros_wire_peer import KINDS, SAMPLES, plain  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(240)]
PEER = Path(__file__).parent / "ros_wire_peer.py"
DEADLINE_S = 60.0
KILTED_ENV = "COSMOS_POLICY_KILTED_PYTHON"

_CLASSES = {"header": msgs.Header, "stamp": msgs.Time, "time_from_start": msgs.Duration,
            "layout": msgs.MultiArrayLayout}
_ELEMENTS = {"points": msgs.JointTrajectoryPoint, "dim": msgs.MultiArrayDimension,
             "status": msgs.DiagnosticStatus, "values": msgs.KeyValue}


def build(cls: type, fields: dict[str, Any]) -> Any:
    """Our IDL sample from the peer's field table."""
    kwargs: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, dict):
            kwargs[name] = build(_CLASSES[name], value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            kwargs[name] = [build(_ELEMENTS[name], v) for v in value]
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _python(distro: str) -> str:
    if distro == "jazzy":
        return sys.executable
    path = os.environ.get(KILTED_ENV)
    if not path:
        pytest.skip(f"{KILTED_ENV} is not set (a venv with ROS 2 Kilted's rclpy)")
    return path


class Peer:
    """The rclpy peer process; its stdout lines are collected on a thread."""

    def __init__(self, python: str, mode: str, domain: int, seconds: float) -> None:
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
        # Each ROS wheel venv sets its own library path on start (ros_wheels_bootstrapper);
        # a path inherited from another venv would load the other distribution's libraries.
        for name in ("_ROS_WHEELS_BOOTSTRAP_COMPLETE", "LD_LIBRARY_PATH", "RMW_IMPLEMENTATION"):
            env.pop(name, None)
        self.proc = subprocess.Popen([python, str(PEER), mode, str(seconds)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def records(self, tag: str) -> list[list[str]]:
        return [line.split(" ", 2)[1:] for line in list(self.lines) if line.startswith(tag + " ")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=20)
        self._reader.join(timeout=5)

    def wait(self, timeout_s: float) -> None:
        self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=5)


@pytest.fixture
def domain(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLONEDDS_URI", write_loopback_config(tmp_path).as_uri())
    return random.SystemRandom().randint(100, 230)  # not seeded: parallel runs differ


@pytest.mark.parametrize("distro", ["jazzy", "kilted"])
def test_every_message_type_crosses_both_ways(distro, domain):
    python = _python(distro)
    participant = make_participant(domain)
    ours = Endpoints(participant, node="wire_test")
    types = {k: getattr(msgs, k) for k in KINDS}
    writers = {k: ours.writer(f"/to_ros/{k}", types[k], naming.DEFAULT) for k in KINDS}
    readers = {k: ours.reader(f"/to_us/{k}", types[k], naming.DEFAULT) for k in KINDS}
    samples = {k: build(types[k], SAMPLES[k]) for k in KINDS}
    expected = {k: plain(samples[k]) for k in KINDS}
    peer = Peer(python, "topics", domain, DEADLINE_S + 30)
    received: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            for k in KINDS:
                writers[k].write(samples[k])
                got = [s for s in readers[k].take(4) if isinstance(s, types[k])]
                if got and k not in received:
                    received[k] = plain(got[0])
            if len(received) == len(KINDS) and len(peer.records("GOT")) == len(KINDS):
                break
            if peer.proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        peer.stop()
        participant.__del__()
    peer_got = {kind: json.loads(body) for kind, body in peer.records("GOT")}
    log = "\n".join(peer.lines[-20:])
    assert {k: received.get(k) for k in KINDS} == expected, f"rclpy -> us ({distro})\n{log}"
    assert {k: peer_got.get(k) for k in KINDS} == expected, f"us -> rclpy ({distro})\n{log}"


@pytest.mark.parametrize("distro", ["jazzy", "kilted"])
def test_rclpy_calls_our_services(distro, domain):
    """rmw_fastrtps clients: stopping calls run, starting calls are refused (no reply can
    reach them over bare DDS: docs/ROS2_WIRE.md); every service is seen as available."""
    python = _python(distro)
    calls: list[str] = []
    with DdsTransport(load_embodiment("franka"), TransportConfig(domain_id=domain)) as transport:
        transport.services.on_estop(lambda: (calls.append("estop") or True, "holding"))
        transport.services.on_enable(lambda on: (calls.append(f"enable {on}") or True, "ok"))
        transport.services.on_reset(lambda: (calls.append("reset") or True, "reset"))
        transport.start()
        seen = transport.services.fastdds_requests
        # After the n-th call, the server has recorded n Fast DDS requests in all.
        peer = Peer(python, "services", domain, DEADLINE_S)
        answers, repeats = [], 0
        try:
            while len(answers) < 4 and peer.proc.poll() is None:
                records = peer.records("CALL")
                if len(records) <= len(answers) + repeats:
                    time.sleep(0.02)
                    continue
                name, rest = records[-1]
                deadline = time.monotonic() + 3.0
                while sum(map(len, seen.values())) <= len(answers) and \
                        time.monotonic() < deadline:
                    time.sleep(0.02)
                if sum(map(len, seen.values())) <= len(answers) and repeats < 5:
                    repeats += 1  # lost before our reader matched the client: call again
                    peer.proc.stdin.write("again\n")
                else:
                    answers.append((name, *map(json.loads, rest.split(" ", 1))))
                    peer.proc.stdin.write("next\n")
                peer.proc.stdin.flush()
            peer.wait(30)
        finally:
            peer.stop()
    log = "\n".join(peer.lines[-20:])
    assert answers == [("estop", True, None), ("enable", True, None),
                       ("enable", True, None), ("reset", True, None)], log
    assert calls == ["estop", "enable False"], log
    assert seen == {"/cosmos_policy/reset": ["refused"],
                    "/cosmos_policy/enable": ["run", "refused"],
                    "/cosmos_policy/estop": ["run"]}, log
