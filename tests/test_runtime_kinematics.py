"""Runtime with the real KinematicProjector and FK."""

from __future__ import annotations

import numpy as np

from cosmos_policy import kinematics
from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.kinematics import estimate_reach
from cosmos_policy.runtime import (
    ActionLayout,
    ActionProcessor,
    ChunkScheduler,
    ControlLoop,
    LockstepInference,
    LoopConfig,
    ManualClock,
    ObservationSync,
    SafetyConfig,
    SafetyLayer,
    SyncConfig,
)
from cosmos_policy.spec import ActionChunk

EMB = load_embodiment("franka")
N = EMB.n_joints


class SweepModel:
    """Moves the end effector +x at 5 cm/s from the observed pose, orientation kept."""

    def __init__(self, projector) -> None:
        self.projector = projector

    def policy(self, obs):
        base = np.asarray(self.projector.to_unified(obs.state[:N], float(obs.state[N])))
        dt = 1.0 / EMB.control_rate_hz
        actions = np.tile(base, (16, 1))
        actions[:, 0] += 0.05 * dt * np.arange(1, 17)
        return ActionChunk(actions.astype(np.float32), obs.timestamp, dt)

    def forward_dynamics(self, obs, actions):
        raise NotImplementedError

    def inverse_dynamics(self, frames, state):
        raise NotImplementedError

    def reset(self) -> None:
        pass


def test_real_projector_moves_the_end_effector_within_the_box() -> None:
    km = kinematics.KinematicModel(EMB)
    projector = kinematics.KinematicProjector(EMB)

    def fk(q):
        return km.fk(q)[0]

    reach = estimate_reach(fk, EMB.position_limits[:, 0], EMB.position_limits[:, 1], samples=64)
    clock = ManualClock(0.0)
    sync = ObservationSync(EMB, clock, SyncConfig(tolerance_s=0.02))
    sync.set_prompt("sweep")
    safety = SafetyLayer(SafetyConfig.from_embodiment(EMB, reach=reach, resume_s=0.2), fk=fk)
    loop = ControlLoop(config=LoopConfig(rate_hz=EMB.command_rate_hz), clock=clock, sync=sync,
                       inference=LockstepInference(SweepModel(projector), latency_s=0.1),
                       scheduler=ChunkScheduler(ActionLayout.for_embodiment(EMB)),
                       processor=ActionProcessor(EMB, projector), safety=safety)
    state = np.append(EMB.home, 0.0)
    x0 = fk(EMB.home)[0]
    img = np.zeros((128, 128, 3), np.uint8)
    cmds = []
    for k in range(200):
        t = clock.advance(0.01) if k else 0.0
        sync.push_state(state, t)
        if k % 3 == 0:
            sync.push_image("front", img, t)
            sync.push_image("wrist", img, t)
        cmds.append(loop.tick(t))
        state = cmds[-1].positions.copy()
    p = np.array([fk(c.positions[:N]) for c in cmds])
    assert np.all(p >= EMB.workspace_low - 1e-9)
    assert np.all(p <= EMB.workspace_high + 1e-9)
    assert 0.03 < p[-1, 0] - x0 < 0.12  # ~5 cm/s for 2 s, less the start-up
