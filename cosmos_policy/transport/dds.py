"""DdsTransport: the runtime's observations in and commands out, over ROS 2's wire, no rclpy.

A ROS 2 system sees our topics and types exactly as if an rclpy node published them (see
docs/ROS2_WIRE.md). The transport holds no runtime logic: it decodes and validates what
arrives, hands it to callbacks (or to an ``ObservationSync``-like sink via :meth:`feed`),
keeps the newest value of each stream for :meth:`observations`, and encodes what it is
asked to send.

Transport contract: ``observations() -> Observation | None``, callbacks ``on_image``,
``on_joint_state``, ``on_prompt``, and ``send(command)`` (a runtime ``SentCommand``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.spec import Observation
from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.convert import (
    GripperPacer,
    JointReading,
    JointStateDecoder,
    command_to_trajectory,
    diagnostics_msg,
    float64_array_msg,
    gripper_joint_position,
    header_seconds,
    prompt_from_msg,
)
from cosmos_policy.transport.endpoints import Endpoints, Poller, make_participant
from cosmos_policy.transport.images import compressed_to_rgb, image_to_rgb, max_wire_bytes
from cosmos_policy.transport.rejection import RejectionLog, StampOrder
from cosmos_policy.transport.services import ServiceServer

COMMAND_MODES = ("trajectory", "forward")


@dataclass(frozen=True)
class TransportConfig:
    """Names and choices of the DDS transport; ROS 2 names, remappable.

    cameras: camera name -> topic, overriding ``embodiment.yaml``; a topic ending in
        ``/compressed`` carries ``sensor_msgs/CompressedImage``, any other ``Image``.
    command_mode: ``trajectory`` (JointTrajectory on ``/<controller>/joint_trajectory``) or
        ``forward`` (Float64MultiArray on ``/<controller>/commands``).
    command_joints: joints commanded, default the embodiment's arm joints; with ``forward``
        the values sent are the first ``len(command_joints)`` of the command's positions.
    time_from_start_s: when each trajectory point is due, default one command period.
    gripper_controller: the gripper's position controller (forward_command_controller
        style): the command's last value, as the gripper joint's position, goes out as a
        one-value ``Float64MultiArray`` on ``/<gripper_controller>/commands`` when it changes
        and every ``gripper_period_s``; empty: the gripper is not commanded.
    """

    domain_id: int = 0
    node: str = "cosmos_policy"
    namespace: str = "/"
    cameras: Mapping[str, str] = field(default_factory=dict)
    joint_states_topic: str = "/joint_states"
    prompt_topic: str = "~/prompt"
    controller: str = "joint_trajectory_controller"
    command_mode: str = "trajectory"
    command_joints: tuple[str, ...] | None = None
    time_from_start_s: float | None = None
    gripper_controller: str = "gripper_controller"
    gripper_period_s: float = 0.1
    diagnostics_topic: str = "/diagnostics"
    check_image_size: bool = True
    services: bool = True
    dds_config: str | None = None  # Cyclone XML; None: CYCLONEDDS_URI or Cyclone's default

    def __post_init__(self) -> None:
        if self.command_mode not in COMMAND_MODES:
            raise ValueError(f"command_mode {self.command_mode!r}; expected {COMMAND_MODES}")
        if self.time_from_start_s is not None and not self.time_from_start_s > 0:
            raise ValueError(f"time_from_start_s {self.time_from_start_s}; expected > 0")
        if not self.gripper_period_s > 0:
            raise ValueError(f"gripper_period_s {self.gripper_period_s}; expected > 0")


class ObservationSink(Protocol):
    """What :meth:`DdsTransport.feed` pushes into (``runtime.ObservationSync`` fits)."""

    def push_image(self, camera: str, image: np.ndarray, stamp: float) -> str | None: ...

    def push_state(self, state: np.ndarray, stamp: float,
                   velocities: np.ndarray | None = None) -> str | None: ...

    def set_prompt(self, prompt: str) -> str | None: ...


def release_participant(participant: object | None) -> None:
    """Delete a participant now (and the domain made for it, if any): that deletes every
    reader, writer and topic under it, so peers see us leave now rather than at garbage
    collection."""
    if participant is None:
        return
    domain = getattr(participant, "_cosmos_domain", None)
    participant.__del__()
    if domain is not None:
        domain.__del__()


class DdsTransport:
    """Subscribes the embodiment's cameras, joint states and the prompt; publishes commands
    and diagnostics; serves ``~/reset`` and ``~/estop`` (Trigger) and ``~/enable``
    (SetBool)."""

    def __init__(self, embodiment: Embodiment, config: TransportConfig | None = None) -> None:
        self.embodiment = embodiment
        self.config = config = config or TransportConfig()
        self.participant = make_participant(config.domain_id, config.dds_config)
        self.endpoints = Endpoints(self.participant, config.node, config.namespace)
        self.rejections = RejectionLog()
        self.poller = Poller(self.participant, self.rejections)
        self.stamps = StampOrder()
        self.joints = JointStateDecoder(embodiment, self.stamps)
        self._lock = threading.Lock()
        self._frames: dict[str, tuple[np.ndarray, float]] = {}
        self._reading: JointReading | None = None
        # monotonic time the last /joint_states sample arrived, refused or not: whether the
        # robot side is still talking at all (None: never)
        self.joint_states_seen: float | None = None
        self._prompt: str | None = None
        self._recent_prompts: deque[tuple[int, int]] = deque(maxlen=16)
        self._image_cbs: list[Callable[[str, np.ndarray, float], None]] = []
        self._state_cbs: list[Callable[[JointReading], None]] = []
        self._prompt_cbs: list[Callable[[str], None]] = []
        self.topics: dict[str, str] = {}  # role -> ROS 2 topic name, for people and tests

        for cam in embodiment.cameras:
            topic = config.cameras.get(cam.name, cam.topic)
            self._subscribe_camera(cam.name, topic, (cam.height, cam.width))
        reader = self.endpoints.reader(config.joint_states_topic, msgs.JointState,
                                       naming.SENSOR_DATA)
        self.poller.add(reader, config.joint_states_topic, self._on_joint_state)
        self.topics["joint_states"] = config.joint_states_topic
        # A transient-local reader gets a latched prompt; a volatile one also matches
        # `ros2 topic pub` with default QoS, which a transient-local reader would not.
        prompt = naming.expand_name(config.prompt_topic, config.node, config.namespace)
        for profile in (naming.PROMPT, naming.DEFAULT):
            reader = self.endpoints.reader(prompt, msgs.String, profile)
            self.poller.add(reader, prompt, self._on_prompt)
        self.topics["prompt"] = prompt

        ctrl = config.controller.strip("/")
        if config.command_mode == "trajectory":
            cmd_topic, cmd_type = f"/{ctrl}/joint_trajectory", msgs.JointTrajectory
        else:
            cmd_topic, cmd_type = f"/{ctrl}/commands", msgs.Float64MultiArray
        self._cmd_writer = self.endpoints.writer(cmd_topic, cmd_type, naming.RELIABLE)
        self.topics["commands"] = naming.expand_name(cmd_topic)
        self._grip_writer = None
        grip = config.gripper_controller.strip("/")
        if grip and embodiment.gripper.joints:
            self._grip_writer = self.endpoints.writer(f"/{grip}/commands",
                                                      msgs.Float64MultiArray, naming.RELIABLE)
            self.topics["gripper_commands"] = f"/{grip}/commands"
            self._grip_pacer = GripperPacer(config.gripper_period_s)
        self._diag_writer = self.endpoints.writer(config.diagnostics_topic, msgs.DiagnosticArray,
                                                  naming.DIAGNOSTICS)
        self.topics["diagnostics"] = config.diagnostics_topic
        self.command_joints = tuple(config.command_joints or embodiment.joints)
        self.time_from_start_s = config.time_from_start_s or 1.0 / embodiment.command_rate_hz
        self.services = ServiceServer(self.endpoints, self.poller) if config.services else None

    # ---------------------------------------------------------------- inbound
    def _subscribe_camera(self, camera: str, topic: str, size: tuple[int, int]) -> None:
        compressed = topic.rstrip("/").endswith("/compressed")
        expected = size if self.config.check_image_size else None
        decode = compressed_to_rgb if compressed else image_to_rgb
        msg_type = msgs.CompressedImage if compressed else msgs.Image

        def handle(msg: Any) -> None:
            rgb = decode(msg, expected)
            stamp = header_seconds(msg.header)
            self.stamps.check(f"camera:{camera}", stamp)
            with self._lock:
                self._frames[camera] = (rgb, stamp)
            for cb in list(self._image_cbs):
                cb(camera, rgb, stamp)

        reader = self.endpoints.reader(topic, msg_type, naming.SENSOR_DATA)
        # Far larger than the camera's frames: refused before Python reads it (see Poller).
        self.poller.add(reader, topic, handle, max_wire_bytes(expected, compressed))
        self.topics[f"camera:{camera}"] = topic

    def _on_joint_state(self, msg: msgs.JointState) -> None:
        self.joint_states_seen = time.monotonic()
        reading = self.joints.decode(msg)
        if reading is None:
            return
        with self._lock:
            self._reading = reading
        for cb in list(self._state_cbs):
            cb(reading)

    def _on_prompt(self, msg: msgs.String) -> None:
        # A transient-local publisher matches both prompt readers, so each of its samples
        # arrives twice: keep the first (same writer, same source time).
        info = getattr(msg, "sample_info", None)
        if info is not None:
            key = (info.publication_handle, info.source_timestamp)
            with self._lock:
                if key in self._recent_prompts:
                    return
                self._recent_prompts.append(key)
        text = prompt_from_msg(msg)
        with self._lock:
            self._prompt = text
        for cb in list(self._prompt_cbs):
            cb(text)

    def on_image(self, callback: Callable[[str, np.ndarray, float], None]) -> None:
        """Call ``callback(camera, rgb uint8 (H, W, 3), stamp s)`` for each accepted frame."""
        self._image_cbs.append(callback)

    def on_joint_state(self, callback: Callable[[JointReading], None]) -> None:
        """Call ``callback(reading)`` for each accepted joint state (embodiment order)."""
        self._state_cbs.append(callback)

    def on_prompt(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(text)`` for each accepted prompt."""
        self._prompt_cbs.append(callback)

    def feed(self, sink: ObservationSink) -> None:
        """Push everything accepted into ``sink`` (e.g. the runtime's ObservationSync)."""
        self.on_image(sink.push_image)
        self.on_joint_state(lambda r: sink.push_state(r.state, r.stamp, r.velocities))
        self.on_prompt(sink.set_prompt)

    def observations(self, default_prompt: str | None = None) -> Observation | None:
        """The newest frame of every camera, joint state and prompt, as one Observation
        stamped with the oldest of their stamps; None until each has arrived. No
        synchronisation beyond that: the runtime's ObservationSync does the real work."""
        with self._lock:
            prompt = self._prompt or default_prompt
            names = [c.name for c in self.embodiment.cameras]
            if self._reading is None or prompt is None or any(n not in self._frames
                                                              for n in names):
                return None
            stamps = [self._frames[n][1] for n in names] + [self._reading.stamp]
            return Observation(images={n: self._frames[n][0] for n in names},
                               state=self._reading.state.copy(), prompt=prompt,
                               timestamp=min(stamps), velocities=self._reading.velocities)

    # ---------------------------------------------------------------- outbound
    def send(self, command: Any) -> None:
        """Publish a runtime ``SentCommand`` (``positions`` (n + 1,), ``velocities`` (n,)):
        the arm on the controller's topic, the gripper (the last value) on its own.

        Raises ValueError on NaN/inf or too few values: nothing unsafe goes on the wire.
        """
        positions = np.asarray(command.positions, dtype=np.float64)
        if positions.shape[0] < len(self.command_joints):
            raise ValueError(f"command has {positions.shape[0]} positions, "
                             f"{len(self.command_joints)} joints are commanded")
        if self.config.command_mode == "trajectory":
            msg = command_to_trajectory(command, self.command_joints, self.time_from_start_s)
        else:
            msg = float64_array_msg(positions[: len(self.command_joints)])
        opening = None
        if self._grip_writer is not None and positions.shape[0] > self.embodiment.n_joints:
            opening = float(positions[self.embodiment.n_joints])
            grip_q = gripper_joint_position(self.embodiment, opening)  # NaN: nothing is sent
        self._cmd_writer.write(msg)
        if opening is not None and self._grip_pacer.due(opening, float(command.time)):
            self._grip_writer.write(float64_array_msg([grip_q]))

    def publish_diagnostics(self, telemetry: Mapping[str, Any], level: int = msgs.DIAG_OK,
                            message: str = "", stamp: float = 0.0) -> None:
        """Publish a telemetry dict on ``/diagnostics`` as one DiagnosticStatus."""
        self._diag_writer.write(diagnostics_msg(telemetry, self.config.node, level, message,
                                                self.embodiment.name, stamp))

    # ---------------------------------------------------------------- lifecycle
    def spin_once(self, timeout_s: float = 0.1) -> int:
        """Dispatch what has arrived (waiting up to ``timeout_s``); returns how many."""
        return self.poller.spin_once(timeout_s)

    def start(self) -> DdsTransport:
        """Receive on a background thread until :meth:`close`."""
        self.poller.start()
        return self

    def close(self) -> None:
        """Stop receiving and release the participant (and all its endpoints)."""
        self.poller.stop()
        release_participant(self.participant)
        self.participant = None

    def __enter__(self) -> DdsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["COMMAND_MODES", "DdsTransport", "ObservationSink", "TransportConfig",
           "release_participant"]
