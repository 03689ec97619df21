"""The stand-in model and the start-up warm-up every command that serves a model shares.

``--model random`` (:mod:`cosmos_policy.policy.registry`) is :class:`RandomWalkModel`, a tiny
seeded stand-in that proves the loop without trained weights: it returns chunks that wander
a few centimetres around the observed pose (joint embodiments: a few hundredths of a
radian), so commands change and the robot visibly moves.
"""

from __future__ import annotations

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.spec import ActionChunk, Observation, WorldActionModel


class RandomWalkModel:
    """Seeded stand-in policy: a smooth random walk from the observed pose.

    Chunks of ``horizon`` absolute actions at the embodiment's action rate. The step is
    ``step_m`` metres (EE) or radians (joint) per action, bounded to ``radius`` around the
    pose the first observation showed.
    """

    def __init__(self, embodiment: Embodiment, projector: object | None = None, *,
                 seed: int = 0, horizon: int = 16, step_m: float = 0.004,
                 radius: float = 0.06) -> None:
        self.embodiment, self.projector = embodiment, projector
        self.seed, self.horizon, self.step, self.radius = seed, horizon, step_m, radius
        self.dt = 1.0 / embodiment.control_rate_hz
        self.calls = 0
        self.reset()

    def reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._anchor: np.ndarray | None = None
        self._offset = np.zeros(3)

    def _pose(self, state: np.ndarray) -> np.ndarray:
        n = self.embodiment.n_joints
        if self.embodiment.action_type == "joint":
            return np.asarray(state, np.float64).copy()
        return np.asarray(self.projector.to_unified(state[:n], float(state[n])), np.float64)

    def policy(self, obs: Observation) -> ActionChunk:
        self.calls += 1
        pose = self._pose(obs.state)
        if self._anchor is None:
            self._anchor = pose.copy()
        actions = np.tile(pose, (self.horizon, 1))
        for i in range(self.horizon):
            self._offset = np.clip(self._offset + self._rng.normal(0, self.step, 3),
                                   -self.radius, self.radius)
            actions[i, :3] = self._anchor[:3] + self._offset
        return ActionChunk(actions.astype(np.float32), obs.timestamp, self.dt)

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError("the random stand-in only acts")

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the random stand-in only acts")


def warm_up(model: WorldActionModel, embodiment: Embodiment,
            prompt: str = "reach the red cube") -> float:
    """One policy call on a synthetic observation at the home pose, then ``model.reset()``.

    The first call of a model pays for what loads lazily (the prompt encoder, ONNX Runtime's
    arenas): seconds on a CPU. Paid at start-up, before the robot waits on it, rather than
    on the first real observation, when the control loop holds the arm and the time of the
    first episode runs out. Returns the seconds the call took.
    """
    import dataclasses
    import time

    from cosmos_policy.spec import fake_obs

    obs = fake_obs(embodiment.observation_spec(), prompt=prompt)
    state = np.zeros(embodiment.state_dim, np.float32)
    state[: embodiment.n_joints] = embodiment.home
    t0 = time.perf_counter()
    model.policy(dataclasses.replace(obs, state=state))
    took = time.perf_counter() - t0
    model.reset()
    return took
