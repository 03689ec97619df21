"""A tiny randomly initialised model bundle, for engine tests and quick experiments."""

from __future__ import annotations

from pathlib import Path

import torch

from cosmos_policy.models.checkpoint import save_bundle
from cosmos_policy.models.config import DomainSpec, WAMConfig
from cosmos_policy.models.network import WorldActionNet

#: Small enough to export and run in well under a second; real MiniLM width for prompts.
TINY = WAMConfig(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2, image_size=32,
                 latent_channels=4, ae_downsample=4, ae_width=8, patch=2, chunk=4, horizon=4,
                 max_state_dim=8, max_action_dim=10, n_domains=2, max_prompt_tokens=12)


def perturbed(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``net`` in eval mode with every parameter nudged by seeded noise (0.05), so its
    zero-initialised output layers do not hide a wrong path."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return net.eval()


def tiny_bundle(path: str | Path, seed: int = 0, config: WAMConfig = TINY) -> Path:
    """Save a random two-domain bundle (``franka`` state 8, ``ur5e`` state 7) at ``path``.

    Every weight is perturbed, so zero-initialised output layers do not hide a wrong path.
    """
    torch.manual_seed(seed)
    net = perturbed(WorldActionNet(config), seed)
    domains = [
        DomainSpec("franka", 8, 10, tuple(0.1 * i for i in range(8)), (0.5,) * 8,
                   (0.2,) * 10, (1.5,) * 10),
        DomainSpec("ur5e", 7, 10, (0.0,) * 7, (1.0,) * 7, (0.0,) * 10, (0.5,) * 10),
    ][: config.n_domains]
    return save_bundle(path, net, domains)
