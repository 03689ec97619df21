"""Input checks shared by every implementation of the compact model's modes (torch
:class:`~cosmos_policy.policy.compact.CompactWAM` and the engine-backed ``EngineModel``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosmos_policy.errors import SpecError, UserError


def forward_actions(config, domain, actions: np.ndarray, n: int) -> np.ndarray:
    """actions -> float32 (n, chunk, action_dim), or SpecError naming the expected shape."""
    actions = np.asarray(actions, dtype=np.float32)
    if actions.shape != (n, config.chunk, domain.action_dim):
        raise SpecError(f"actions: expected shape ({config.chunk}, {domain.action_dim}) per "
                        f"observation, got {actions.shape[1:]}")
    return actions


def check_inverse_frames(config, frames: Sequence[dict[str, np.ndarray]]) -> None:
    """Inverse dynamics needs chunk == horizon and exactly horizon + 1 frames per camera."""
    if config.chunk != config.horizon:
        raise UserError(f"this model predicts {config.chunk} actions over {config.horizon} "
                        "frames; inverse dynamics needs a model trained with chunk == horizon")
    for f in frames:
        for cam in config.cameras:
            if cam in f and np.asarray(f[cam]).shape[0] != config.horizon + 1:
                raise SpecError(f"frames[{cam!r}]: expected {config.horizon + 1} frames "
                                f"(t..t+{config.horizon}), got {np.asarray(f[cam]).shape[0]}")
