"""The one model seam: a :class:`Policy` is a model backend plus transforms.

Every model kind (the compact WAM on torch, ONNX Runtime or TensorRT; Cosmos 3 through
diffusers) is served through the same pre- and post-processing steps, and every command
and the ROS 2 node resolve ``--model`` / ``--backend`` through :mod:`.registry`.

| module | holds |
| --- | --- |
| :mod:`.transforms` | frame resize/restore, normalisation, batch padding |
| :mod:`.sampler` | the seeded fixed-step Euler sampler (one, for every backend) |
| :mod:`.wrapper` | :class:`Policy`: a backend's graphs + transforms + sampler |
| :mod:`.compact` | ``load_model`` (bundle, torch), ``EngineModel`` (engine folder) |

Heavy modules import lazily so ``import cosmos_policy.policy`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Policy": "cosmos_policy.policy.wrapper",
    "CompactWAM": "cosmos_policy.policy.compact",
    "EngineModel": "cosmos_policy.policy.compact",
    "load_model": "cosmos_policy.policy.compact",
    "resolve_domain": "cosmos_policy.policy.compact",
    "draw_noise": "cosmos_policy.policy.sampler",
    "euler_sample": "cosmos_policy.policy.sampler",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cosmos_policy.policy' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
