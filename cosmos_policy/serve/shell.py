"""What every policy-server shell shares, whatever carries its messages.

:func:`attach` wires a transport (``DdsTransport`` or ``RosTransport``) to a
:class:`PolicyNodeCore`: frames, joint states and prompts accepted by the transport go into
the core; ``~/reset`` forgets the transport's newest stamps, starts a new episode and then
releases a latched e-stop (in that order, so no command of the old plan goes out in
between); ``~/estop`` brakes and holds until ``~/reset``; ``~/enable`` allows motion or
holds. The transport's refusal counts and last reason go into ``/diagnostics``.

Header stamps: the transport's per-topic order check is bounded by the core's clock
(:class:`BoundedStampOrder`), so a message stamped further than ``NodeConfig.max_future_s``
ahead is refused as ``future_stamp`` (logged, counted) instead of becoming a watermark that
makes every later message ``out_of_order``; a clock that jumps back is recovered from by
itself. :class:`TransportServer` is the start / wait / close of a shell that owns both.

A robot that goes silent (no ``/joint_states`` sample at all, not even a refused one, for
the watchdog's ``max_state_age_s``: its driver killed or its link down) is braked to rest by
the hold and then sent nothing more until one of its joint states is accepted and fresh
again (:class:`SilentRobotGate`, between every shell's core and its transport): the commands
that would follow target a robot that is not there, and a restarted driver would take the
first of them as its target before the server had seen where the new robot is. Then the
control loop starts again from the pose measured (``runtime/loop.py``). A robot that keeps
talking while every state it sends is refused (a NaN storm) keeps getting the hold.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cosmos_policy.serve.node_core import PolicyNodeCore
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


class SilentRobotGate:
    """The core's view of the transport: passes commands and diagnostics on, except hold
    commands at rest to a robot that is gone (see the module docstring): from the second
    such command after its joint states fell silent until one it sends is accepted and
    fresh again (a restarted driver whose first states are refused gets nothing either) and
    the loop has seen it (a hold for ``stale_state`` computed just before the state came
    still holds the old pose); ``withheld`` counts them.

    transport: any shell's transport (``DdsTransport``, ``RosTransport``); it must keep
    ``joint_states_seen``, the monotonic time of its last ``/joint_states`` sample, accepted
    or refused (None: never). ``state_fresh()``: whether the newest accepted joint state is
    fresh (:func:`newest_state_fresh`)."""

    def __init__(self, transport: Any, silent_s: float,
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
        # A hold for stale joint states was computed before the loop saw a fresh one: it
        # holds the old pose even when a state of the returning robot arrived in between.
        if resting and ((self._gone and ("hold:stale_state" in command.reasons
                                         or not self.state_fresh()))
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


def newest_state_fresh(core: PolicyNodeCore) -> bool:
    """Whether the newest joint state ``core`` accepted is fresh by its watchdog (looked up
    on each call: a reset rebuilds the loop)."""
    latest = core.sync.latest_state()
    return latest is not None and core.loop.watchdog.state_fresh(core.clock.now(), latest[1])


def attach(core: PolicyNodeCore, transport: Any) -> None:
    """Wire ``transport`` to ``core``: bounded stamps, refusals into the diagnostics, inputs
    in, services to the core's controls (see the module docstring)."""
    stamps = None
    if hasattr(transport, "joints"):  # a transport that checks stamps (both real ones do)
        # Cameras look the checker up on the transport, joint states on their decoder.
        stamps = BoundedStampOrder(core.clock, core.config.max_future_s)
        transport.stamps = transport.joints.stamps = stamps
    rejections = getattr(transport, "rejections", None)
    if rejections is not None:
        core.add_rejection_source("wire", lambda: (
            {f"{topic}:{reason}": n for (topic, reason), n in rejections.counts.items()},
            rejections.last))
    transport.on_image(core.on_image)
    transport.on_joint_state(lambda r: core.on_joint_state(r.state, r.stamp, r.velocities))
    transport.on_prompt(core.on_prompt)
    if transport.services is None:
        return

    def reset() -> tuple[bool, str]:
        if stamps is not None:
            stamps.reset()
        success, message = core.reset()
        if success:
            core.release_estop()
        return success, message

    def estop() -> tuple[bool, str]:
        core.estop()
        return True, "e-stop latched: holding until ~/reset"

    transport.services.on_reset(reset)
    transport.services.on_enable(core.enable)
    transport.services.on_estop(estop)


class TransportServer:
    """A transport and a core owned together: :meth:`start`, :meth:`wait`, :meth:`close`.
    Subclasses build both (closing the transport if the core fails) and call
    :func:`attach`."""

    transport: Any
    core: PolicyNodeCore
    #: what the start-up log line says the messages travel over
    medium = "a transport"

    def __init__(self) -> None:
        self._done = threading.Event()

    def start(self) -> TransportServer:
        """Receive on the transport's thread and command at the core's rate."""
        self.transport.start()
        self.core.start()
        log.info("serving %s over %s: %s", self.core.embodiment.name, self.medium,
                 self.transport.topics)
        return self

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until :meth:`close` (or ``timeout_s``); True when closed."""
        return self._done.wait(timeout_s)

    def close(self) -> None:
        self.core.close()
        self.transport.close()
        self._done.set()

    def __enter__(self) -> TransportServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BoundedStampOrder", "SilentRobotGate", "TransportServer", "attach",
           "newest_state_fresh"]
