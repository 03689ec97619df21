"""The policy node over bare DDS: :class:`PolicyNodeCore` behind a :class:`DdsTransport`.

The shell only wires callbacks: frames, joint states and prompts accepted by the transport
go into the core; the core's commands and diagnostics go out through the transport; the
``~/reset`` and ``~/enable`` services call the core. Refusals are counted and logged
(throttled) by the transport and by the core; nothing refused reaches the runtime.

Header stamps: the transport's per-topic order check is bounded here, so a message stamped
further than ``NodeConfig.max_future_s`` ahead of this clock is refused as
``future_stamp`` (logged, counted) instead of becoming a watermark that makes every later
message ``out_of_order``; ``~/reset`` forgets the transport's watermarks as well as the
core's; a clock that jumps back is recovered from by itself. The transport's refusal
counts and last reason go into ``/diagnostics``.
"""

from __future__ import annotations

import logging
import math
import threading

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore
from cosmos_policy.spec import WorldActionModel
from cosmos_policy.transport.dds import DdsTransport, TransportConfig
from cosmos_policy.transport.rejection import StampOrder, WireRejection

log = logging.getLogger("cosmos_policy.serve")


class BoundedStampOrder(StampOrder):
    """The transport's stamp order, bounded by a clock: a stamp more than ``max_future_s``
    ahead of ``clock.now()`` is refused (``future_stamp``) and never becomes the newest; a
    newest stamp left that far ahead (the clock jumped back) is forgotten."""

    def __init__(self, clock: object, max_future_s: float) -> None:
        super().__init__()
        self.clock, self.max_future_s = clock, float(max_future_s)
        self._accepted: dict[str, float] = {}

    def check(self, stream: str, stamp: float) -> None:
        now = self.clock.now()  # type: ignore[attr-defined]
        if math.isfinite(stamp) and stamp - now > self.max_future_s:
            raise WireRejection(
                "future_stamp", f"{stream}: stamp {stamp:.3f} s is {stamp - now:.3f} s ahead "
                f"of this clock (bound {self.max_future_s} s); check the sender's clock")
        if self._accepted.get(stream, -math.inf) - now > self.max_future_s:
            log.warning("%s: the clock jumped back behind the newest stamp; accepting new "
                        "stamps", stream)
            self.reset(stream)
        super().check(stream, stamp)
        self._accepted[stream] = stamp

    def reset(self, stream: str | None = None) -> None:
        super().reset(stream)
        if stream is None:
            self._accepted.clear()
        else:
            self._accepted.pop(stream, None)


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
        # Bound the transport's stamp check by the core's clock (cameras look the checker
        # up on the transport, joint states on their decoder).
        self.stamps = BoundedStampOrder(core.clock, core.config.max_future_s)
        self.transport.stamps = self.transport.joints.stamps = self.stamps
        rejections = self.transport.rejections
        core.add_rejection_source("wire", lambda: (
            {f"{topic}:{reason}": n for (topic, reason), n in rejections.counts.items()},
            rejections.last))
        self.transport.on_image(core.on_image)
        self.transport.on_joint_state(
            lambda r: core.on_joint_state(r.state, r.stamp, r.velocities))
        self.transport.on_prompt(core.on_prompt)
        if self.transport.services is not None:
            self.transport.services.on_reset(self.reset)
            self.transport.services.on_enable(core.enable)
        self._done = threading.Event()

    def reset(self) -> tuple[bool, str]:
        """``~/reset``: the core's reset, and the transport forgets its newest stamps."""
        self.stamps.reset()
        return self.core.reset()

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
