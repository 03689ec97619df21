"""The models an evaluation drives: the shipped/trained bundle on a backend, or an oracle.

``--model default|PATH|oracle``:

* ``default`` / a bundle folder with ``--backend onnxruntime``: the bundle's ONNX Runtime
  engine (:func:`cosmos_policy.engine.default_engine`, built and parity-checked on first use);
* with ``--backend torch``: :class:`cosmos_policy.models.CompactWAM` (the eager reference);
* a Cosmos 3 checkpoint folder: :class:`cosmos_policy.models.cosmos3.Cosmos3WAM` with the
  ``--cosmos3-*`` options (:mod:`cosmos_policy.models.cosmos3_use`);
* ``oracle``: :class:`ExpertOracle`, the scripted expert (privileged state) wrapped as a
  world-action model returning chunks. It proves the closed loop works independently of
  learning: a runtime that loses it frames, time or commands shows up as oracle failures.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.spec import ActionChunk, Observation

BACKENDS = ("onnxruntime", "torch")
ORACLE = "oracle"


def load_eval_model(model: str, backend: str, embodiment: str, *, seed: int = 0,
                    env: Any = None, chunk: int = 8, cosmos3: Any = None,
                    noise_scale: float = 1.0, steps: int = 10) -> Any:
    """A :class:`~cosmos_policy.spec.WorldActionModel` for ``embodiment``.

    model: ``default``, a bundle folder, a Cosmos 3 folder (``cosmos3``: its
    :class:`~cosmos_policy.models.cosmos3_use.Cosmos3Options`) or ``oracle`` (needs ``env``,
    the evaluation env).
    backend: ``onnxruntime`` or ``torch`` (ignored for the oracle). seed: sampler seed.
    noise_scale: the compact model's initial-noise scale (:func:`cosmos_policy.models.flow.sample`).
    steps: the compact model's Euler steps per sample.
    """
    if model == ORACLE:
        if env is None:
            raise ValueError("the oracle needs the evaluation env")
        return ExpertOracle(env, chunk=chunk)
    from cosmos_policy.models.cosmos3_use import is_cosmos3

    if is_cosmos3(model):  # a Cosmos 3 checkpoint: the pipeline itself (no engine backend)
        from cosmos_policy.models.cosmos3_use import load

        return load(model, embodiment, cosmos3, seed=seed)
    if backend not in BACKENDS:
        raise UserError(f"unknown backend '{backend}'; valid: {', '.join(BACKENDS)}")
    from cosmos_policy.engine.default import resolve_model

    path = resolve_model(model)  # default: engines/default, UserError naming the fix if absent
    if not (path / "manifest.json").is_file():
        raise UserError(f"no model bundle at {path}; pass --model default, a bundle folder "
                        "or oracle (train one with `cosmos-policy train DATASET --out DIR`)")
    if backend == "torch":
        from cosmos_policy.models import load_model

        return load_model(path, embodiment, seed=seed, noise_scale=noise_scale, steps=steps)
    from cosmos_policy.engine.default import default_engine

    return default_engine(embodiment, model=path, backend="onnxruntime", seed=seed,
                          noise_scale=noise_scale, steps=steps)


class ExpertOracle:
    """The scripted expert of ``env`` as a world-action model (policy mode only).

    ``policy(obs)`` first advances the expert's own plan to ``obs.timestamp`` (one expert step
    per action period), then returns its next ``chunk`` waypoints without committing them, so
    chunks overlap exactly as a model's do and the runtime's blending, projection and safety
    decide what is executed. The expert reads the live scene (privileged), not the frames.
    """

    _STATIC = ("env", "scene", "cfg", "dt", "kin", "_projector", "home_rot")

    def __init__(self, env: Any, chunk: int = 8) -> None:
        from cosmos_policy.sim.experts import make_expert

        if chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        self.expert = make_expert(env)
        self.chunk = chunk
        self.dt = self.expert.dt
        self._t: float | None = None

    def reset(self) -> None:
        self.expert.reset()
        self._t = None

    def policy(self, obs: Observation) -> ActionChunk:
        e = self.expert
        if self._t is None:
            self._t = obs.timestamp
        while self._t + 1e-9 < obs.timestamp:  # commit the steps that have passed
            e.act(None)
            self._t += self.dt
        saved = {k: v for k, v in vars(e).items() if k not in self._STATIC}
        actions = np.stack([np.asarray(e.act(None), np.float32) for _ in range(self.chunk)])
        vars(e).update(saved)  # the act() calls rebind (never mutate) their arrays
        return ActionChunk(actions=actions, timestamp=obs.timestamp, dt=self.dt)

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

    def reset(self) -> None:
        self.latencies.clear()
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
