"""The closed-loop runtime core: no ROS, no MuJoCo, no CLI.

Stages, in the order a command passes them (see docs/RUNTIME.md):
:class:`ObservationSync` -> :class:`ThreadedInference` / :class:`LockstepInference` ->
:class:`ActionProcessor` (delta to absolute) -> :class:`ChunkScheduler` (blending,
interpolation) -> :class:`ActionProcessor` (projection to joints) -> :class:`SafetyLayer`
-> sink and subscribers, driven by :class:`ControlLoop`; :class:`Telemetry` records it all.
:func:`build_loop` assembles a loop for an embodiment (serve, eval, tests, benchmarks).
"""

from cosmos_policy.runtime.build import WorkspaceGuard, build_loop
from cosmos_policy.runtime.clock import Clock, ManualClock, MonotonicClock
from cosmos_policy.runtime.interp import ActionLayout, TimedActions
from cosmos_policy.runtime.loop import ControlLoop, LoopConfig
from cosmos_policy.runtime.postprocess import ActionProcessor, JointProjector
from cosmos_policy.runtime.safety import (
    CommandSink,
    SafetyConfig,
    SafetyLayer,
    SentCommand,
    Watchdog,
    WatchdogConfig,
)
from cosmos_policy.runtime.scheduler import ChunkScheduler, SchedulerConfig
from cosmos_policy.runtime.sync import ObservationSync, SyncConfig
from cosmos_policy.runtime.telemetry import LatencyStats, Telemetry
from cosmos_policy.runtime.worker import (
    InferenceResult,
    InferenceRunner,
    LockstepInference,
    ThreadedInference,
)

__all__ = [
    "ActionLayout",
    "ActionProcessor",
    "ChunkScheduler",
    "Clock",
    "CommandSink",
    "ControlLoop",
    "InferenceResult",
    "InferenceRunner",
    "JointProjector",
    "LatencyStats",
    "LockstepInference",
    "LoopConfig",
    "ManualClock",
    "MonotonicClock",
    "ObservationSync",
    "SafetyConfig",
    "SafetyLayer",
    "SchedulerConfig",
    "SentCommand",
    "SyncConfig",
    "Telemetry",
    "ThreadedInference",
    "TimedActions",
    "Watchdog",
    "WatchdogConfig",
    "WorkspaceGuard",
    "build_loop",
]
