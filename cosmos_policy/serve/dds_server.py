"""The policy node over bare DDS: :class:`PolicyNodeCore` behind a :class:`DdsTransport`,
wired by :func:`cosmos_policy.serve.shell.attach` as every shell is (inputs, services,
bounded stamps, refusals in ``/diagnostics``). A latched prompt is handled once (the
transport drops the copy its second prompt reader gets).

A robot that goes silent (no ``/joint_states`` sample at all, not even a refused one, for
the watchdog's ``max_state_age_s``: its driver killed or its link down) is braked to rest by
the hold and then sent nothing more until one of its joint states is accepted and fresh
again: the commands that would follow target a robot that is not there, and a restarted
driver would take the first of them as its target before the server had seen where the new
robot is. Then the control loop starts again from the pose measured (``runtime/loop.py``).
A robot that keeps talking while every state it sends is refused (a NaN storm) keeps
getting the hold, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore
from cosmos_policy.serve.shell import BoundedStampOrder, TransportServer, attach
from cosmos_policy.spec import WorldActionModel
from cosmos_policy.transport.dds import DdsTransport, TransportConfig


class SilentRobotGate:
    """The core's view of the transport: passes commands and diagnostics on, except hold
    commands at rest to a robot that is gone (see the module docstring): from the second
    such command after its joint states fell silent until one it sends is accepted and
    fresh again (a restarted driver whose first states are refused gets nothing either);
    ``withheld`` counts them. ``state_fresh()``: whether the newest accepted joint state
    is fresh."""

    def __init__(self, transport: DdsTransport, silent_s: float,
                 state_fresh: Callable[[], bool]) -> None:
        self.transport, self.silent_s, self.state_fresh = transport, float(silent_s), state_fresh
        self.withheld = 0
        self._rested = False  # the last command sent held the arm at rest
        self._gone = False  # withholding: the robot went silent, no fresh state since

    def robot_silent(self) -> bool:
        """No joint-state sample (accepted or refused) for ``silent_s``."""
        seen = self.transport.joint_states_seen
        return seen is None or time.monotonic() - seen > self.silent_s

    def send(self, command: Any) -> None:
        resting = any(r.startswith("hold:") for r in command.reasons) \
            and not np.any(command.velocities)
        if resting and ((self._gone and not self.state_fresh())
                        or (self._rested and self.robot_silent())):
            self._gone = True
            self.withheld += 1
            return
        self._gone = False
        self.transport.send(command)
        self._rested = resting

    def publish_diagnostics(self, telemetry: Mapping[str, Any], level: int = 0,
                            message: str = "", stamp: float = 0.0) -> None:
        self.transport.publish_diagnostics(telemetry, level, message, stamp)

    def __getattr__(self, name: str) -> Any:  # the rest is the transport's (on_image, ...)
        return getattr(self.transport, name)


class DdsPolicyServer(TransportServer):
    """Owns a bare-DDS transport and a core; :meth:`start`, :meth:`wait`, :meth:`close`."""

    medium = "DDS"

    def __init__(self, embodiment: Embodiment, model: WorldActionModel,
                 transport_config: TransportConfig | None = None,
                 node_config: NodeConfig | None = None, *, projector: object | None = None,
                 clock: object | None = None, record: str | None = None) -> None:
        super().__init__()
        self.transport = DdsTransport(embodiment, transport_config)
        self.recorder = None
        if record is not None:  # --record FILE.mcap: what the wire brings and takes
            from cosmos_policy.viz.mcap_record import McapRecorder, tap_dds_transport

            self.recorder = McapRecorder(record)
            tap_dds_transport(self.transport, self.recorder)
        cfg = node_config or NodeConfig()
        self.gate = SilentRobotGate(self.transport, cfg.max_state_age_s, self._state_fresh)
        try:
            self.core = PolicyNodeCore(embodiment, model, self.gate, cfg,
                                       projector=projector, clock=clock)  # type: ignore[arg-type]
        except Exception:
            self.transport.close()
            if self.recorder is not None:
                self.recorder.close()
            raise
        attach(self.core, self.transport)
        self.core.telemetry.gauge("commands_withheld", lambda: self.gate.withheld)

    def _state_fresh(self) -> bool:
        latest = self.core.sync.latest_state()
        return latest is not None and self.core.loop.watchdog.state_fresh(
            self.core.clock.now(), latest[1])

    def close(self) -> None:
        super().close()
        if self.recorder is not None:
            self.recorder.close()


__all__ = ["BoundedStampOrder", "DdsPolicyServer", "SilentRobotGate"]
