"""RosTransport: the policy node's observations in and commands out through rclpy.

The same contract as :class:`~cosmos_policy.transport.dds.DdsTransport` (callbacks
``on_image`` / ``on_joint_state`` / ``on_prompt``, ``send(command)``,
``publish_diagnostics(...)``, ``services.on_reset`` / ``on_enable`` / ``on_estop``) over a
real ROS 2 node, so ``serve --transport ros`` and the lifecycle node in
``ros2_ws/src/cosmos_policy_ros`` put the same core behind the same wiring. Decoding and
validation are the bare-DDS transport's (:mod:`~cosmos_policy.transport.images`,
:class:`~cosmos_policy.transport.convert.JointStateDecoder`); a refusal is counted in
:attr:`RosTransport.rejections` and logged at most once per topic and reason per 5 s.

rclpy is imported when a transport is made, never at import time: the layers below serve/
must import without ROS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.transport.convert import (
    GripperPacer,
    JointReading,
    JointStateDecoder,
    diagnostics_msg,
    gripper_joint_position,
    header_seconds,
    prompt_from_msg,
)
from cosmos_policy.transport.dds import TransportConfig
from cosmos_policy.transport.images import compressed_to_rgb, image_to_rgb
from cosmos_policy.transport.rejection import RejectionLog, StampOrder, WireRejection

log = logging.getLogger("cosmos_policy.transport")

Handler = Callable[..., tuple[bool, str]]


def qos_profiles() -> dict[str, Any]:
    """DESIGN.md's QoS table as rclpy profiles: sensor, reliable, latched (prompt)."""
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_sensor_data,
    )

    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                          history=HistoryPolicy.KEEP_LAST)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return {"sensor": qos_profile_sensor_data, "reliable": reliable, "latched": latched}


class OwnNode:
    """An rclpy node in its own context (``domain_id``), spun on a thread by :meth:`start`.

    Its own context and no signal handlers: the process keeps Ctrl-C and SIGTERM to itself,
    and two of these (a server and a robot in one test) never share a global state.
    """

    def __init__(self, name: str, domain_id: int = 0, namespace: str = "/") -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._spin, name=f"rclpy-{self.node.get_name()}",
                                            daemon=True)
            self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass  # the context was shut down by close(): the end, not an error

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None


class RosServices:
    """``~/reset`` and ``~/estop`` (std_srvs/Trigger), ``~/enable`` (std_srvs/SetBool); each
    calls the handler set with ``on_*`` and replies with its ``(success, message)``. A call
    before a handler is set, or a handler that raises, gets ``success`` False and the why."""

    def __init__(self, node: Any) -> None:
        from std_srvs.srv import SetBool, Trigger

        self._handlers: dict[str, Handler] = {}
        self.calls: dict[str, int] = {}
        self.servers = [
            node.create_service(Trigger, "~/reset", lambda rq, rp: self._serve("reset", rp)),
            node.create_service(SetBool, "~/enable",
                                lambda rq, rp: self._serve("enable", rp, bool(rq.data))),
            node.create_service(Trigger, "~/estop", lambda rq, rp: self._serve("estop", rp)),
        ]

    def on_reset(self, handler: Callable[[], tuple[bool, str]]) -> None:
        self._handlers["reset"] = handler

    def on_enable(self, handler: Callable[[bool], tuple[bool, str]]) -> None:
        self._handlers["enable"] = handler

    def on_estop(self, handler: Callable[[], tuple[bool, str]]) -> None:
        self._handlers["estop"] = handler

    def _serve(self, name: str, response: Any, *args: Any) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        handler = self._handlers.get(name)
        if handler is None:
            response.success, response.message = False, f"~/{name}: not ready"
            return response
        try:
            success, message = handler(*args)
        except Exception as exc:  # a failing handler answers, it does not kill the node
            log.exception("~/%s failed", name)
            success, message = False, f"~/{name} failed: {exc}"
        response.success, response.message = bool(success), str(message)
        return response


