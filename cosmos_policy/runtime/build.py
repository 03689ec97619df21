"""One place that assembles a :class:`ControlLoop` from an embodiment and the caller's pieces.

The policy node (serve), closed-loop evaluation (sim), the tests and the benchmark all call
:func:`build_loop`, so they run the same stages with the same parameters. What needs
kinematics (the joint projector of an end-effector embodiment, the workspace guard's forward
kinematics and reach) is built by the caller and passed in: runtime/ imports no MuJoCo.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.runtime.clock import Clock
from cosmos_policy.runtime.interp import ActionLayout
from cosmos_policy.runtime.loop import ControlLoop, LoopConfig
from cosmos_policy.runtime.postprocess import ActionProcessor, JointProjector
from cosmos_policy.runtime.safety import SafetyConfig, SafetyLayer, Watchdog
from cosmos_policy.runtime.scheduler import ChunkScheduler, SchedulerConfig
from cosmos_policy.runtime.sync import ObservationSync, SyncConfig
from cosmos_policy.runtime.telemetry import Telemetry
from cosmos_policy.runtime.worker import InferenceRunner

# joints (n,) -> end-effector position (3,) m, and the per-joint reach bound (n,) m/rad
WorkspaceGuard = tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]


def build_loop(embodiment: Embodiment, *, clock: Clock, inference: InferenceRunner,
               telemetry: Telemetry | None = None,
               sync: ObservationSync | SyncConfig | None = None,
               projector: JointProjector | None = None, blending: str = "rtc",
               rate_hz: float | None = None, switch_interval_s: float | None = None,
               guard: WorkspaceGuard | None = None, safety: SafetyLayer | None = None,
               watchdog: Watchdog | None = None) -> ControlLoop:
    """The control loop for ``embodiment``.

    clock: the loop clock (simulated or real). inference: the runner that calls the model
    (:class:`ThreadedInference`, :class:`LockstepInference` or a wrapper); built by the caller
    because its telemetry must be ``telemetry``.
    telemetry: shared by every stage (default: a new one).
    sync: an :class:`ObservationSync` the caller already feeds, or the :class:`SyncConfig` to
    build one with (default ``SyncConfig()``).
    projector: unified action -> joints, needed by end-effector embodiments (e.g.
    ``kinematics.KinematicProjector``); None for joint space.
    blending: ``rtc`` or ``ensemble``. rate_hz: command rate (default: the embodiment's).
    switch_interval_s: see :class:`LoopConfig`.
    guard: ``(fk, reach)`` for the embodiment's workspace box (e.g. from the kinematics
    module); None: joint limits only.
    safety: a :class:`SafetyLayer` built by the caller (other limits); excludes ``guard``.
    watchdog: default ``Watchdog()`` (its default ages).
    """
    if safety is not None and guard is not None:
        raise ValueError("build_loop: pass guard or safety, not both")
    telemetry = telemetry if telemetry is not None else (
        sync.telemetry if isinstance(sync, ObservationSync) else Telemetry())
    if not isinstance(sync, ObservationSync):
        sync = ObservationSync(embodiment, clock, sync or SyncConfig(), telemetry)
    if safety is None:
        fk, reach = guard if guard is not None else (None, None)
        safety = SafetyLayer(SafetyConfig.from_embodiment(embodiment, reach=reach), fk)
    return ControlLoop(
        config=LoopConfig(rate_hz=rate_hz or embodiment.command_rate_hz,
                          switch_interval_s=switch_interval_s),
        clock=clock, sync=sync, inference=inference,
        scheduler=ChunkScheduler(ActionLayout.for_embodiment(embodiment),
                                 SchedulerConfig(mode=blending)),
        processor=ActionProcessor(embodiment, projector), safety=safety,
        watchdog=watchdog or Watchdog(), telemetry=telemetry)
