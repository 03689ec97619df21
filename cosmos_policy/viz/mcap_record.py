"""MCAP recordings with ROS 2 schemas (``--record FILE.mcap`` on sim-robot and serve).

Each message is written as the CDR bytes the transport sends (cyclonedds' ``serialize()``,
the same encoding rmw uses), on a channel with ``message_encoding="cdr"`` and a
``ros2msg`` schema whose text comes from ``rosbags``' Jazzy type store, so Foxglove,
``mcap-ros2-support`` and ``cosmos-policy label`` (rosbags' MCAP reader) read it back. The
log time is the wall clock when the message was sent or taken.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.errors import UserError


def _typestore() -> Any:
    try:
        from rosbags.typesys import Stores, get_typestore
    except ImportError:
        raise UserError("--record needs rosbags and mcap: pip install 'cosmos-policy[ros]'") \
            from None
    return get_typestore(Stores.ROS2_JAZZY)


def ros_type(msg: Any) -> str:
    """``pkg/msg/Name`` of a transport message (its DDS type name ``pkg::msg::dds_::Name_``)."""
    name = type(msg).__idl_typename__ if hasattr(type(msg), "__idl_typename__") else ""
    parts = name.replace("::dds_::", "::").split("::")
    if len(parts) != 3:
        raise ValueError(f"not a ROS 2 message type: {type(msg).__name__}")
    return f"{parts[0]}/{parts[1]}/{parts[2].rstrip('_')}"


class McapRecorder:
    """Writes transport messages (``cosmos_policy.transport.msgs``) to one MCAP file."""

    def __init__(self, path: str | Path) -> None:
        try:
            from mcap.writer import Writer
        except ImportError:
            raise UserError("--record needs mcap: pip install 'cosmos-policy[ros]'") from None
        self._types = _typestore()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        self._writer = Writer(self._file)
        self._writer.start(profile="ros2", library="cosmos-policy")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._lock = threading.Lock()  # the sim robot's loop and a server's threads share it
        self._closed = False
        self.messages = 0

    def write(self, topic: str, msg: Any, log_time_ns: int | None = None) -> None:
        """Record ``msg`` (an IdlStruct of transport/msgs.py) on ``topic``."""
        self.write_serialized(topic, ros_type(msg), msg.serialize(), log_time_ns)

    def write_serialized(self, topic: str, type_name: str, data: bytes,
                         log_time_ns: int | None = None) -> None:
        """Record a message already serialized as CDR (with its encapsulation header, as
        rclpy's ``serialize_message`` and cyclonedds give it) of type ``pkg/msg/Name``."""
        now = time.time_ns() if log_time_ns is None else int(log_time_ns)
        with self._lock:
            if self._closed:
                return
            channel = self._channels.get(topic)
            if channel is None:
                channel = self._channels[topic] = self._writer.register_channel(
                    topic, message_encoding="cdr", schema_id=self._schema(type_name))
            self._writer.add_message(channel, log_time=now, data=data, publish_time=now)
            self.messages += 1

    def exact_cdr(self, type_name: str, data: bytes) -> bytes:
        """``data`` cut where its message ends. rclpy's ``serialize_message`` (Jazzy, Fast
        CDR) returns a buffer sized by the type's size bound, so a message with sequences
        carries unwritten bytes after its end; mcap-ros2-support ignores them, rosbags'
        reader (``label``) refuses the message. Little-endian CDR only, as rclpy writes on
        every platform we serve from; anything else is returned as it is."""
        if len(data) < 4 or data[:2] != b"\x00\x01":
            return data
        msgdef = self._types.get_msgdef(type_name)
        _, end = msgdef.deserialize_cdr_le(memoryview(data)[4:], 0, msgdef.cls, self._types)
        return data[: 4 + end]

    def _schema(self, name: str) -> int:
        if name not in self._schemas:
            text, _ = self._types.generate_msgdef(name, ros_version=2)
            self._schemas[name] = self._writer.register_schema(
                name=name, encoding="ros2msg", data=text.encode())
        return self._schemas[name]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.finish()
            self._file.close()


class RecordingRobotWire:
    """A sim robot's wire (``sim.robot_wire.RobotWire``) that also records to MCAP what it
    publishes (cameras, ``/joint_states``, prompt, episode reports) and the commands it
    takes (rebuilt as the JointTrajectory / Float64MultiArray they arrived as, last point
    only, as the robot obeys them). The messages are built as the DDS wire builds them."""

    def __init__(self, inner: Any, recorder: McapRecorder, emb: Any, *, controller: str,
                 gripper_controller: str, policy_node: str, episode_topic: str) -> None:
        self.inner = inner
        self.recorder = recorder
        self._cam_topics = {c.name: c.topic for c in emb.cameras}
        self._topics = {"trajectory": f"/{controller}/joint_trajectory",
                        "forward": f"/{controller}/commands",
                        "gripper": f"/{gripper_controller}/commands",
                        "prompt": f"{policy_node}/prompt", "episode": episode_topic}

    def publish_images(self, images: dict[str, np.ndarray], stamp: float) -> None:
        from cosmos_policy.transport.convert import seconds_to_stamp
        from cosmos_policy.transport.images import rgb_to_image

        self.inner.publish_images(images, stamp)
        for name, image in images.items():
            self.recorder.write(self._cam_topics.get(name, f"/camera/{name}/image_raw"),
                                rgb_to_image(image, seconds_to_stamp(stamp),
                                             frame_id=f"{name}_camera"))

    def publish_joints(self, names: list[str], positions: list[float],
                       velocities: list[float], stamp: float) -> None:
        from cosmos_policy.transport.convert import joint_state_msg

        self.inner.publish_joints(names, positions, velocities, stamp)
        self.recorder.write("/joint_states",
                            joint_state_msg(names, positions, velocities, stamp=stamp))

    def publish_prompt(self, text: str) -> None:
        from cosmos_policy.transport import msgs

        self.inner.publish_prompt(text)
        self.recorder.write(self._topics["prompt"], msgs.String(text))

    def publish_episode(self, text: str) -> None:
        from cosmos_policy.transport import msgs

        self.inner.publish_episode(text)
        self.recorder.write(self._topics["episode"], msgs.String(text))

    def take(self, limit: int = 16) -> list[tuple[Any, ...]]:
        from cosmos_policy.transport import msgs
        from cosmos_policy.transport.convert import seconds_to_duration

        commands = self.inner.take(limit)
        for command in commands:
            if command[0] == "trajectory":
                _, names, positions, t = command
                msg: Any = msgs.JointTrajectory(joint_names=list(names), points=[
                    msgs.JointTrajectoryPoint(positions=[float(p) for p in positions],
                                              time_from_start=seconds_to_duration(t))])
            else:
                msg = msgs.Float64MultiArray(data=[float(v) for v in command[1]])
            self.recorder.write(self._topics[command[0]], msg)
        return commands

    def request_reset(self, seq: int) -> None:
        self.inner.request_reset(seq)

    def reset_reply(self, seq: int) -> bool | None:
        return self.inner.reset_reply(seq)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.recorder.close()


class _TapWriter:
    """A DataWriter that also records each message it writes."""

    def __init__(self, inner: Any, recorder: McapRecorder, topic: str) -> None:
        self.inner, self.recorder, self.topic = inner, recorder, topic

    def write(self, msg: Any) -> None:
        self.inner.write(msg)
        self.recorder.write(self.topic, msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def tap_dds_transport(transport: Any, recorder: McapRecorder) -> None:
    """Record what a ``transport.dds.DdsTransport`` takes (cameras, joint states: every
    sample as it arrived, refused ones included; the prompt once per accepted prompt, as
    the transport dedups the latched copy) and sends (commands, gripper, diagnostics).
    Call before ``start()``; it wraps the poller's routes and the transport's writers."""
    from cosmos_policy.transport import msgs

    prompt = transport.topics.get("prompt")
    for route in transport.poller._routes:  # the topics' handlers: record, then handle
        if route.name.startswith("/") and route.name != prompt:
            route.handler = _recorded(route.handler, recorder, route.name)
    if prompt is not None:
        transport.on_prompt(lambda text: recorder.write(prompt, msgs.String(text)))
    for attr, role in (("_cmd_writer", "commands"), ("_grip_writer", "gripper_commands"),
                       ("_diag_writer", "diagnostics")):
        writer = getattr(transport, attr, None)
        if writer is not None and role in transport.topics:
            setattr(transport, attr, _TapWriter(writer, recorder, transport.topics[role]))


def _recorded(handler: Any, recorder: McapRecorder, topic: str) -> Any:
    def handle(sample: Any) -> None:
        # a sample the recorder cannot encode is still the server's to handle
        with contextlib.suppress(Exception):
            recorder.write(topic, sample)
        handler(sample)

    return handle
