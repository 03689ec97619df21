"""The policy node over bare DDS: :class:`PolicyNodeCore` behind a :class:`DdsTransport`,
wired by :func:`cosmos_policy.serve.shell.attach` as every shell is (inputs, services,
bounded stamps, refusals in ``/diagnostics``). A latched prompt is handled once (the
transport drops the copy its second prompt reader gets).

A robot that goes silent (no ``/joint_states`` sample at all, not even a refused one, for
the watchdog's ``max_state_age_s``: its driver killed or its link down) is braked to rest by
the hold and then sent nothing more until one of its joint states is accepted and fresh
again (:class:`~cosmos_policy.serve.shell.SilentRobotGate`, shared by every shell and still
importable from here): a restarted driver would otherwise take the stale hold as its target
at once.
"""

from __future__ import annotations

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore
from cosmos_policy.serve.shell import (
    BoundedStampOrder,
    SilentRobotGate,
    TransportServer,
    attach,
    newest_state_fresh,
)
from cosmos_policy.spec import WorldActionModel
from cosmos_policy.transport.dds import DdsTransport, TransportConfig


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
        self.gate = SilentRobotGate(self.transport, cfg.max_state_age_s,
                                    lambda: newest_state_fresh(self.core))
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

    def close(self) -> None:
        super().close()
        if self.recorder is not None:
            self.recorder.close()


__all__ = ["BoundedStampOrder", "DdsPolicyServer", "SilentRobotGate"]
