"""The policy node over bare DDS: :class:`PolicyNodeCore` behind a :class:`DdsTransport`.

The shell only wires callbacks: frames, joint states and prompts accepted by the transport
go into the core; the core's commands and diagnostics go out through the transport; the
``~/reset``, ``~/enable`` and ``~/estop`` services call the core (the e-stop is latched
until ``~/reset``). A latched prompt is handled once (the transport drops the copy its
second prompt reader gets). Refusals are counted and logged
(throttled) by the transport and by the core; nothing refused reaches the runtime.
"""

from __future__ import annotations

import logging
import threading

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore
from cosmos_policy.spec import WorldActionModel
from cosmos_policy.transport.dds import DdsTransport, TransportConfig

log = logging.getLogger("cosmos_policy.serve")


class DdsPolicyServer:
    """Owns a transport and a core; :meth:`start`, :meth:`wait`, :meth:`close`."""

    def __init__(self, embodiment: Embodiment, model: WorldActionModel,
                 transport_config: TransportConfig | None = None,
                 node_config: NodeConfig | None = None, *, projector: object | None = None,
                 clock: object | None = None) -> None:
        self.transport = DdsTransport(embodiment, transport_config)
        try:
            self.core = PolicyNodeCore(embodiment, model, self.transport, node_config,
                                       projector=projector, clock=clock)  # type: ignore[arg-type]
        except Exception:
            self.transport.close()
            raise
        core = self.core
        self.transport.on_image(core.on_image)
        self.transport.on_joint_state(
            lambda r: core.on_joint_state(r.state, r.stamp, r.velocities))
        self.transport.on_prompt(core.on_prompt)
        if self.transport.services is not None:
            self.transport.services.on_reset(self._reset)
            self.transport.services.on_enable(core.enable)
            self.transport.services.on_estop(self._estop)
        self._done = threading.Event()

    def _estop(self) -> tuple[bool, str]:
        """``~/estop``: brake and hold, latched until ``~/reset``."""
        self.core.estop()
        return True, "e-stop latched: holding until ~/reset"

    def _reset(self) -> tuple[bool, str]:
        """``~/reset``: a new episode from the measured pose, then release a latched e-stop
        (in that order, so no command of the old plan goes out in between)."""
        success, message = self.core.reset()
        if success:
            self.core.release_estop()
        return success, message

    def start(self) -> DdsPolicyServer:
        """Receive on the transport's thread and command at the core's rate."""
        self.transport.start()
        self.core.start()
        log.info("serving %s over DDS: %s", self.core.embodiment.name, self.transport.topics)
        return self

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until :meth:`close` (or ``timeout_s``); True when closed."""
        return self._done.wait(timeout_s)

    def close(self) -> None:
        self.core.close()
        self.transport.close()
        self._done.set()

    def __enter__(self) -> DdsPolicyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DdsPolicyServer"]