class RosTransport:
    """Subscribes the embodiment's cameras, ``/joint_states`` and ``~/prompt`` (volatile and
    transient-local, a latched sample reaching both handled once); publishes commands
    (JointTrajectory or Float64MultiArray), the gripper's commands and ``/diagnostics``;
    serves ``~/reset``, ``~/enable`` and ``~/estop``.

    node: an existing rclpy node to build on (the lifecycle node passes itself, with
    ``lifecycle=True`` for lifecycle publishers); None makes an :class:`OwnNode` named
    ``config.node`` on ``config.domain_id``, spun by :meth:`start`.
    """

    def __init__(self, embodiment: Embodiment, config: TransportConfig | None = None, *,
                 node: Any = None, lifecycle: bool = False) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CompressedImage, Image, JointState
        from std_msgs.msg import Float64MultiArray, String
        from trajectory_msgs.msg import JointTrajectory

        self.embodiment = emb = embodiment
        self.config = cfg = config or TransportConfig()
        self._own = OwnNode(cfg.node, cfg.domain_id, cfg.namespace) if node is None else None
        self.node = node = self._own.node if self._own is not None else node
        qos = qos_profiles()
        self.rejections = RejectionLog()
        self.stamps = StampOrder()
        self.joints = JointStateDecoder(emb, self.stamps)
        # monotonic time the last /joint_states sample arrived, refused or not: whether the
        # robot side is still talking at all (None: never), for the shells' SilentRobotGate
        self.joint_states_seen: float | None = None
        self._image_cbs: list[Callable[[str, np.ndarray, float], Any]] = []
        self._state_cbs: list[Callable[[JointReading], Any]] = []
        self._prompt_cbs: list[Callable[[str], Any]] = []
        self._recent_prompts: deque[tuple] = deque(maxlen=16)
        self.topics: dict[str, str] = {}
        self.subs = []
        for cam in emb.cameras:
            topic = cfg.cameras.get(cam.name, cam.topic)
            compressed = topic.rstrip("/").endswith("/compressed")
            self.subs.append(node.create_subscription(
                CompressedImage if compressed else Image, topic,
                lambda m, c=cam.name, t=topic, z=compressed: self._guard(
                    t, self._on_image, c, z, m), qos["sensor"]))
            self.topics[f"camera:{cam.name}"] = topic
        js = cfg.joint_states_topic
        self.subs.append(node.create_subscription(
            JointState, js, lambda m: self._guard(js, self._on_joint_state, m), qos["sensor"]))
        self.topics["joint_states"] = js
        # A transient-local subscription gets a latched prompt; a volatile one matches
        # default publishers (`ros2 topic pub`), which the first would not.
        for profile in (qos["latched"], qos["reliable"]):
            self.subs.append(node.create_subscription(
                String, cfg.prompt_topic,
                lambda m, info: self._guard("~/prompt", self._on_prompt, m, info), profile))
        self.topics["prompt"] = self.subs[-1].topic_name
        make_pub = node.create_lifecycle_publisher if lifecycle else node.create_publisher
        ctrl = cfg.controller.strip("/")
        self._forward = cfg.command_mode == "forward"
        cmd_topic = f"/{ctrl}/commands" if self._forward else f"/{ctrl}/joint_trajectory"
        self._cmd_pub = make_pub(Float64MultiArray if self._forward else JointTrajectory,
                                 cmd_topic, qos["reliable"])
        self.topics["commands"] = cmd_topic
        grip = cfg.gripper_controller.strip("/")
        self._grip_pub = None
        if grip and emb.gripper.joints:
            self._grip_pub = make_pub(Float64MultiArray, f"/{grip}/commands", qos["reliable"])
            self._grip_pacer = GripperPacer(cfg.gripper_period_s)
            self.topics["gripper_commands"] = f"/{grip}/commands"
        self._diag_pub = make_pub(DiagnosticArray, cfg.diagnostics_topic, qos["reliable"])
        self.topics["diagnostics"] = cfg.diagnostics_topic
        self.pubs = [p for p in (self._cmd_pub, self._grip_pub, self._diag_pub) if p is not None]
        self.command_joints = tuple(cfg.command_joints or emb.joints)
        self.time_from_start_s = cfg.time_from_start_s or 1.0 / emb.command_rate_hz
        self.services = RosServices(node) if cfg.services else None

    # ---------------------------------------------------------------- inbound
    def _guard(self, topic: str, handle: Callable[..., None], *args: Any) -> None:
        """Run one inbound handler; a bad message is counted and logged, never raised into
        rclpy's executor (which would end the spin)."""
        try:
            handle(*args)
        except WireRejection as rejection:
            self.rejections.record(topic, rejection)
        except Exception as exc:  # malformed beyond what the decoders name
            self.rejections.record(topic, WireRejection("malformed", repr(exc)))

    def _on_image(self, camera: str, compressed: bool, msg: Any) -> None:
        cam = next(c for c in self.embodiment.cameras if c.name == camera)
        msg.data = bytes(msg.data)  # rclpy hands array('B'); the decoders take bytes
        decode = compressed_to_rgb if compressed else image_to_rgb
        rgb = decode(msg, (cam.height, cam.width) if self.config.check_image_size else None)
        stamp = header_seconds(msg.header)
        self.stamps.check(f"camera:{camera}", stamp)
        for cb in list(self._image_cbs):
            cb(camera, rgb, stamp)

    def _on_joint_state(self, msg: Any) -> None:
        self.joint_states_seen = time.monotonic()  # before the checks: a refusal counts too
        reading = self.joints.decode(msg)
        if reading is not None:
            for cb in list(self._state_cbs):
                cb(reading)

    def _on_prompt(self, msg: Any, info: Any = None) -> None:
        # A transient-local publisher reaches both subscriptions: handle its sample once.
        if info is not None:
            key = (bytes((info.get("publisher_gid") or {}).get("data", b"")),
                   info.get("source_timestamp"), info.get("publication_sequence_number"))
            if key in self._recent_prompts:
                return
            self._recent_prompts.append(key)
        text = prompt_from_msg(msg)
        for cb in list(self._prompt_cbs):
            cb(text)

    def on_image(self, callback: Callable[[str, np.ndarray, float], Any]) -> None:
        """Call ``callback(camera, rgb uint8 (H, W, 3), stamp s)`` for each accepted frame."""
        self._image_cbs.append(callback)

    def on_joint_state(self, callback: Callable[[JointReading], Any]) -> None:
        """Call ``callback(reading)`` for each accepted joint state (embodiment order)."""
        self._state_cbs.append(callback)

    def on_prompt(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(text)`` for each accepted prompt."""
        self._prompt_cbs.append(callback)

    # ---------------------------------------------------------------- outbound
    def send(self, command: Any) -> None:
        """Publish a runtime ``SentCommand``: the arm on the controller's topic, the gripper
        (the last value, as its joint's position) on its own, paced. Raises ValueError on
        NaN/inf or too few values: nothing unsafe goes on the wire."""
        from std_msgs.msg import Float64MultiArray
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        n = len(self.command_joints)
        q = np.asarray(command.positions, dtype=np.float64)
        if q.shape[0] < n:
            raise ValueError(f"command has {q.shape[0]} positions, {n} joints are commanded")
        if not np.all(np.isfinite(q)):
            raise ValueError("non-finite command; refusing to put it on the wire")
        opening = None
        if self._grip_pub is not None and q.shape[0] > self.embodiment.n_joints:
            opening = float(q[self.embodiment.n_joints])
            grip_q = gripper_joint_position(self.embodiment, opening)
        if self._forward:
            self._cmd_pub.publish(Float64MultiArray(data=q[:n].tolist()))
        else:
            vel = np.asarray(command.velocities, dtype=np.float64)
            point = JointTrajectoryPoint(positions=q[:n].tolist(),
                                         velocities=vel[:n].tolist() if vel.shape[0] >= n
                                         else [])
            sec, frac = divmod(self.time_from_start_s, 1.0)
            point.time_from_start.sec, point.time_from_start.nanosec = int(sec), int(frac * 1e9)
            self._cmd_pub.publish(JointTrajectory(joint_names=list(self.command_joints),
                                                  points=[point]))
        if opening is not None and self._grip_pacer.due(opening, float(command.time)):
            self._grip_pub.publish(Float64MultiArray(data=[grip_q]))

    def publish_diagnostics(self, telemetry: Mapping[str, Any], level: int = 0,
                            message: str = "", stamp: float = 0.0) -> None:
        """A telemetry dict on ``/diagnostics`` as one DiagnosticStatus (flattened keys)."""
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        ours = diagnostics_msg(telemetry, self.config.node, level, message,
                               self.embodiment.name).status[0]
        status = DiagnosticStatus(level=bytes([level]), name=ours.name, message=message,
                                  hardware_id=ours.hardware_id,
                                  values=[KeyValue(key=kv.key, value=kv.value)
                                          for kv in ours.values])
        out = DiagnosticArray(status=[status])
        out.header.stamp = self.node.get_clock().now().to_msg()
        self._diag_pub.publish(out)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> RosTransport:
        """Spin the transport's own node on a thread (no-op on a node given to it)."""
        if self._own is not None:
            self._own.start()
        return self

    def destroy(self) -> None:
        """Remove every subscription, publisher and service from the node."""
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        for pub in self.pubs:
            self.node.destroy_publisher(pub)
        for srv in self.services.servers if self.services is not None else ():
            self.node.destroy_service(srv)
        self.subs, self.pubs = [], []

    def close(self) -> None:
        """Destroy the endpoints; shut the own node and its context down."""
        if self._own is not None:
            self._own.close()
            self._own = None
        elif self.subs or self.pubs:
            self.destroy()

    def __enter__(self) -> RosTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["OwnNode", "RosServices", "RosTransport", "qos_profiles"]
