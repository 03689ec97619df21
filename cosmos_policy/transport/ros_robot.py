"""A robot's side of a ROS 2 graph through rclpy: what a ros2_control robot publishes and
obeys, for simulators and tests (``cosmos-policy sim-robot --transport ros``).

Publishes camera images (``sensor_msgs/Image`` rgb8, sensor-data QoS), ``/joint_states``,
the policy's prompt (latched) and an episode report (``std_msgs/String``); takes
``/<controller>/joint_trajectory``, ``/<controller>/commands`` and
``/<gripper_controller>/commands``; calls the policy's ``~/reset`` (``std_srvs/Trigger``).
Commands are queued by the executor's thread and handed out by :meth:`RosRobotWire.take`
as the tuples of ``cosmos_policy.sim.robot_wire`` (this layer does not import it).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from cosmos_policy.transport.ros import OwnNode, qos_profiles


class RosRobotWire:
    """The robot's endpoints on its own rclpy node ``sim_robot`` on ``domain_id``."""

    def __init__(self, emb: Any, domain_id: int, controller: str, gripper_controller: str,
                 policy_node: str, episode_topic: str) -> None:
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Float64MultiArray, String
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        self._own = OwnNode("sim_robot", domain_id)
        node, qos = self._own.node, qos_profiles()
        self._cams = {c.name: node.create_publisher(Image, c.topic, qos["sensor"])
                      for c in emb.cameras}
        self._joints = node.create_publisher(JointState, "/joint_states", qos["sensor"])
        self._episode = node.create_publisher(String, episode_topic, qos["reliable"])
        self._prompt = node.create_publisher(String, f"{policy_node}/prompt", qos["latched"])
        self._reset = node.create_client(Trigger, f"{policy_node}/reset")
        self._futures: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._queue: deque[tuple] = deque(maxlen=1024)
        ctrl = controller.strip("/")
        node.create_subscription(JointTrajectory, f"/{ctrl}/joint_trajectory",
                                 self._on_trajectory, qos["reliable"])
        node.create_subscription(Float64MultiArray, f"/{ctrl}/commands",
                                 lambda m: self._put(("forward", list(m.data))), qos["reliable"])
        grip = gripper_controller.strip("/")
        if grip:
            node.create_subscription(Float64MultiArray, f"/{grip}/commands",
                                     lambda m: self._put(("gripper", list(m.data))),
                                     qos["reliable"])
        self._own.start()

    def _put(self, command: tuple) -> None:
        with self._lock:
            self._queue.append(command)

    def _on_trajectory(self, msg: Any) -> None:
        if msg.points:
            point = msg.points[-1]
            tfs = point.time_from_start.sec + point.time_from_start.nanosec * 1e-9
            self._put(("trajectory", list(msg.joint_names), list(point.positions), tfs))

    def publish_images(self, images: dict[str, np.ndarray], stamp: float) -> None:
        from sensor_msgs.msg import Image

        sec, frac = divmod(stamp, 1.0)
        for name, rgb in images.items():
            rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
            msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8",
                        is_bigendian=0, step=rgb.shape[1] * 3)
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(sec), int(frac * 1e9)
            msg.header.frame_id = f"{name}_camera"
            msg.data = rgb.tobytes()
            self._cams[name].publish(msg)

    def publish_joints(self, names: list[str], positions: list[float],
                       velocities: list[float], stamp: float) -> None:
        from sensor_msgs.msg import JointState

        sec, frac = divmod(stamp, 1.0)
        msg = JointState(name=list(names), position=[float(p) for p in positions],
                         velocity=[float(v) for v in velocities])
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(sec), int(frac * 1e9)
        self._joints.publish(msg)

    def publish_prompt(self, text: str) -> None:
        from std_msgs.msg import String

        self._prompt.publish(String(data=text))

    def publish_episode(self, text: str) -> None:
        from std_msgs.msg import String

        self._episode.publish(String(data=text))

    def request_reset(self, seq: int) -> None:
        """Call ``~/reset`` once the service is there (reliable: one call per ``seq``; asking
        again before it is there is how the caller waits for it)."""
        from std_srvs.srv import Trigger

        if seq not in self._futures and self._reset.service_is_ready():
            self._futures[seq] = self._reset.call_async(Trigger.Request())

    def reset_reply(self, seq: int) -> bool | None:
        future = self._futures.get(seq)
        if future is None or not future.done() or future.result() is None:
            return None
        return bool(future.result().success)

    def take(self, limit: int = 16) -> list[tuple]:
        with self._lock:
            n = min(limit * 3, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def close(self) -> None:
        self._own.close()


__all__ = ["RosRobotWire"]
