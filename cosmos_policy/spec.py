"""The model contract: observations, action chunks, array specs and the three modes.

Everything that crosses a seam in cosmos-policy (model, engine backend, runtime,
transport, simulator) speaks in these types. They are plain numpy containers so the
core stays free of torch, ROS and MuJoCo.

Conventions
- Images are ``uint8`` arrays shaped ``(H, W, 3)``, RGB, row 0 at the top.
- ``state`` is the proprioceptive vector of an embodiment: arm joint positions
  (rad or m) followed by the gripper opening in ``[0, 1]`` (0 open, 1 closed).
- Actions are ``float32`` arrays shaped ``(T, D)``; ``D`` and its meaning come from the
  embodiment's action space (unified 10-D pose per arm, or joint targets).
- Times are seconds. ``timestamp`` is the time the observation was taken on the clock of
  its source (simulated time in MuJoCo, a monotonic clock or a ROS stamp on a robot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from cosmos_policy.errors import SpecError

# The longest task prompt (characters) any entry point accepts: observations, the ROS 2 and
# DDS prompt topic, the WebSocket server and the simulators' observation spaces.
MAX_PROMPT_CHARS = 512


@dataclass(frozen=True)
class ArraySpec:
    """Shape, dtype and optional bounds of one array, with its units for people."""

    shape: tuple[int, ...]
    dtype: str
    low: float | None = None
    high: float | None = None
    units: str = ""

    def check(self, name: str, value: np.ndarray) -> None:
        """Raise :class:`SpecError` naming ``name`` if ``value`` does not fit this spec."""
        if not isinstance(value, np.ndarray):
            raise SpecError(f"{name}: expected a numpy array, got {type(value).__name__}")
        if value.shape != self.shape:
            raise SpecError(f"{name}: expected shape {self.shape}, got {value.shape}")
        if value.dtype != np.dtype(self.dtype):
            raise SpecError(f"{name}: expected dtype {self.dtype}, got {value.dtype}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise SpecError(f"{name}: contains NaN or inf")
        if self.low is not None and value.size and value.min() < self.low:
            raise SpecError(f"{name}: value {value.min()} below {self.low} {self.units}".rstrip())
        if self.high is not None and value.size and value.max() > self.high:
            raise SpecError(f"{name}: value {value.max()} above {self.high} {self.units}".rstrip())


@dataclass(frozen=True)
class Observation:
    """One synchronised observation of a robot.

    images: camera name -> uint8 (H, W, 3).
    state: float32 (S,) arm joint positions then gripper opening in [0, 1].
    prompt: the task in words.
    timestamp: seconds on the source's clock when the observation was taken.
    velocities: optional float32 (S - 1,) arm joint velocities (rad/s or m/s).
    """

    images: dict[str, np.ndarray]
    state: np.ndarray
    prompt: str
    timestamp: float
    velocities: np.ndarray | None = None

    def validate(self, spec: ObservationSpec) -> None:
        """Check this observation against ``spec``; raises :class:`SpecError`."""
        missing = sorted(set(spec.images) - set(self.images))
        if missing:
            raise SpecError(f"observation lacks cameras {missing}; has {sorted(self.images)}")
        for cam, cam_spec in spec.images.items():
            cam_spec.check(f"images[{cam!r}]", self.images[cam])
        spec.state.check("state", self.state)
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise SpecError("prompt: expected a non-empty string")
        if len(self.prompt) > spec.max_prompt_chars:
            raise SpecError(f"prompt: {len(self.prompt)} characters, "
                            f"at most {spec.max_prompt_chars}")
        if not math.isfinite(self.timestamp):
            raise SpecError("timestamp: not finite")


@dataclass(frozen=True)
class ObservationSpec:
    """What an embodiment's observations look like."""

    images: dict[str, ArraySpec]
    state: ArraySpec
    max_prompt_chars: int = MAX_PROMPT_CHARS


@dataclass(frozen=True)
class ActionChunk:
    """A chunk of future actions predicted from one observation.

    actions: float32 (T, D) in the embodiment's action space, denormalised.
    timestamp: the ``Observation.timestamp`` the chunk was predicted from; action ``i`` is
        meant for time ``timestamp + (i + 1) * dt``.
    dt: seconds between consecutive actions.
    future_frames: optional camera name -> uint8 (K, H, W, 3) imagined frames.
    """

    actions: np.ndarray
    timestamp: float
    dt: float
    future_frames: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.actions.ndim != 2:
            raise SpecError(f"actions: expected (T, D), got shape {self.actions.shape}")
        if not self.dt > 0:
            raise SpecError(f"dt: expected > 0, got {self.dt}")

    def times(self) -> np.ndarray:
        """Absolute times (s) each action is meant for, shape (T,)."""
        return self.timestamp + self.dt * np.arange(1, len(self.actions) + 1)


