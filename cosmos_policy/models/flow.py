"""Rectified flow over action and future-latent tokens; the three modes are only masks.

Convention: ``x_t = t * x_data + (1 - t) * noise``, the network predicts the velocity
``x_data - noise`` and sampling integrates t from 0 (noise) to 1 (data) with fixed Euler
steps. A token with t = 1 is clean: a condition.

| mode | action tokens | future-latent tokens |
| --- | --- | --- |
| policy | noisy (denoised) | noisy (denoised) |
| forward dynamics | clean (given) | noisy (denoised) |
| inverse dynamics | noisy (denoised) | clean (given: frame t + H) |

Training samples a mode per example; the loss covers only the noisy tokens. Sampling (the
one seeded Euler sampler every backend shares) is :mod:`cosmos_policy.policy.sampler`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch
from torch import Tensor

from cosmos_policy.errors import UserError
from cosmos_policy.models.network import WorldActionNet


class Mode(IntEnum):
    POLICY = 0
    FORWARD = 1
    INVERSE = 2


@dataclass
class FlowBatch:
    """One training batch, already normalised and padded.

    latents: (B, V, C, s, s) current frames; future: (B, V, C, s, s) frames H steps ahead.
    prompt_emb: (B, P, text_dim); prompt_mask: (B, P) float.
    state: (B, max_state_dim); actions: (B, T, max_action_dim); action_mask: (B, max_action_dim)
    float, 1 on the domain's real action dims; domain: (B,) int64; mode: (B,) int64 (Mode).
    """

    latents: Tensor
    future: Tensor
    prompt_emb: Tensor
    prompt_mask: Tensor
    state: Tensor
    actions: Tensor
    action_mask: Tensor
    domain: Tensor
    mode: Tensor


def mode_times(mode: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Per-example flow times of action and latent tokens: t where noisy, 1 where clean."""
    one = torch.ones_like(t)
    t_actions = torch.where(mode == Mode.FORWARD, one, t)
    t_latents = torch.where(mode == Mode.INVERSE, one, t)
    return t_actions, t_latents


def flow_loss(net: WorldActionNet, batch: FlowBatch,
              generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
    """Velocity-regression loss on noisy tokens only; returns (loss, per-mode metrics)."""
    b = batch.actions.shape[0]
    t = torch.rand(b, generator=generator)
    t_a, t_l = mode_times(batch.mode, t)
    amask = batch.action_mask[:, None, :]
    noise_a = torch.randn(batch.actions.shape, generator=generator) * amask
    noise_l = torch.randn(batch.future.shape, generator=generator)
    x_a = t_a[:, None, None] * batch.actions + (1 - t_a[:, None, None]) * noise_a
    x_l = t_l[:, None, None, None, None] * batch.future + (
        1 - t_l[:, None, None, None, None]) * noise_l
    kv, key_bias = net.encode_context(batch.latents, batch.prompt_emb, batch.prompt_mask,
                                      batch.state, batch.domain)
    v_a, v_l = net.denoise_step(kv, key_bias, x_a, x_l, t_a, t_l, batch.domain)
    err_a = ((v_a - (batch.actions - noise_a)) ** 2 * amask).sum((1, 2)) / (
        amask.sum((1, 2)) * batch.actions.shape[1])
    err_l = ((v_l - (batch.future - noise_l)) ** 2).flatten(1).mean(1)
    w_a = (batch.mode != Mode.FORWARD).float()
    w_l = (batch.mode != Mode.INVERSE).float()
    loss = ((w_a * err_a).sum() + (w_l * err_l).sum()) / b
    metrics: dict[str, float] = {}
    with torch.no_grad():
        for m in Mode:
            sel = batch.mode == m
            if sel.any():
                name = m.name.lower()
                if m != Mode.FORWARD:
                    metrics[f"{name}/action"] = float(err_a[sel].mean())
                if m != Mode.INVERSE:
                    metrics[f"{name}/latent"] = float(err_l[sel].mean())
    return loss, metrics


#: the largest prompt guidance accepted (far past any useful one; guards against typos)
MAX_GUIDANCE = 20.0


def check_guidance(value: float, name: str = "guidance") -> float:
    """``value`` as a float, or a :class:`UserError` naming ``name`` outside [0, MAX_GUIDANCE]
    (1: the prompted model alone; 0: the model without its prompt; above 1: classifier-free
    guidance towards the prompt)."""
    if not 0.0 <= value <= MAX_GUIDANCE:  # NaN fails too
        raise UserError(f"{name} must be in [0, {MAX_GUIDANCE:g}], got {value}")
    return float(value)


def check_noise_scale(value: float, name: str = "noise_scale") -> float:
    """``value`` as a float, or a :class:`UserError` naming ``name`` when it is outside [0, 1]
    (the range the sampler's ``noise_scale`` takes, :mod:`cosmos_policy.policy.sampler`)."""
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{name} must be in [0, 1], got {value}")
    return float(value)
