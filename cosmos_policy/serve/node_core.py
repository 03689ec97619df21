"""The policy node core: the runtime composed behind a transport contract.

Every shell (the rclpy lifecycle node, the bare-DDS server, tests) does only this:

* inbound: ``on_image(camera, rgb, stamp)``, ``on_joint_state(state, stamp, velocities)``
  (or ``on_named_joint_state`` with names), ``on_prompt(text)``; each returns None when the
  input was accepted, else the reason it was refused (counted, never raised);
* outbound: the core calls ``transport.send(SentCommand)`` every command period and
  ``transport.publish_diagnostics(snapshot, level, message, stamp)`` about once a second;
* control: ``enable(on)``, ``reset()``, ``estop()`` / ``release_estop()``, ``start()``,
  ``stop()``, ``close()``; ``tick(now)`` runs one period in lockstep (tests, simulators).

Disabled, e-stopped or starved of input, the safety layer *holds*: it brakes at its
acceleration bound and then commands the pose it stopped at. No model output, wire input
or transport failure reaches the robot unfiltered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.kinematics import workspace_guard
from cosmos_policy.runtime import (
    ControlLoop,
    InferenceRunner,
    ObservationSync,
    SafetyLayer,
    SentCommand,
    SyncConfig,
    Telemetry,
    ThreadedInference,
    Watchdog,
    WatchdogConfig,
    build_loop,
)
from cosmos_policy.runtime.build import WorkspaceGuard
from cosmos_policy.runtime.clock import Clock
from cosmos_policy.spec import MAX_PROMPT_CHARS, WorldActionModel

log = logging.getLogger("cosmos_policy.serve")

DIAG_OK, DIAG_WARN, DIAG_ERROR = 0, 1, 2
# A shell's refusal counts ({"<topic>:<reason>": n}) and its last reason (None: none yet).
RejectionSummary = tuple[Mapping[str, int], str | None]


class WallClock:
    """``time.time`` seconds: the clock of ROS 2 header stamps (system time)."""

    def now(self) -> float:
        return time.time()

    def sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            time.sleep(delay)


class NodeTransport(Protocol):
    """What the core needs from a shell: put a command and diagnostics on the wire."""

    def send(self, command: SentCommand) -> None: ...

    def publish_diagnostics(self, telemetry: Mapping[str, Any], level: int = 0,
                            message: str = "", stamp: float = 0.0) -> None: ...


@dataclass(frozen=True)
class NodeConfig:
    """Choices of the policy node (the rclpy parameters and CLI flags map onto these).

    prompt: the task until one arrives on ``~/prompt`` (None: wait for one).
    command_rate_hz: control loop rate (None: the embodiment's ``command_rate_hz``).
    blending: ``rtc`` or ``ensemble``.
    sync_tolerance_s / max_age_s / max_future_s: observation assembly (see ``SyncConfig``);
    a stamp more than ``max_future_s`` ahead of this clock is refused, never latched.
    max_state_age_s / max_observation_age_s / max_chunk_gap_s: the watchdog.
    diagnostics_period_s: how often diagnostics go out while running.
    start_enabled: command motion as soon as inputs arrive (else hold until ``enable``).
    workspace: keep the tool in the embodiment's ``workspace`` box (the same guard as
    ``cosmos-policy eval``); False only for an arm without a kinematic model.
    """

    prompt: str | None = None
    command_rate_hz: float | None = None
    blending: str = "rtc"
    sync_tolerance_s: float = 0.05
    max_age_s: float = 1.0
    max_future_s: float = 1.0
    max_state_age_s: float = 0.2
    max_observation_age_s: float = 0.5
    max_chunk_gap_s: float = 1.0
    diagnostics_period_s: float = 1.0
    start_enabled: bool = True
    switch_interval_s: float | None = None
    workspace: bool = True

    def __post_init__(self) -> None:
        if self.blending not in ("rtc", "ensemble"):
            raise ValueError(f"blending {self.blending!r}: expected 'rtc' or 'ensemble'")
        if self.command_rate_hz is not None and not self.command_rate_hz > 0:
            raise ValueError(f"command_rate_hz: expected > 0, got {self.command_rate_hz}")
        if not self.diagnostics_period_s > 0:
            raise ValueError("diagnostics_period_s: expected > 0")


def check_prompt(text: object) -> str | None:
    """None if ``text`` is a usable prompt, else the reason (empty, huge, control chars)."""
    if not isinstance(text, str):
        return "bad_prompt"
    text = text.strip()
    if not text:
        return "empty_prompt"
    if len(text) > MAX_PROMPT_CHARS:
        return "huge_prompt"
    if any(not (c.isprintable() or c in "\n\t") for c in text):
        return "bad_prompt"
    return None


def default_projector(embodiment: Embodiment) -> object | None:
    """The kinematic projector an end-effector embodiment needs (None for joint space)."""
    if embodiment.action_type == "joint":
        return None
    from cosmos_policy.kinematics import KinematicProjector

    return KinematicProjector(embodiment)


def default_guard(embodiment: Embodiment, workspace: bool = True) -> WorkspaceGuard | None:
    """``(fk, reach)`` of the embodiment's workspace box (None when ``workspace`` is False):
    every shell limits with the same guard."""
    return workspace_guard(embodiment) if workspace else None


class PolicyNodeCore:
    """The runtime behind the policy node; thread-safe inbound calls.

    model: a :class:`WorldActionModel` (``EngineModel``, a test stub).
    inference_factory: ``(model, clock, telemetry) -> InferenceRunner`` (default: threaded).
    """

    def __init__(self, embodiment: Embodiment, model: WorldActionModel,
                 transport: NodeTransport, config: NodeConfig | None = None, *,
                 clock: Clock | None = None, projector: object | None = None,
                 inference_factory: Callable[[WorldActionModel, Clock, Telemetry],
                                             InferenceRunner] | None = None) -> None:
        self.embodiment = embodiment
        self.model = model
        self.transport = transport
        self.config = config = config or NodeConfig()
        self.clock = clock or WallClock()
        self.telemetry = Telemetry()
        self.projector = projector if projector is not None else default_projector(embodiment)
        self._guard = default_guard(embodiment, config.workspace)
        self._inference_factory = inference_factory or (
            lambda m, c, t: ThreadedInference(m, c, t))
        self.sync = ObservationSync(embodiment, self.clock, SyncConfig(
            tolerance_s=config.sync_tolerance_s, max_age_s=config.max_age_s,
            max_future_s=config.max_future_s), self.telemetry)
        self.last_refusal: str | None = None  # "<stream>: <reason>", for diagnostics
        self._rejection_sources: dict[str, Callable[[], RejectionSummary]] = {}
        self._lock = threading.RLock()
        self._enabled = config.start_enabled
        self._estop = False
        self._running = False
        self._diag_stop = threading.Event()
        self._diag_thread: threading.Thread | None = None
        self.commands_sent = 0
        self.last_command: SentCommand | None = None
        self.loop = self._build_loop()
        if config.prompt is not None:
            reason = self.on_prompt(config.prompt)
            if reason is not None:
                raise ValueError(f"prompt refused: {reason}")

    # ------------------------------------------------------------------ assembly
    def _build_loop(self) -> ControlLoop:
        cfg = self.config
        loop = build_loop(
            self.embodiment, clock=self.clock, sync=self.sync, telemetry=self.telemetry,
            inference=self._inference_factory(self.model, self.clock, self.telemetry),
            projector=self.projector, blending=cfg.blending, rate_hz=cfg.command_rate_hz,
            switch_interval_s=cfg.switch_interval_s,
            guard=self._guard,
            watchdog=Watchdog(WatchdogConfig(cfg.max_observation_age_s, cfg.max_state_age_s,
                                             cfg.max_chunk_gap_s)))
        loop.subscribe(self._send)
        self.telemetry.gauge("enabled", lambda: self._enabled)
        self.telemetry.gauge("commands_sent", lambda: self.commands_sent)
        self._apply_hold(loop.safety)
        return loop

    def _apply_hold(self, safety: SafetyLayer) -> None:
        if self._estop or not self._enabled:
            safety.estop()
        else:
            safety.release_estop()

    def _send(self, command: SentCommand) -> None:
        # The safety layer already made the command finite and inside every limit; the
        # transport refuses NaN again (ValueError) and the loop counts subscriber errors.
        self.transport.send(command)
        self.commands_sent += 1
        self.last_command = command

    # ------------------------------------------------------------------ inbound
    def on_image(self, camera: str, rgb: np.ndarray, stamp: float) -> str | None:
        """A decoded frame (uint8 (H, W, 3) RGB) from ``camera`` at ``stamp`` (s)."""
        return self._logged("image", camera, self.sync.push_image(camera, rgb, stamp))

    def on_joint_state(self, state: np.ndarray, stamp: float,
                       velocities: np.ndarray | None = None) -> str | None:
        """Arm positions + gripper opening in [0, 1] (n + 1,), embodiment order."""
        return self._logged("joint_state", "", self.sync.push_state(
            np.asarray(state, dtype=np.float32), stamp, velocities))

    def on_named_joint_state(self, names: Sequence[str], positions: Sequence[float],
                             stamp: float, velocities: Sequence[float] | None = None
                             ) -> str | None:
        """A joint state by name (``sensor_msgs/JointState`` fields, raw joint units)."""
        return self._logged("joint_state", "", self.sync.push_joint_state(
            names, positions, stamp, velocities))

    def on_prompt(self, text: str) -> str | None:
        """A new task prompt; refused when empty, over MAX_PROMPT_CHARS or with control chars."""
        reason = check_prompt(text)
        if reason is None:
            reason = self.sync.set_prompt(text.strip())
        if reason is None:
            self.telemetry.count("prompts")
            log.info("prompt: %r", text.strip()[:80])
        return self._logged("prompt", "", reason)

    def _logged(self, stream: str, name: str, reason: str | None) -> str | None:
        if reason is not None:
            self.telemetry.count(f"refused:{stream}:{reason}")
            self.last_refusal = f"{stream}{':' + name if name else ''}: {reason}"
            log.debug("refused %s %s: %s", stream, name, reason)
        return reason

    # ------------------------------------------------------------------ control
    @property
    def enabled(self) -> bool:
        return self._enabled

    def enable(self, on: bool) -> tuple[bool, str]:
        """``~/enable``: allow motion (True) or brake and hold (False)."""
        with self._lock:
            self._enabled = bool(on)
            self._apply_hold(self.loop.safety)
        self.telemetry.count("enable" if on else "disable")
        return True, f"enabled={bool(on)}" + (" (e-stop latched)" if self._estop else "")

    def estop(self) -> None:
        """Latch the e-stop: brake and hold until :meth:`release_estop`."""
        with self._lock:
            self._estop = True
            self._apply_hold(self.loop.safety)
        self.telemetry.count("estop")

    def release_estop(self) -> None:
        with self._lock:
            self._estop = False
            self._apply_hold(self.loop.safety)

    def reset(self) -> tuple[bool, str]:
        """``~/reset``: drop chunks, buffered frames and joint states, and restart the plan
        from the next measured pose (an episode boundary). Frames and joint states stamped
        before now that arrive later (still in flight) are refused as ``before_reset``. The
        model is re-seeded; the prompt, enable and e-stop are kept."""
        with self._lock:
            running = self._running
            if running:
                self.loop.stop()
            self.loop.inference.close()
            self.model.reset()
            # Frames and states from before the boundary: not this episode, even late ones.
            self.sync.clear(not_before=self.clock.now())
            self.loop = self._build_loop()
            if running:
                self.loop.start()
        self.telemetry.count("resets")
        return True, "reset: plan restarts from the measured pose"

    def tick(self, now: float | None = None) -> SentCommand | None:
        """One command period in lockstep (the loop must not be running on its thread)."""
        return self.loop.tick(now)

    def start(self) -> None:
        """Run the control loop at the command rate and diagnostics every period."""
        with self._lock:
            if self._running:
                return
            self.loop.start()
            self._running = True
        self._diag_stop.clear()
        self._diag_thread = threading.Thread(target=self._diagnostics_loop,
                                             name="cosmos-diagnostics", daemon=True)
        self._diag_thread.start()

    def stop(self) -> None:
        """Stop commanding (the robot's controller keeps the last target)."""
        with self._lock:
            if self._running:
                self.loop.stop()
                self._running = False
        self._diag_stop.set()
        if self._diag_thread is not None:
            self._diag_thread.join(2.0)
            self._diag_thread = None

    def close(self) -> None:
        """Stop and free the inference thread."""
        self.stop()
        self.loop.inference.close()

    # ------------------------------------------------------------------ diagnostics
    def add_rejection_source(self, name: str, read: Callable[[], RejectionSummary]) -> None:
        """Report a shell's own refusals (the wire decoder's) in diagnostics: ``read()``
        returns ``(counts {"<topic>:<reason>": n}, last reason or None)``."""
        self._rejection_sources[name] = read

    def rejections(self) -> dict[str, Any]:
        """Refusal counts and the last reason of every layer: ``{"node": {...}, <source>:
        {...}, "last": {layer: reason}, "total": n}``, JSON-ready. The node's counts are
        its ``refused:<stream>:<reason>`` counters (sync and prompt checks)."""
        counters = self.telemetry.snapshot()["counters"]
        node = {k.removeprefix("refused:"): v for k, v in counters.items()
                if k.startswith("refused:")}
        out: dict[str, Any] = {"node": node}
        last: dict[str, str] = {}
        if self.last_refusal is not None:
            last["node"] = self.last_refusal
        for name, read in self._rejection_sources.items():
            try:
                counts, reason = read()
            except Exception:  # a broken source must not take diagnostics down
                log.exception("reading rejections of %s failed", name)
                continue
            out[name] = dict(counts)
            if reason:
                last[name] = reason
        out["last"] = last
        out["total"] = int(sum(sum(v.values()) for k, v in out.items() if k != "last"))
        return out

    def status(self) -> tuple[int, str]:
        """Diagnostic level and message of now."""
        if self._estop:
            return DIAG_ERROR, "e-stop latched"
        if not self._enabled:
            return DIAG_WARN, "disabled: holding"
        cmd = self.last_command
        holds = [r for r in (cmd.reasons if cmd else ()) if r.startswith("hold:")]
        if cmd is None:
            return DIAG_WARN, "waiting for joint states"
        if holds:
            # Say why, not only that: the newest refusal usually explains a stale input.
            why = self._newest_refusal()
            return DIAG_WARN, ", ".join(holds) + (f" (last refused: {why})" if why else "")
        return DIAG_OK, "running"

    def _newest_refusal(self) -> str | None:
        last = self.rejections()["last"]
        for name in [n for n in last if n != "node"] + ["node"]:  # the wire first
            if name in last:
                return f"{name} {last[name]}" if name != "node" else last[name]
        return None

    def diagnostics(self) -> dict[str, Any]:
        """``Telemetry.snapshot()`` plus ``rejections`` (see :meth:`rejections`)."""
        snapshot = self.telemetry.snapshot()
        snapshot["rejections"] = self.rejections()
        return snapshot

    def publish_diagnostics(self) -> None:
        """Publish :meth:`diagnostics` with the current level and message."""
        level, message = self.status()
        try:
            self.transport.publish_diagnostics(self.diagnostics(), level, message,
                                               self.clock.now())
            self.telemetry.count("diagnostics")
        except Exception:  # diagnostics must never take the node down
            log.exception("publishing diagnostics failed")

    def _diagnostics_loop(self) -> None:
        while not self._diag_stop.wait(self.config.diagnostics_period_s):
            self.publish_diagnostics()


__all__ = ["DIAG_ERROR", "DIAG_OK", "DIAG_WARN", "NodeConfig", "NodeTransport",
           "PolicyNodeCore", "WallClock", "check_prompt", "default_guard", "default_projector"]
