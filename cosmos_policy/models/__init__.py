"""The compact mixture-of-transformers world-action model (torch) and its training.

Networks and checkpoints only: ``cosmos_policy.policy.load_model(path)`` serves a bundle
behind the WorldActionModel contract; ``WorldActionNet`` is the network, with
``encode_context`` / ``denoise_step`` as the two export seams. See docs/MODEL.md. Heavy
modules import lazily so ``import cosmos_policy.models`` stays cheap.
"""

from __future__ import annotations

from cosmos_policy.lazy import lazy_exports

_EXPORTS = {
    "WAMConfig": "cosmos_policy.models.config",
    "DomainSpec": "cosmos_policy.models.config",
    "WorldActionNet": "cosmos_policy.models.network",
    "FrameAutoencoder": "cosmos_policy.models.autoencoder",
    "Mode": "cosmos_policy.models.flow",
    "PromptEncoder": "cosmos_policy.models.text",
    "save_bundle": "cosmos_policy.models.checkpoint",
    "load_bundle": "cosmos_policy.models.checkpoint",
    "default_model_path": "cosmos_policy.models.checkpoint",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
