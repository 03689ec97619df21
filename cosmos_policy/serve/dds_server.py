"""The policy node over bare DDS: :class:`PolicyNodeCore` behind a :class:`DdsTransport`,
wired by :func:`cosmos_policy.serve.shell.attach` as every shell is (inputs, services,
bounded stamps, refusals in ``/diagnostics``). A latched prompt is handled once (the
transport drops the copy its second prompt reader gets).
"""

from __future__ import annotations

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore
from cosmos_policy.serve.shell import BoundedStampOrder, TransportServer, attach
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
        try:
            self.core = PolicyNodeCore(embodiment, model, self.transport, node_config,
                                       projector=projector, clock=clock)  # type: ignore[arg-type]
        except Exception:
            self.transport.close()
            if self.recorder is not None:
                self.recorder.close()
            raise
        attach(self.core, self.transport)

    def close(self) -> None:
        super().close()
        if self.recorder is not None:
            self.recorder.close()


__all__ = ["BoundedStampOrder", "DdsPolicyServer"]
