"""The one sampler: seeded noise and fixed-step Euler integration, for every backend.

Noise comes from a ``torch.Generator`` (actions first, then latents, both drawn in every
mode, so a seed gives the same stream on every backend), t = i / steps, ``x += v / steps``
on the noisy tokens only (actions masked to the domain's real dimensions), condition tokens
held at t = 1 (see :mod:`cosmos_policy.models.flow` for the modes). The velocity comes from
a step function, usually a backend's ``denoise`` graph; a backend may instead offer the
whole loop (``denoise_loop``: native TensorRT replays it as one CUDA graph).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cosmos_policy.models.flow import Mode

#: (x_actions, x_latents, t_actions, t_latents) -> (v_actions, v_latents)
StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                  tuple[np.ndarray, np.ndarray]]


def draw_noise(generator: torch.Generator, action_shape: tuple[int, ...],
               latent_shape: tuple[int, ...], action_mask: np.ndarray, scale: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Initial noise (actions (B, T, A) masked by action_mask (B, A), then latents).

    scale: multiplies the noise (1: a sample of the learned distribution; 0: the
    deterministic path from the noise mean, near the average outcome; the draws are the
    same either way, so the generator advances identically).
    """
    x_a = torch.randn(action_shape, generator=generator) * torch.from_numpy(action_mask)[:, None]
    x_l = torch.randn(latent_shape, generator=generator)
    return (x_a * scale).numpy(), (x_l * scale).numpy()


def euler_sample(step: StepFn, x_a: np.ndarray, x_l: np.ndarray, mode: Mode,
                 action_mask: np.ndarray, steps: int, actions: np.ndarray | None = None,
                 future: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integrate from noise (t = 0) to data (t = 1) in ``steps`` Euler steps.

    x_a: (B, T, A) and x_l: (B, V, C, s, s) initial noise (:func:`draw_noise`).
    actions: (B, T, A) normalised clean actions (forward dynamics).
    future: (B, V, C, s, s) normalised clean latents (inverse dynamics).
    Returns (actions, latents); condition tokens come back unchanged. The loop has a fixed
    trip count, as an exported engine runs it.
    """
    b = x_a.shape[0]
    mask = action_mask[:, None, :].astype(np.float32)
    if mode == Mode.FORWARD:
        if actions is None:
            raise ValueError("forward dynamics needs actions")
        x_a = (actions * mask).astype(np.float32)
    if mode == Mode.INVERSE:
        if future is None:
            raise ValueError("inverse dynamics needs the future latents")
        x_l = future.astype(np.float32)
    one = np.ones(b, np.float32)
    h = np.float32(1.0 / steps)
    for i in range(steps):
        t = np.full(b, i / steps, np.float32)
        v_a, v_l = step(x_a, x_l, one if mode == Mode.FORWARD else t,
                        one if mode == Mode.INVERSE else t)
        if mode != Mode.FORWARD:
            x_a = x_a + v_a * h * mask
        if mode != Mode.INVERSE:
            x_l = x_l + v_l * h
    return x_a, x_l
