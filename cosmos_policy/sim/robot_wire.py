"""The sim robot's side of the wire: what it publishes and what it obeys, over bare DDS.

:class:`RobotWire` is the contract :class:`~cosmos_policy.sim.sim_robot.SimRobot` runs on;
:class:`DdsRobotWire` implements it with cyclonedds endpoints (``--transport dds``) and
:class:`~cosmos_policy.transport.ros_robot.RosRobotWire` with rclpy (``--transport ros``).
Commands come out of :meth:`RobotWire.take` as plain tuples, the same for both:

* ``("trajectory", joint_names, positions of the last point, time_from_start s)``
* ``("forward", values)`` (``/<controller>/commands``)
* ``("gripper", values)`` (``/<gripper_controller>/commands``)
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

import numpy as np

from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp, stamp_to_seconds
from cosmos_policy.transport.dds import release_participant
from cosmos_policy.transport.endpoints import Endpoints, make_participant
from cosmos_policy.transport.images import rgb_to_image

EPISODE_TOPIC = "/sim_robot/episode"
Command = tuple[Any, ...]


class RobotWire(Protocol):
    """A ros2_control robot's topics and the policy's ``~/reset`` client."""

    def publish_images(self, images: dict[str, np.ndarray], stamp: float) -> None: ...

    def publish_joints(self, names: list[str], positions: list[float],
                       velocities: list[float], stamp: float) -> None: ...

    def publish_prompt(self, text: str) -> None: ...

    def publish_episode(self, text: str) -> None: ...

    def request_reset(self, seq: int) -> None: ...

    def reset_reply(self, seq: int) -> bool | None: ...

    def take(self, limit: int = 16) -> list[Command]: ...

    def close(self) -> None: ...


class DdsRobotWire:
    """:class:`RobotWire` over bare DDS (cyclonedds), as ``cosmos-policy serve`` sees it."""

    def __init__(self, emb: Any, domain_id: int, controller: str, gripper_controller: str,
                 policy_node: str, dds_config: str | None = None) -> None:
        self.participant = make_participant(domain_id, dds_config)
        ep = self.endpoints = Endpoints(self.participant, node="sim_robot")
        self._cams = {c.name: ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA)
                      for c in emb.cameras}
        self._joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
        self._episode = ep.writer(EPISODE_TOPIC, msgs.String, naming.RELIABLE)
        self._prompt = ep.writer(f"{policy_node}/prompt", msgs.String, naming.PROMPT)
        node = policy_node.strip("/")
        self._reset_rq = ep.writer(f"rq/{node}/resetRequest", msgs.TriggerRequest,
                                   naming.SERVICES, raw=True)
        self._reset_rp = ep.reader(f"rr/{node}/resetReply", msgs.TriggerResponse,
                                   naming.SERVICES, raw=True)
        self._guid = secrets.randbits(63)  # our client id: the replies to us echo it
        ctrl = controller.strip("/")
        self._traj = ep.reader(f"/{ctrl}/joint_trajectory", msgs.JointTrajectory,
                               naming.RELIABLE)
        self._fwd = ep.reader(f"/{ctrl}/commands", msgs.Float64MultiArray, naming.RELIABLE)
        grip = gripper_controller.strip("/")
        self._grip = ep.reader(f"/{grip}/commands", msgs.Float64MultiArray,
                               naming.RELIABLE) if grip else None

    def publish_images(self, images: dict[str, np.ndarray], stamp: float) -> None:
        for name, image in images.items():
            self._cams[name].write(rgb_to_image(image, seconds_to_stamp(stamp),
                                                frame_id=f"{name}_camera"))

    def publish_joints(self, names: list[str], positions: list[float],
                       velocities: list[float], stamp: float) -> None:
        self._joints.write(joint_state_msg(names, positions, velocities, stamp=stamp))

    def publish_prompt(self, text: str) -> None:
        self._prompt.write(msgs.String(text))

    def publish_episode(self, text: str) -> None:
        self._episode.write(msgs.String(text))

    def request_reset(self, seq: int) -> None:
        self._reset_rq.write(msgs.TriggerRequest(guid=self._guid, seq=seq))

    def reset_reply(self, seq: int) -> bool | None:
        for rep in self._reset_rp.take(16):
            if isinstance(rep, msgs.TriggerResponse) and rep.guid == self._guid \
                    and rep.seq == seq:
                return bool(rep.success)
        return None

    def take(self, limit: int = 16) -> list[Command]:
        out: list[Command] = []
        for msg in self._traj.take(limit):
            if isinstance(msg, msgs.JointTrajectory) and msg.points:
                point = msg.points[-1]
                out.append(("trajectory", list(msg.joint_names), list(point.positions),
                            stamp_to_seconds(point.time_from_start)))
        out += [("forward", list(m.data)) for m in self._fwd.take(limit)
                if isinstance(m, msgs.Float64MultiArray)]
        if self._grip is not None:
            out += [("gripper", list(m.data)) for m in self._grip.take(limit)
                    if isinstance(m, msgs.Float64MultiArray)]
        return out

    def close(self) -> None:
        release_participant(self.participant)
        self.participant = None


__all__ = ["EPISODE_TOPIC", "Command", "DdsRobotWire", "RobotWire"]
