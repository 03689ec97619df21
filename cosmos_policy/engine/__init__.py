"""Engines: static-shape ONNX export, TensorRT plans, backends, manifests, parity, cache.

``export_engine(bundle, request, out)`` writes an engine folder; ``EngineModel(folder,
backend)`` (a :class:`cosmos_policy.policy.Policy` on that backend) serves it behind the
WorldActionModel contract; ``default_engine()`` gives the
ONNX Runtime engine of the shipped model, built into the user cache on first use. See
docs/ENGINES.md. Heavy modules import lazily so ``import cosmos_policy.engine`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EngineRequest": "cosmos_policy.engine.manifest",
    "EngineManifest": "cosmos_policy.engine.manifest",
    "read_manifest": "cosmos_policy.engine.manifest",
    "export_engine": "cosmos_policy.engine.export",
    "EngineModel": "cosmos_policy.policy.compact",
    "Backend": "cosmos_policy.engine.backends",
    "BACKENDS": "cosmos_policy.engine.backends",
    "available_backends": "cosmos_policy.engine.backends",
    "EngineKey": "cosmos_policy.engine.cache",
    "get_engine": "cosmos_policy.engine.cache",
    "default_engine": "cosmos_policy.engine.default",
    "verify_engine": "cosmos_policy.engine.verify",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cosmos_policy.engine' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
