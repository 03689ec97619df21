"""A tiny, randomly initialised Cosmos 3 *policy* checkpoint built locally, for CPU tests.

The tiny diffusers pipeline of :mod:`cosmos3_testing` (real components, toy sizes) saved in
diffusers layout, plus the ``policy_config.json`` that marks the folder as a policy
checkpoint: joint_pos 8-D with the state row, a small chunk and canvas so a call takes a
fraction of a second. Nothing comes from a hub.
"""

from __future__ import annotations

from pathlib import Path

from cosmos_policy.models.cosmos3_policy import PolicyConfig, write_policy_config

TINY_POLICY = PolicyConfig(chunk_size=4, canvas=(48, 64), resolution_tier=256, steps=2,
                           guidance_scale=1.0)


def tiny_policy_checkpoint(path: str | Path, seed: int = 0,
                           config: PolicyConfig = TINY_POLICY) -> Path:
    """Save a tiny pipeline to ``path`` (diffusers layout) with its ``policy_config.json``."""
    from cosmos_policy.models.cosmos3_testing import tiny_pipeline

    root = Path(path)
    tiny_pipeline(seed).save_pretrained(str(root))
    write_policy_config(root, config)
    return root
