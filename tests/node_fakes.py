"""A node core on a manual clock with a recording transport, for the core's tests."""

from __future__ import annotations

import numpy as np

from cosmos_policy.policy.stand_ins import RandomWalkModel
from cosmos_policy.runtime import LockstepInference, ManualClock
from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore


class Recorder:
    """The core's transport: keeps every command (all finite) and diagnostics message."""

    def __init__(self) -> None:
        self.commands, self.diagnostics = [], []

    def send(self, command) -> None:
        assert np.all(np.isfinite(command.positions))
        self.commands.append(command)

    def publish_diagnostics(self, telemetry, level=0, message="", stamp=0.0) -> None:
        self.diagnostics.append((telemetry, level, message))


def make_core(franka, projector, **kw):
    """(core, recorder, clock): the random stand-in, lockstep inference charged 50 ms, the
    prompt set, the clock at 100 s; ``kw`` goes to :class:`NodeConfig`."""
    clock = ManualClock(100.0)
    rec = Recorder()
    model = RandomWalkModel(franka, projector, seed=1)
    core = PolicyNodeCore(
        franka, model, rec, NodeConfig(prompt="reach the red cube", **kw), clock=clock,
        projector=projector,
        inference_factory=lambda m, c, t: LockstepInference(m, latency_s=0.05, telemetry=t))
    return core, rec, clock
