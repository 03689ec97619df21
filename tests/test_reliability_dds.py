"""The DDS server under bad stamps (issue #25): one message stamped an hour ahead used to
make every later one ``out_of_order`` until a restart. Loopback, random private domain."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cyclonedds")

from dds_fakes import Peer  # noqa: E402

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.policy.stand_ins import RandomWalkModel  # noqa: E402
from cosmos_policy.runtime import ManualClock  # noqa: E402
from cosmos_policy.serve.dds_server import BoundedStampOrder, DdsPolicyServer  # noqa: E402
from cosmos_policy.serve.node_core import NodeConfig, default_projector  # noqa: E402
from cosmos_policy.transport.convert import seconds_to_stamp  # noqa: E402
from cosmos_policy.transport.dds import TransportConfig  # noqa: E402
from cosmos_policy.transport.images import rgb_to_image  # noqa: E402
from cosmos_policy.transport.rejection import WireRejection  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)


def test_bounded_stamp_order_refuses_the_future_and_forgets_on_a_jump_back() -> None:
    clock = ManualClock(1000.0)
    order = BoundedStampOrder(clock, max_future_s=1.0)
    with pytest.raises(WireRejection) as e:
        order.check("joint_states", 1000.0 + 3600.0)
    assert e.value.reason == "future_stamp"
    order.check("joint_states", 1000.5)  # inside the bound
    with pytest.raises(WireRejection):
        order.check("joint_states", 1000.4)  # order still holds
    order.reset()
    order.check("joint_states", 1000.4)  # ~/reset forgot the newest stamp
    clock._t = 900.0  # the clock jumped back 100 s
    order.check("joint_states", 900.01)


def test_a_stamp_one_hour_ahead_does_not_stop_the_server(dds_env):
    emb = load_embodiment("franka")
    proj = default_projector(emb)
    server = DdsPolicyServer(emb, RandomWalkModel(emb, proj, seed=0),
                             TransportConfig(domain_id=dds_env),
                             NodeConfig(prompt="reach the red cube"), projector=proj).start()
    peer = Peer(dds_env, emb)
    try:
        deadline = time.monotonic() + 30
        while not peer.commands() and time.monotonic() < deadline:
            peer.drive(0.1)
        assert server.core.commands_sent > 0
        for _ in range(3):  # best effort on loopback: a few times
            peer.send(time.time() + 3600.0)
            time.sleep(0.05)
        peer.drive(1.5)
        peer.commands()
        peer.drive(1.5)
        after = peer.commands()
        last = server.core.last_command
        wire = server.core.diagnostics()["rejections"]["wire"]
    finally:
        server.close()
        peer.participant.__del__()
    assert any(k.endswith(":future_stamp") for k in wire), wire
    assert not any(k.endswith(":out_of_order") for k in wire), wire
    assert after
    assert not [r for r in last.reasons if r.startswith("hold:")], last.reasons


def _server_and_peer(dds_env):
    emb = load_embodiment("franka")
    proj = default_projector(emb)
    server = DdsPolicyServer(emb, RandomWalkModel(emb, proj, seed=0),
                             TransportConfig(domain_id=dds_env),
                             NodeConfig(prompt="reach the red cube"), projector=proj).start()
    peer = Peer(dds_env, emb)
    deadline = time.monotonic() + 30
    while not peer.commands() and time.monotonic() < deadline:
        peer.drive(0.1)
    assert server.core.commands_sent > 0
    return server, peer


FLOODER = """
import sys, time
import numpy as np
from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.convert import joint_state_msg
from cosmos_policy.transport.endpoints import Endpoints, make_participant
domain, kind, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
emb = load_embodiment("franka")
ep = Endpoints(make_participant(domain), node="flooder")
w = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
names = list(emb.joints) + [emb.gripper.joints[0]]
values = [np.nan] * len(names) if kind == "nan" else list(emb.home) + [0.04]
time.sleep(1.0)  # discovery
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(100):
        w.write(joint_state_msg(names, values, stamp=time.time()))
    n += 100
print(n, flush=True)
"""


def _flood(domain: int, kind: str, seconds: float) -> subprocess.Popen:
    """Joint states as fast as another process can write them (NaN or valid)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", FLOODER, str(domain), kind, str(seconds)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("kind", ["nan", "flood"])
def test_nan_storms_and_floods_on_dds_leave_the_server_commanding(dds_env, kind):
    """A NaN storm (every joint NaN) or a flood of valid joint states, as fast as another
    Python process can write them, for 5 s: the server keeps its command rate or holds,
    and commands normally once good input returns. Frames keep coming throughout, as from
    a robot's cameras."""
    server, peer = _server_and_peer(dds_env)
    stop = threading.Event()

    def cameras() -> None:
        img = np.zeros((128, 128, 3), np.uint8)
        while not stop.is_set():
            for w in peer.cams.values():
                w.write(rgb_to_image(img, seconds_to_stamp(time.time())))
            time.sleep(1 / 30)

    cam = threading.Thread(target=cameras, daemon=True)
    try:
        cam.start()
        flooder = _flood(dds_env, kind, 5.0)
        time.sleep(1.5)  # the flooder's start-up and discovery
        sent0, t0 = server.core.commands_sent, time.monotonic()
        out, err = flooder.communicate(timeout=120)
        rate = (server.core.commands_sent - sent0) / (time.monotonic() - t0)
        assert flooder.returncode == 0, err
        written = int(out.split()[-1])
        stop.set()
        cam.join(5)
        peer.drive(2.0)  # good input returns
        peer.commands()
        peer.drive(1.0)
        after = peer.commands()
        last = server.core.last_command
        wire = server.core.diagnostics()["rejections"]["wire"]
    finally:
        stop.set()
        server.close()
        peer.participant.__del__()
    assert written >= 5000
    # Commanding (or holding) through it, not stalled. The rate itself is the machine's: with
    # the flooder on one of two cores it was 83-89 Hz on a quiet machine and 36 Hz with other
    # jobs running; docs/RELIABILITY.md reports it, a test only checks for a stall.
    assert rate > 0.2 * 100
    assert after
    assert np.all(np.isfinite(last.positions))
    assert not [r for r in last.reasons if r.startswith("hold:")], last.reasons
    if kind == "nan":
        assert wire.get("/joint_states:non_finite", 0) > 0, wire
