"""The DDS server under bad stamps (issue #25): one message stamped an hour ahead used to
make every later one ``out_of_order`` until a restart. Loopback, random private domain."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

pytest.importorskip("cyclonedds")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.policy.stand_ins import RandomWalkModel  # noqa: E402
from cosmos_policy.runtime import ManualClock  # noqa: E402
from cosmos_policy.serve.dds_server import BoundedStampOrder, DdsPolicyServer  # noqa: E402
from cosmos_policy.serve.node_core import NodeConfig, default_projector  # noqa: E402
from cosmos_policy.transport import msgs, naming  # noqa: E402
from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp  # noqa: E402
from cosmos_policy.transport.dds import TransportConfig  # noqa: E402
from cosmos_policy.transport.endpoints import (  # noqa: E402
    Endpoints,
    make_participant,
    write_loopback_config,
)
from cosmos_policy.transport.images import rgb_to_image  # noqa: E402
from cosmos_policy.transport.rejection import WireRejection  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def dds_env(tmp_path_factory):
    path = write_loopback_config(tmp_path_factory.mktemp("dds"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CYCLONEDDS_URI", path.as_uri())
        mp.setenv("OMP_NUM_THREADS", "1")
        yield random.SystemRandom().randint(100, 230)


class Peer:
    """A ROS 2-shaped robot: writes frames and joint states; reads commands."""

    def __init__(self, domain: int, emb) -> None:
        self.participant = make_participant(domain)
        ep = Endpoints(self.participant, node="peer")
        self.emb = emb
        self.cams = {c.name: ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA)
                     for c in emb.cameras}
        self.joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
        self.cmds = ep.reader("/joint_trajectory_controller/joint_trajectory",
                              msgs.JointTrajectory, naming.RELIABLE)
        self.names = list(emb.joints) + [emb.gripper.joints[0]]

    def send(self, t: float) -> None:
        self.joints.write(joint_state_msg(self.names, list(self.emb.home) + [0.04], stamp=t))
        img = np.zeros((128, 128, 3), np.uint8)
        for w in self.cams.values():
            w.write(rgb_to_image(img, seconds_to_stamp(t)))

    def commands(self) -> list:
        return [s for s in self.cmds.take(256) if isinstance(s, msgs.JointTrajectory)]

    def drive(self, seconds: float, offset: float = 0.0) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send(time.time() + offset)
            time.sleep(0.02)


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
