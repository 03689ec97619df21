"""``serve --record FILE.mcap`` for ``--transport ros`` and ``--transport websocket``.

Both write through :class:`~cosmos_policy.viz.mcap_record.McapRecorder`, so the file is the
one ``--transport dds`` writes: CDR messages with ``ros2msg`` schemas, profile ``ros2``.

- ros: :func:`tap_ros_transport` wraps the rclpy transport's subscription callbacks and
  publishers; each message is recorded as rclpy serializes it (``serialize_message``,
  what rmw puts on the wire, cut where the message ends: see
  :meth:`~cosmos_policy.viz.mcap_record.McapRecorder.exact_cdr`), before the transport's
  own checks (refused ones included).
- websocket: :class:`WebSocketRecording` turns each answered request into the messages a
  ROS 2 robot would have sent (camera ``sensor_msgs/msg/Image``, ``/joint_states``, the
  prompt when it changes) and its reply into the commands the DDS server sends: the chunk's
  joint targets as one ``trajectory_msgs/msg/JointTrajectory`` (every point, ``dt`` apart
  from the observation's stamp), the first target's gripper position on the gripper
  controller's topic, and the reply's ``actions`` as a ``std_msgs/msg/Float64MultiArray``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from cosmos_policy.viz.mcap_record import McapRecorder

#: where the websocket recording puts the reply's ``actions`` (T, D), layout ``step x action``
ACTIONS_TOPIC = "/cosmos_policy/actions"


def rclpy_type(msg: Any) -> str:
    """``pkg/msg/Name`` of an rclpy message (its class lives in ``pkg.msg._name``)."""
    return f"{type(msg).__module__.split('.')[0]}/msg/{type(msg).__name__}"


def _record_rclpy(recorder: McapRecorder, topic: str, msg: Any) -> None:
    from rclpy.serialization import serialize_message

    # A message the recorder cannot encode is still the transport's to handle or send.
    with contextlib.suppress(Exception):
        name = rclpy_type(msg)
        recorder.write_serialized(topic, name, recorder.exact_cdr(name, serialize_message(msg)))


class _TapPublisher:
    """An rclpy publisher that also records each message it publishes."""

    def __init__(self, inner: Any, recorder: McapRecorder, topic: str) -> None:
        self.inner, self.recorder, self.topic = inner, recorder, topic

    def publish(self, msg: Any) -> None:
        self.inner.publish(msg)
        _record_rclpy(self.recorder, self.topic, msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def tap_ros_transport(transport: Any, recorder: McapRecorder) -> None:
    """Record what a ``transport.ros.RosTransport`` takes (cameras, joint states: every
    message as it arrived; the prompt once per accepted prompt, as the transport handles a
    latched sample reaching both its prompt subscriptions once) and publishes (commands,
    gripper, diagnostics). Call before ``start()``: it wraps the subscriptions' callbacks
    (rclpy calls ``sub.callback`` with the message, and its info where it asked for it)."""
    from std_msgs.msg import String

    prompt = transport.topics.get("prompt")
    for sub in transport.subs:
        if sub.topic_name != prompt:
            sub.callback = _recorded(sub.callback, recorder, sub.topic_name)
    if prompt is not None:
        transport.on_prompt(lambda text: _record_rclpy(recorder, prompt, String(data=text)))
    for attr, role in (("_cmd_pub", "commands"), ("_grip_pub", "gripper_commands"),
                       ("_diag_pub", "diagnostics")):
        pub = getattr(transport, attr, None)
        if pub is not None and role in transport.topics:
            setattr(transport, attr, _TapPublisher(pub, recorder, transport.topics[role]))


def _recorded(callback: Any, recorder: McapRecorder, topic: str) -> Any:
    def handle(msg: Any, *info: Any) -> Any:
        _record_rclpy(recorder, topic, msg)
        return callback(msg, *info)

    return handle


class WebSocketRecording:
    """The websocket server's ``--record``: :meth:`exchange` records one answered request.

    Topics are the embodiment's (camera topics, ``/joint_states``) and the DDS server's
    defaults (``/cosmos_policy/prompt``, ``/<controller>/joint_trajectory``,
    ``/<gripper_controller>/commands``), so ``label`` and Foxglove read it as a DDS
    server's recording. Thread-safe (the recorder locks): connections answer concurrently.
    """

    def __init__(self, path: str, embodiment: Any, *,
                 controller: str = "joint_trajectory_controller",
                 gripper_controller: str = "gripper_controller") -> None:
        self.recorder = McapRecorder(path)
        self.embodiment = embodiment
        self._cam_topics = {c.name: c.topic for c in embodiment.cameras}
        self._traj_topic = f"/{controller.strip('/')}/joint_trajectory"
        grip = gripper_controller.strip("/")
        self._grip_topic = f"/{grip}/commands" if grip and embodiment.gripper.joints else None
        self._prompt: str | None = None

    def exchange(self, obs: Any, reply: Mapping[str, Any], received_ns: int) -> None:
        """Record ``obs`` (a validated Observation) at ``received_ns`` (wall clock, ns) and
        ``reply`` (the server's response map, before any RoboLab reshaping) now."""
        from cosmos_policy.transport import msgs
        from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
        from cosmos_policy.transport.images import rgb_to_image

        emb, rec = self.embodiment, self.recorder
        stamp = float(obs.timestamp)
        if obs.prompt and obs.prompt != self._prompt:  # a latched prompt: once per change
            self._prompt = obs.prompt
            rec.write("/cosmos_policy/prompt", msgs.String(obs.prompt), received_ns)
        for name, image in obs.images.items():
            rec.write(self._cam_topics.get(name, f"/camera/{name}/image_raw"),
                      rgb_to_image(np.ascontiguousarray(image), seconds_to_stamp(stamp),
                                   frame_id=f"{name}_camera"), received_ns)
        state = np.asarray(obs.state, np.float64)
        names, positions = list(emb.joints), list(state[: emb.n_joints])
        if emb.gripper.joints:  # a robot publishes its gripper joint's position
            names.append(emb.gripper.joints[0])
            positions.append(emb.gripper.position(float(state[emb.n_joints])))
        rec.write("/joint_states", joint_state_msg(names, positions, stamp=stamp), received_ns)
        self._reply(reply, stamp)

    def _reply(self, reply: Mapping[str, Any], stamp: float) -> None:
        from cosmos_policy.transport import msgs
        from cosmos_policy.transport.convert import seconds_to_duration, seconds_to_stamp

        emb, rec, now = self.embodiment, self.recorder, time.time_ns()
        dt = float(reply["dt"])
        targets = reply.get("joint_targets")
        if targets is not None:
            q = np.asarray(targets, np.float64)
            points = [msgs.JointTrajectoryPoint(positions=list(row[: emb.n_joints]),
                                                time_from_start=seconds_to_duration((k + 1) * dt))
                      for k, row in enumerate(q)]
            rec.write(self._traj_topic, msgs.JointTrajectory(
                header=msgs.Header(stamp=seconds_to_stamp(stamp)),
                joint_names=list(emb.joints), points=points), now)
            if self._grip_topic is not None and len(q) and np.isfinite(q[0, emb.n_joints]):
                rec.write(self._grip_topic, msgs.Float64MultiArray(
                    data=[emb.gripper.position(float(q[0, emb.n_joints]))]), now)
        actions = np.asarray(reply["actions"], np.float64)
        layout = msgs.MultiArrayLayout(dim=[
            msgs.MultiArrayDimension(label="step", size=actions.shape[0], stride=actions.size),
            msgs.MultiArrayDimension(label="action", size=actions.shape[1],
                                     stride=actions.shape[1])])
        rec.write(ACTIONS_TOPIC, msgs.Float64MultiArray(layout=layout,
                                                        data=list(actions.ravel())), now)

    def close(self) -> None:
        self.recorder.close()


__all__ = ["ACTIONS_TOPIC", "WebSocketRecording", "rclpy_type", "tap_ros_transport"]
