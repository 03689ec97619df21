"""The engine cache: build once per (model, embodiment, shapes, precision, target), verify,
reuse; rebuild, never crash, when what is stored no longer fits.

An entry lives at ``<cache>/engines/<embodiment>-<backend>-<precision>-b<batch>-<digest>``
where the digest covers the whole :class:`EngineKey`: the source checkpoint's hash, the
embodiment, the static shapes, precision, denoising steps, opset, and for TensorRT the GPU
compute capability and TensorRT version (plans are tied to both). On lookup the entry's
manifest must carry exactly that key, every file must match its hash and the parity check
must have passed; otherwise the entry is rebuilt in place (the reason is printed).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cosmos_policy import __version__
from cosmos_policy.engine.manifest import (
    FORMAT_VERSION,
    EngineRequest,
    read_manifest,
    write_manifest,
)
from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import sha256
from cosmos_policy.paths import cache_dir


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine's artifacts depend on; equal keys mean an interchangeable engine."""

    model_sha256: str
    embodiment: str
    batch: int
    cameras: tuple[str, ...]
    chunk: int
    precision: str
    backend: str
    steps: int
    opset: int
    compute_capability: str | None = None
    tensorrt: str | None = None
    cosmos_policy: str = __version__
    engine_format: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cameras"] = list(self.cameras)
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def folder_name(self) -> str:
        return f"{self.embodiment}-{self.backend}-{self.precision}-b{self.batch}-{self.digest()}"


def tensorrt_target() -> dict[str, str]:
    """The TensorRT build target of this machine (compute capability, TensorRT version)."""
    from cosmos_policy.engine.tensorrt_build import build_target

    return build_target()


def engine_key(bundle: str | Path, request: EngineRequest, steps: int = 10,
               opset: int = 17) -> EngineKey:
    """The cache key of ``request`` for the model bundle at ``bundle``."""
    from cosmos_policy.models.checkpoint import read_manifest as read_bundle_manifest
    from cosmos_policy.models.config import WAMConfig

    root = Path(bundle)
    read_bundle_manifest(root)  # verifies the bundle's own hashes first
    config = WAMConfig.from_dict(json.loads((root / "config.json").read_text()))
    key = EngineKey(model_sha256=sha256(root / "manifest.json"), embodiment=request.embodiment,
                    batch=request.batch, cameras=config.cameras, chunk=config.chunk,
                    precision=request.precision, backend=request.backend, steps=steps,
                    opset=opset)
    if request.backend == "tensorrt":
        target = tensorrt_target()
        key = replace(key, compute_capability=target["compute_capability"],
                      tensorrt=target["tensorrt"])
    return key


def _stale_reason(folder: Path, key: EngineKey, request: EngineRequest,
                  verify: bool) -> str | None:
    """Why the entry at ``folder`` cannot serve ``key`` (None if it can)."""
    try:
        manifest = read_manifest(folder, request)
    except UserError as exc:
        return str(exc)
    if manifest.key != key.to_dict():
        diff = sorted(k for k, v in key.to_dict().items() if manifest.key.get(k) != v)
        return f"it was built for a different key ({', '.join(diff)} differ)"
    if verify and not manifest.verification.get("passed"):
        return "it never passed the parity check"
    return None


def get_engine(bundle: str | Path, request: EngineRequest, *, steps: int = 10,
               root: str | Path | None = None, verify: bool = True,
               progress: bool = True) -> Path:
    """The cached engine folder for (bundle, request), building and verifying it if needed.

    root: the cache's engine folder (default ``<user cache>/engines``). verify: run the
    parity check against the torch model after building (a failure is a bug: it raises).
    """
    from cosmos_policy.engine.export import export_engine

    key = engine_key(bundle, request, steps)
    base = Path(root) if root is not None else cache_dir() / "engines"
    folder = base / key.folder_name()
    base.mkdir(parents=True, exist_ok=True)
    # One builder per key at a time: evaluation, labelling and Ray workers start together on
    # a fresh cache, and a second build must not replace the folder the first is reading.
    with _locked(base / f".{key.folder_name()}.lock"):
        if folder.exists():
            reason = _stale_reason(folder, key, request, verify)
            if reason is None:
                return folder
            print(f"cosmos-policy: rebuilding engine {folder.name}: {reason}", file=sys.stderr)
        tmp = base / f".{key.folder_name()}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        manifest = export_engine(bundle, request, tmp, steps=steps, progress=progress,
                                 key=key.to_dict())
        if verify:
            from cosmos_policy.policy.verify import verify_engine

            report = verify_engine(tmp, backend="auto", bundle=bundle)
            if not report.passed:
                raise RuntimeError(f"engine for {request} failed its parity check:\n"
                                   f"{report.table()}")
            write_manifest(tmp, replace(manifest, verification=report.summary()))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.replace(folder)
    return folder


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed) for the ``with`` body."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
