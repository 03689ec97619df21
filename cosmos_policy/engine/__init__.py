"""Engines: static-shape ONNX export, TensorRT plans, backends and manifests.

``export_engine(bundle, request, out)`` writes an engine folder; a backend runs its graphs.
The layer above (:mod:`cosmos_policy.policy`) serves an engine behind the model contract
(``EngineModel``), keeps the engine cache (``get_engine``, ``default_engine``) and checks
engines against the torch reference (``verify_engine``). See docs/ENGINES.md. Heavy modules
import lazily so ``import cosmos_policy.engine`` stays cheap.
"""

from __future__ import annotations

from cosmos_policy.lazy import lazy_exports

_EXPORTS = {
    "EngineRequest": "cosmos_policy.engine.manifest",
    "EngineManifest": "cosmos_policy.engine.manifest",
    "read_manifest": "cosmos_policy.engine.manifest",
    "export_engine": "cosmos_policy.engine.export",
    "Backend": "cosmos_policy.engine.backends",
    "BACKENDS": "cosmos_policy.engine.backends",
    "available_backends": "cosmos_policy.engine.backends",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
