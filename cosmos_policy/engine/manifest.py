"""The engine manifest: what an engine folder holds and what it was built for.

    <engine>/
      context.onnx denoise.onnx encode_frames.onnx decode_latents.onnx
      *.plan               native TensorRT engines (backend ``tensorrt`` only)
      manifest.json        this record

``manifest.json`` lists every graph's inputs and outputs (names, dtypes, static shapes), the
embodiment domain with its normalisation statistics, denoising steps, precision, opset, the
SHA-256 of every file and of the source checkpoint, the build target (GPU compute
capability, TensorRT version) and package versions. :func:`read_manifest` verifies all the
hashes and, given a request, that the engine is the one asked for; any mismatch is a
:class:`UserError` naming the fix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cosmos_policy.engine.graphs import GraphIO, TensorSpec
from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import sha256
from cosmos_policy.models.config import DomainSpec, WAMConfig

FORMAT = "cosmos-policy/engine"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "fp16", "bf16", "fp8")


@dataclass(frozen=True)
class EngineRequest:
    """What a caller wants from an engine; :meth:`EngineManifest.check` holds it to that.

    embodiment: embodiment name (a domain name or alias of the model).
    batch: observations per call. precision: one of ``PRECISIONS``.
    backend: ``onnxruntime`` or ``tensorrt`` (the artifacts the engine must carry).
    cameras / chunk: the shapes the caller will feed and expect; ``None`` accepts the model's.
    """

    embodiment: str
    batch: int = 1
    precision: str = "fp32"
    backend: str = "onnxruntime"
    cameras: tuple[str, ...] | None = None
    chunk: int | None = None

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise UserError(f"batch must be >= 1, got {self.batch}")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        if self.backend not in ("onnxruntime", "tensorrt"):
            raise UserError(f"unknown engine backend {self.backend!r}; valid: onnxruntime, "
                            "tensorrt")


@dataclass(frozen=True)
class EngineManifest:
    """The parsed ``manifest.json`` of an engine folder (see the module docstring)."""

    backend: str
    precision: str
    opset: int
    embodiment: str
    domain_index: int
    domain: DomainSpec
    config: WAMConfig
    batch: int
    steps: int
    model: dict[str, str]                 # path, sha256 (bundle manifest), weights_sha256
    graphs: dict[str, dict[str, Any]]     # name -> file, sha256, inputs, outputs
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> file, sha256
    target: dict[str, Any] = field(default_factory=dict)  # compute_capability, tensorrt
    versions: dict[str, str] = field(default_factory=dict)
    key: dict[str, Any] = field(default_factory=dict)     # the engine-cache key built for
    verification: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    noise_scale: float = 1.0  # the bundle's sampler.noise_scale (1.0: engines built before it)

    # Shapes ---------------------------------------------------------------------------
    @property
    def cameras(self) -> tuple[str, ...]:
        return self.config.cameras

    @property
    def chunk(self) -> int:
        return self.config.chunk

    def io(self, graph: str) -> GraphIO:
        g = self.graphs[graph]
        return GraphIO(tuple(TensorSpec.from_dict(s) for s in g["inputs"]),
                       tuple(TensorSpec.from_dict(s) for s in g["outputs"]))

    # Checks ---------------------------------------------------------------------------
    def check(self, request: EngineRequest, where: str = "engine") -> None:
        """Raise :class:`UserError` if this engine is not what ``request`` asks for."""
        rebuild = "rebuild it with `cosmos-policy engine build` for this request"
        if not (self.domain.matches(request.embodiment) or request.embodiment == self.embodiment):
            raise UserError(f"{where} was built for embodiment {self.embodiment!r}, not "
                            f"{request.embodiment!r}; {rebuild}")
        if request.batch != self.batch:
            raise UserError(f"{where} has static batch {self.batch}, the request needs "
                            f"{request.batch}; {rebuild}")
        if request.cameras is not None and tuple(request.cameras) != self.cameras:
            raise UserError(f"{where} takes cameras {list(self.cameras)}, the request has "
                            f"{list(request.cameras)}; {rebuild}")
        if request.chunk is not None and request.chunk != self.chunk:
            raise UserError(f"{where} predicts chunks of {self.chunk} actions, the request "
                            f"needs {request.chunk}; {rebuild}")
        if request.precision != self.precision:
            raise UserError(f"{where} is {self.precision}, the request is "
                            f"{request.precision}; {rebuild}")
        if request.backend == "tensorrt" and not self.plans:
            raise UserError(f"{where} holds no TensorRT plans; build one with "
                            "`cosmos-policy engine build --backend tensorrt`")

    # (De)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["domain"] = self.domain.to_dict()
        d["config"] = self.config.to_dict()
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> EngineManifest:
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{source}: engine format {d.get('format')} "
                            f"v{d.get('format_version')}, this cosmos-policy reads {FORMAT} "
                            f"v{FORMAT_VERSION}; rebuild it with `cosmos-policy engine build`")
        d = {k: v for k, v in d.items() if k not in ("format", "format_version")}
        try:
            d["domain"] = DomainSpec.from_dict(d["domain"])
            d["config"] = WAMConfig.from_dict(d["config"], source)
            return cls(**d)
        except (KeyError, TypeError) as exc:
            raise UserError(f"{source}: malformed engine manifest ({exc}); rebuild it with "
                            "`cosmos-policy engine build`") from exc


def write_manifest(root: Path, manifest: EngineManifest) -> Path:
    """Write ``manifest.json`` atomically; returns its path."""
    path = root / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    tmp.replace(path)
    return path


def file_entries(manifest: EngineManifest) -> dict[str, str]:
    """Every file the manifest vouches for -> its expected sha256."""
    out = {g["file"]: g["sha256"] for g in manifest.graphs.values()}
    out.update({p["file"]: p["sha256"] for p in manifest.plans.values()})
    return out


def read_manifest(path: str | Path, request: EngineRequest | None = None,
                  verify_hashes: bool = True) -> EngineManifest:
    """Read an engine folder's manifest, verify every file hash and (optionally) the request."""
    root = Path(path)
    if not (root / MANIFEST).is_file():
        raise UserError(f"{root} is not an engine folder (no {MANIFEST}); build one with "
                        "`cosmos-policy engine build --out DIR`")
    try:
        data = json.loads((root / MANIFEST).read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{root / MANIFEST} is not valid JSON ({exc}); rebuild the engine") \
            from exc
    manifest = EngineManifest.from_dict(data, str(root / MANIFEST))
    if verify_hashes:
        for name, expected in file_entries(manifest).items():
            if not (root / name).is_file():
                raise UserError(f"{root}: {name} is missing; rebuild the engine with "
                                "`cosmos-policy engine build`")
            if sha256(root / name) != expected:
                raise UserError(f"{root}: {name} does not match its sha256 in {MANIFEST} "
                                "(edited or corrupt); rebuild the engine with "
                                "`cosmos-policy engine build`")
    if request is not None:
        manifest.check(request, where=f"engine {root}")
    return manifest