@runtime_checkable
class WorldActionModel(Protocol):
    """One network, three modes: which tokens are clean conditions is the only difference.

    What every model gives the runtime (the compact model on any backend, the Cosmos 3
    adapter, the oracle and test stubs), so the runtime never knows which it talks to;
    the runtime reads a chunk's timing from the :class:`ActionChunk` itself.
    """

    def policy(self, obs: Observation) -> ActionChunk:
        """Frames + state + prompt -> a chunk of actions (and optionally imagined frames)."""
        ...

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Frames + actions (T, D) -> predicted future frames, camera -> uint8 (K, H, W, 3)."""
        ...

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        """Frames at t..t+k (camera -> uint8 (k+1, H, W, 3)) and the state at t ->
        the actions between them, float32 (k, D)."""
        ...

    def reset(self) -> None:
        """Forget any per-episode state (caches, previous chunks); re-seed the sampler."""
        ...


class ModelConfig(Protocol):
    """The network facts callers read off a model (``model.config``)."""

    cameras: Sequence[str]  #: camera names the model reads, in order
    image_size: int  #: frames are resized to (image_size, image_size)
    chunk: int  #: actions per chunk
    horizon: int  #: frames ahead that forward dynamics predicts (t + horizon)


class ModelDomain(Protocol):
    """The embodiment domain a model serves (``model.domain``): sizes and statistics."""

    name: str
    state_dim: int
    action_dim: int
    state_mean: Sequence[float]
    state_std: Sequence[float]
    action_mean: Sequence[float]
    action_std: Sequence[float]


@runtime_checkable
class BatchedWorldActionModel(WorldActionModel, Protocol):
    """The whole contract of the compact model on any backend
    (:class:`cosmos_policy.policy.Policy`): the modes in batches, the autoencoder round trip
    and the facts evaluation and labelling read. Callers use these, never a backend's
    internals. (The Cosmos 3 adapter serves only :class:`WorldActionModel`.)

    dt: seconds between a chunk's actions; steps: Euler steps per sample; seed: the
    sampler's seed (``reset`` returns to it); noise_scale: in [0, 1], the initial noise's
    scale.
    """

    config: ModelConfig
    domain: ModelDomain
    dt: float
    steps: int
    seed: int
    noise_scale: float

    def policy_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        """B observations -> B action chunks, as B calls of ``policy`` would give."""
        ...

    def forward_dynamics_batch(self, observations: Sequence[Observation],
                               actions: np.ndarray) -> list[dict[str, np.ndarray]]:
        """B observations + actions (B, T, D) -> B dicts camera -> uint8 (1, H, W, 3)."""
        ...

    def inverse_dynamics_batch(self, frames: Sequence[dict[str, np.ndarray]],
                               states: np.ndarray) -> np.ndarray:
        """B dicts camera -> uint8 (H + 1, h, w, 3) and states (B, S) -> actions (B, H, D)."""
        ...

    def reconstruct(self, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Frames through the model's autoencoder, camera -> uint8 (1, H, W, 3) at the input
        resolution: the best a predicted frame can be."""
        ...


def fake_obs(spec: ObservationSpec, prompt: str = "reach the red cube", seed: int = 0,
             timestamp: float = 0.0) -> Observation:
    """A random observation that satisfies ``spec``, for tests."""
    rng = np.random.default_rng(seed)
    images = {
        cam: rng.integers(0, 256, size=s.shape, dtype=np.uint8) for cam, s in spec.images.items()
    }
    low = spec.state.low if spec.state.low is not None else -1.0
    high = spec.state.high if spec.state.high is not None else 1.0
    state = rng.uniform(low, high, size=spec.state.shape).astype(spec.state.dtype)
    return Observation(images=images, state=state, prompt=prompt, timestamp=timestamp)


__all__ = [
    "ActionChunk",
    "ArraySpec",
    "BatchedWorldActionModel",
    "ModelConfig",
    "ModelDomain",
    "Observation",
    "ObservationSpec",
    "WorldActionModel",
    "fake_obs",
]
