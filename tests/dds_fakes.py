"""A ROS 2-shaped robot on bare DDS, for the DDS server's tests (import after cyclonedds)."""

from __future__ import annotations

import time

import numpy as np

from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
from cosmos_policy.transport.endpoints import Endpoints, make_participant
from cosmos_policy.transport.images import rgb_to_image


class Peer:
    """Writes frames, joint states (the home pose) and prompts; reads the server's
    JointTrajectory commands."""

    def __init__(self, domain: int, emb) -> None:
        self.participant = make_participant(domain)
        ep = Endpoints(self.participant, node="peer")
        self.emb = emb
        self.cams = {c.name: ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA)
                     for c in emb.cameras}
        self.joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
        self.prompt = ep.writer("/cosmos_policy/prompt", msgs.String, naming.DEFAULT)
        self.cmds = ep.reader("/joint_trajectory_controller/joint_trajectory",
                              msgs.JointTrajectory, naming.RELIABLE)
        self.names = list(emb.joints) + [emb.gripper.joints[0]]

    def send(self, t: float) -> None:
        """A joint state and one frame per camera, all stamped ``t``."""
        self.joints.write(joint_state_msg(self.names, list(self.emb.home) + [0.04], stamp=t))
        img = np.zeros((128, 128, 3), np.uint8)
        for w in self.cams.values():
            w.write(rgb_to_image(img, seconds_to_stamp(t)))

    def commands(self) -> list:
        return [s for s in self.cmds.take(256) if isinstance(s, msgs.JointTrajectory)]

    def drive(self, seconds: float, offset: float = 0.0) -> None:
        """:meth:`send` every 20 ms for ``seconds``, stamped now + ``offset``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send(time.time() + offset)
            time.sleep(0.02)
