"""The engine the runtime uses when nothing else is named: ONNX Runtime on the shipped model.

``default_engine()`` finds the shipped bundle (``engines/default/``), builds its ONNX engine
into the user cache on first use (keyed and parity-checked, :mod:`cosmos_policy.policy.cache`)
and returns it as an :class:`EngineModel`. Later calls reuse the cached engine.
"""

from __future__ import annotations

import json
from pathlib import Path

from cosmos_policy.engine.manifest import EngineRequest
from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import default_model_path
from cosmos_policy.policy.cache import get_engine
from cosmos_policy.policy.compact import EngineModel


def resolve_model(model: str | Path | None) -> Path:
    """A bundle path from ``None``/``"default"`` (the shipped model) or a folder."""
    return default_model_path() if model in (None, "default") else Path(model)


def only_domain(bundle: Path) -> str:
    """The single embodiment domain of ``bundle`` (UserError if there are several)."""
    table = json.loads((bundle / "domains.json").read_text())
    if len(table) != 1:
        raise UserError(f"the model at {bundle} serves {[d['name'] for d in table]}; "
                        "pass --embodiment to choose one")
    return table[0]["name"]


def default_engine_path(embodiment: str | None = None, *, model: str | Path | None = None,
                        batch: int = 1, steps: int = 10, cache: str | Path | None = None,
                        progress: bool = True) -> Path:
    """The cached, verified ONNX Runtime engine folder of ``model`` (default: shipped)."""
    bundle = resolve_model(model)
    request = EngineRequest(embodiment or only_domain(bundle), batch=batch)
    return get_engine(bundle, request, steps=steps, root=cache, progress=progress)


def default_engine(embodiment: str | None = None, *, model: str | Path | None = None,
                   backend: str = "onnxruntime", batch: int = 1, steps: int = 10,
                   cache: str | Path | None = None, **kwargs: object) -> EngineModel:
    """The runtime's default model: the shipped bundle's ONNX engine as an EngineModel.

    kwargs go to :class:`EngineModel` (seed, dt, return_future_frames, prompts).
    """
    path = default_engine_path(embodiment, model=model, batch=batch, steps=steps, cache=cache)
    from cosmos_policy.engine.manifest import read_manifest

    request = EngineRequest(read_manifest(path, verify_hashes=False).embodiment, batch=batch)
    return EngineModel(path, backend, request=request, steps=steps, **kwargs)  # type: ignore[arg-type]
