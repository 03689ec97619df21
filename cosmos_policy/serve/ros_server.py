"""The policy node over rclpy: :class:`PolicyNodeCore` behind a :class:`RosTransport`.

:func:`build_core` is the whole shell, shared by ``cosmos-policy serve --transport ros``
(:class:`RosPolicyServer`) and the lifecycle node in ``ros2_ws/src/cosmos_policy_ros``: the
core, wired to the transport by :func:`cosmos_policy.serve.shell.attach` as the bare-DDS
server's is, with the same :class:`~cosmos_policy.serve.shell.SilentRobotGate` between the
core and the transport: once the hold has braked a robot whose ``/joint_states`` fell silent
(its driver killed, its link down), nothing more is sent until one of its joint states is
accepted and fresh again, since a restarted driver (a ros2_control hardware interface
coming back) would otherwise take the stale hold as its target at once; the count is the
gauge ``commands_withheld`` in ``/diagnostics``. :class:`CameraToCommand` adds one figure
to the telemetry: ``camera_to_command``, the wall time from the oldest camera stamp of an
observation to the first command computed from its chunk being handed to rclpy.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore, WallClock
from cosmos_policy.serve.shell import (
    SilentRobotGate,
    TransportServer,
    attach,
    newest_state_fresh,
)
from cosmos_policy.spec import ActionChunk, Observation, WorldActionModel
from cosmos_policy.transport.dds import TransportConfig
from cosmos_policy.transport.ros import RosTransport

log = logging.getLogger("cosmos_policy.serve")


class CameraToCommand:
    """Wraps the model and the transport of one core to time camera-to-command.

    The model wrapper remembers the observation stamp (the oldest input's, which is a
    camera frame's once frames lag joint states) of the newest chunk it computed; the
    transport wrapper, when the core's ``chunks`` counter has grown since the last command,
    records ``now - that stamp`` as ``camera_to_command`` before sending. Inference runs one
    observation at a time and a chunk is taken on the tick that sends, so the newest
    computed chunk is the one just scheduled.
    """

    def __init__(self, model: WorldActionModel, transport: Any) -> None:
        self.inner_model, self.inner_transport = model, transport
        self.core: PolicyNodeCore | None = None
        self._stamps: deque[float] = deque(maxlen=4)
        self._chunks = 0
        self._clock = WallClock()

    # the model's side (WorldActionModel)
    def policy(self, obs: Observation) -> ActionChunk:
        chunk = self.inner_model.policy(obs)
        self._stamps.append(float(obs.timestamp))
        return chunk

    def reset(self) -> None:
        self.inner_model.reset()

    def forward_dynamics(self, obs: Observation, actions: Any) -> Any:
        return self.inner_model.forward_dynamics(obs, actions)

    def inverse_dynamics(self, frames: Any, state: Any) -> Any:
        return self.inner_model.inverse_dynamics(frames, state)

    def __getattr__(self, name: str) -> Any:  # anything else a backend offers (spec, ...)
        return getattr(self.inner_model, name)

    # the transport's side (NodeTransport)
    def send(self, command: Any) -> None:
        core = self.core
        if core is not None and self._stamps:
            chunks = core.telemetry.counter("chunks")
            if chunks > self._chunks:
                core.telemetry.record("camera_to_command", self._clock.now() - self._stamps[-1])
            self._chunks = chunks
        self.inner_transport.send(command)

    def publish_diagnostics(self, *args: Any, **kwargs: Any) -> None:
        self.inner_transport.publish_diagnostics(*args, **kwargs)


def build_core(embodiment: Embodiment, model: WorldActionModel, transport: Any,
               config: NodeConfig | None = None, *,
               projector: object | None = None) -> PolicyNodeCore:
    """The core behind ``transport``, timed by :class:`CameraToCommand`, its commands gated
    by a :class:`SilentRobotGate` (``gate_of(core)``) and wired by :func:`attach`: what both
    rclpy shells (this server and the lifecycle node) run."""
    config = config or NodeConfig()
    # The gate is under the probe: the probe times what the core hands on, the gate needs
    # the transport itself (joint_states_seen).
    gate = SilentRobotGate(transport, config.max_state_age_s, lambda: newest_state_fresh(core))
    probe = CameraToCommand(model, gate)
    core = PolicyNodeCore(embodiment, probe, probe, config,  # type: ignore[arg-type]
                          projector=projector)
    probe.core = core
    attach(core, transport)
    core.telemetry.gauge("commands_withheld", lambda: gate.withheld)
    return core


def gate_of(core: PolicyNodeCore) -> SilentRobotGate:
    """The :class:`SilentRobotGate` of a core made by :func:`build_core`."""
    return core.transport.inner_transport  # type: ignore[attr-defined,no-any-return]


class RosPolicyServer(TransportServer):
    """Owns an rclpy node (own context), its transport and a core; :meth:`start`,
    :meth:`wait`, :meth:`close`. Starts holding unless ``node_config.start_enabled``.
    ``record``: an MCAP file for what the transport takes and publishes
    (:func:`cosmos_policy.viz.mcap_serve.tap_ros_transport`)."""

    medium = "rclpy"

    def __init__(self, embodiment: Embodiment, model: WorldActionModel,
                 transport_config: TransportConfig | None = None,
                 node_config: NodeConfig | None = None, *,
                 projector: object | None = None, record: str | None = None) -> None:
        super().__init__()
        self.transport = RosTransport(embodiment, transport_config)
        self.recorder = None
        try:
            if record is not None:  # --record FILE.mcap: what the wire brings and takes
                from cosmos_policy.viz.mcap_record import McapRecorder
                from cosmos_policy.viz.mcap_serve import tap_ros_transport

                self.recorder = McapRecorder(record)
                tap_ros_transport(self.transport, self.recorder)
            self.core = build_core(embodiment, model, self.transport, node_config,
                                   projector=projector)
            self.gate = gate_of(self.core)
        except Exception:
            self.transport.close()
            if self.recorder is not None:
                self.recorder.close()
            raise

    def close(self) -> None:
        super().close()
        if self.recorder is not None:
            self.recorder.close()


__all__ = ["CameraToCommand", "RosPolicyServer", "SilentRobotGate", "attach", "build_core",
           "gate_of"]
