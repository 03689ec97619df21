"""Models the servers load by name: the shipped engine, an engine/bundle path, or test stand-ins.

``default`` and a path go through :func:`cosmos_policy.engine.default.default_engine`;
a Cosmos 3 checkpoint folder through :mod:`cosmos_policy.models.cosmos3_use`;
``random`` is a tiny seeded stand-in that proves the loop without trained weights: it
returns chunks that wander a few centimetres around the observed pose (joint embodiments:
a few hundredths of a radian), so commands change and the robot visibly moves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.errors import UserError
from cosmos_policy.models.cosmos3_use import Cosmos3Options, is_cosmos3
from cosmos_policy.models.cosmos3_use import load as load_cosmos3_folder
from cosmos_policy.spec import ActionChunk, Observation, WorldActionModel

STAND_INS = ("random",)


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


def load_model(name: str, embodiment: Embodiment, projector: object | None = None, *,
               backend: str = "onnxruntime", seed: int = 0,
               cosmos3: Cosmos3Options | None = None) -> WorldActionModel:
    """``default`` (the shipped model's engine), ``random``, a bundle/engine folder path or a
    Cosmos 3 checkpoint folder (loaded with ``cosmos3`` options)."""
    if name == "random":
        return RandomWalkModel(embodiment, projector, seed=seed)
    if is_cosmos3(name):
        return load_cosmos3_folder(name, embodiment, cosmos3, seed=seed)
    from cosmos_policy.engine.default import default_engine

    if name != "default":
        path = Path(name)
        if not path.exists():
            raise UserError(f"--model {name}: no such folder; use 'default', "
                            f"{', '.join(STAND_INS)}, a model/engine folder or a Cosmos 3 "
                            "checkpoint folder")
        if any(path.glob("*.onnx")) or any(path.glob("*.plan")):  # an engine folder: as it is
            from cosmos_policy.engine.model import EngineModel

            return EngineModel(path, backend, seed=seed)
        return default_engine(embodiment.name, model=path, backend=backend, seed=seed)
    return default_engine(embodiment.name, backend=backend, seed=seed)


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
