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
| :mod:`.cache` | engines built once per key, verified, shared between processes |
| :mod:`.default` | ``default_engine``: the shipped model's engine from the cache |
| :mod:`.verify` | an engine against its torch source (``verify_engine``) |
| :mod:`.registry` | every ``--model`` / ``--backend`` spelling, for every command |
| :mod:`.stand_ins` | ``random``: a seeded stand-in; ``warm_up`` |
| :mod:`.bench` | torch eager vs ONNX Runtime latency (``cosmos-policy bench``) |

Heavy modules import lazily so ``import cosmos_policy.policy`` stays cheap.
"""

from __future__ import annotations

from cosmos_policy.lazy import lazy_exports

_EXPORTS = {
    "Policy": "cosmos_policy.policy.wrapper",
    "CompactWAM": "cosmos_policy.policy.compact",
    "EngineModel": "cosmos_policy.policy.compact",
    "load_model": "cosmos_policy.policy.compact",
    "resolve_domain": "cosmos_policy.models.domains",
    "EngineKey": "cosmos_policy.policy.cache",
    "get_engine": "cosmos_policy.policy.cache",
    "default_engine": "cosmos_policy.policy.default",
    "verify_engine": "cosmos_policy.policy.verify",
    "draw_noise": "cosmos_policy.policy.sampler",
    "euler_sample": "cosmos_policy.policy.sampler",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
