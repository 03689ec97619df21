"""What the simulator adds to the model seam: the oracle, and wall-time keeping.

``--model oracle`` (:mod:`cosmos_policy.policy.registry`) is :class:`ExpertOracle`, the
scripted expert (privileged state) wrapped as a world-action model returning chunks. It
proves the closed loop works independently of learning: a runtime that loses it frames,
time or commands shows up as oracle failures. It reads the live scene, so the registry
cannot build it; :func:`sim_factories` hands it the env's.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from cosmos_policy.spec import ActionChunk, Observation

ORACLE = "oracle"


def sim_factories(env: Any, chunk: int = 8) -> dict[str, Any]:
    """The ``factories`` of :func:`cosmos_policy.policy.registry.load_model` that need
    ``env`` (the evaluation env): ``oracle``."""
    return {ORACLE: lambda _embodiment, _seed: ExpertOracle(env, chunk=chunk)}


class ExpertOracle:
    """The scripted expert of ``env`` as a world-action model (policy mode only).

    ``policy(obs)`` first advances the expert's own plan to ``obs.timestamp`` (one expert step
    per action period), then returns its next ``chunk`` waypoints without committing them, so
    chunks overlap exactly as a model's do and the runtime's blending, projection and safety
    decide what is executed. The expert reads the live scene (privileged), not the frames.
    ``feedback="state"``: each chunk starts from the expert's answer from the measured state
    (:meth:`~cosmos_policy.sim.experts.Expert.label`), as a model that sees no velocity must.
    """

    _STATIC = ("env", "scene", "cfg", "dt", "kin", "_projector", "home_rot", "_fk")

    def __init__(self, env: Any, chunk: int = 8, feedback: str = "command") -> None:
        from cosmos_policy.sim.experts import ExpertConfig, make_expert

        if chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        self.expert = make_expert(env, ExpertConfig(feedback=feedback))
        self.feedback = feedback
        self.chunk = chunk
        self.dt = self.expert.dt
        self._t: float | None = None

    def reset(self) -> None:
        self.expert.reset()
        self._t = None

    def policy(self, obs: Observation) -> ActionChunk:
        e = self.expert
        if self.feedback == "state":  # the answer from the measured state, then its plan on
            first = np.asarray(e.label(None), np.float32)
            # the answers to come, as a recording holds them: the lead stays, the pose moves on
            # a step of the velocity field per period
            cfg, e.cfg = e.cfg, replace(e.cfg, state_lead=1.0)
            try:
                actions = np.stack([first, *self._ahead(self.chunk - 1)])
            finally:
                e.cfg = cfg
            return ActionChunk(actions=actions, timestamp=obs.timestamp, dt=self.dt)
        if self._t is None:
            self._t = obs.timestamp
        while self._t + 1e-9 < obs.timestamp:  # commit the steps that have passed
            e.act(None)
            self._t += self.dt
        return ActionChunk(actions=np.stack(self._ahead(self.chunk)), timestamp=obs.timestamp,
                           dt=self.dt)

    def _ahead(self, n: int) -> list[np.ndarray]:
        """The expert's next ``n`` actions, not committed: its state is put back after (the
        act() calls rebind, never mutate, their arrays)."""
        e = self.expert
        saved = {k: v for k, v in vars(e).items() if k not in self._STATIC}
        try:
            return [np.asarray(e.act(None), np.float32) for _ in range(n)]
        finally:
            vars(e).update(saved)

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError("the oracle only acts")

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        raise NotImplementedError("the oracle only acts")


class TimedModel:
    """Wraps a model and keeps the wall time (s, ``perf_counter``) of every policy call.

    Lockstep inference records its *simulated* latency; this keeps the measured one too.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.latencies: list[float] = []

    def reset(self, seed: int | None = None) -> None:
        """Start an episode; ``seed`` (the episode's) re-seeds the model's sampler, so an
        episode's noise depends on its own seed, not on the run's first seed or on which
        worker runs it."""
        self.latencies.clear()
        if seed is not None and hasattr(self.model, "seed"):
            self.model.seed = seed
        if hasattr(self.model, "reset"):
            self.model.reset()

    def policy(self, obs: Observation) -> ActionChunk:
        t0 = time.perf_counter()
        try:
            return self.model.policy(obs)
        finally:
            self.latencies.append(time.perf_counter() - t0)

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        return self.model.forward_dynamics(obs, actions)

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        return self.model.inverse_dynamics(frames, state)
