"""Engine backends behind one small contract: ``load(root, manifest)`` then ``run(graph, feeds)``.

| name | runs | needs |
| --- | --- | --- |
| ``torch`` | the source checkpoint in torch eager (the reference) | the bundle the engine names |
| (:class:`NetBackend`) | an in-memory network in torch eager, any batch | a loaded bundle |
| ``onnxruntime`` | the ONNX graphs, best execution provider available | onnxruntime |
| ``onnxruntime-cpu`` / ``-cuda`` / ``-tensorrt`` | one execution provider, forced | that provider |
| ``tensorrt`` | the serialized TensorRT plans, native API | the ``tensorrt`` extra, a GPU |

``run`` takes and returns numpy arrays keyed by the names in the manifest. The one
:class:`~cosmos_policy.policy.wrapper.Policy` wraps any of them (resize, prompts,
normalisation, sampler); the parity check composes them; none subclasses another.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from cosmos_policy.engine.manifest import EngineManifest
from cosmos_policy.errors import UnknownNameError, UserError

if TYPE_CHECKING:
    from cosmos_policy.models.network import WorldActionNet

_EP = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
       "tensorrt": "TensorrtExecutionProvider"}


@runtime_checkable
class Backend(Protocol):
    """What an engine backend does: load an engine folder, run one graph on numpy feeds."""

    name: str

    def load(self, root: Path, manifest: EngineManifest) -> None:
        """Prepare every graph of the engine at ``root`` (raises UserError if it cannot)."""
        ...

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run graph ``graph`` (a name of ``GRAPHS``) once; outputs by name."""
        ...


#: The feed of each graph whose first axis is the batch (context_kv has it third).
_BATCH_FEED = {"context": "images", "denoise": "key_bias", "encode_frames": "images",
               "decode_latents": "latents"}


class NetBackend:
    """The four graphs on an in-memory network in torch eager, at whatever batch comes in.

    The same graph modules that are exported (:func:`~cosmos_policy.engine.graphs.graph_modules`)
    run here, so torch is one backend among the others; it needs no engine folder, which
    is how ``load_model`` serves a bundle directly.
    """

    name = "torch"

    def __init__(self, net: WorldActionNet, domain_index: int) -> None:
        self.net, self.domain_index = net.eval(), domain_index
        self._by_batch: dict[int, tuple[dict, dict]] = {}

    def load(self, root: Path, manifest: EngineManifest) -> None:
        """Nothing to load: the network is given at construction."""

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from cosmos_policy.engine.graphs import graph_io, graph_modules, run_torch

        b = int(feeds[_BATCH_FEED[graph]].shape[0])
        if b not in self._by_batch:  # the domain constant has the batch's shape
            self._by_batch[b] = (graph_modules(self.net, self.domain_index, b),
                                 graph_io(self.net.config, b))
        modules, io = self._by_batch[b]
        return run_torch(modules[graph], io[graph], feeds)


class TorchBackend:
    """The reference for an engine folder: its source checkpoint as a :class:`NetBackend`."""

    name = "torch"

    def load(self, root: Path, manifest: EngineManifest) -> None:
        from cosmos_policy.models.checkpoint import load_bundle, sha256

        bundle = Path(manifest.model["path"])
        if not (bundle / "manifest.json").is_file():
            raise UserError(f"the torch reference needs the source model {bundle}, which is "
                            "gone; pass --model to point at it")
        if sha256(bundle / "manifest.json") != manifest.model["sha256"]:
            raise UserError(f"the model at {bundle} changed since engine {root} was built; "
                            "rebuild the engine with `cosmos-policy engine build`")
        net, _, _ = load_bundle(bundle)
        self._net = NetBackend(net, manifest.domain_index)

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._net.run(graph, feeds)


def session_options(threads: int | None = None, spin: bool = True) -> object:
    """ONNX Runtime session options tuned for small static graphs at batch 1.

    Full graph optimisation (constant folding, attention/GELU/LayerNorm fusions), sequential
    execution, one intra-op pool of ``threads`` (default: every core this process may use);
    spinning threads trade idle CPU for latency between the many short kernels.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.log_severity_level = 3
    return opts


def _provider_options(provider: str, root: Path, manifest: EngineManifest) -> dict[str, str]:
    if provider == _EP["tensorrt"]:
        cache = root / "ort_trt_cache"
        return {"trt_fp16_enable": str(manifest.precision == "fp16"),
                "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}
    return {}


class OnnxRuntimeBackend:
    """The ONNX graphs in ONNX Runtime; ``provider``: ``auto``, ``cpu``, ``cuda`` or ``tensorrt``.

    ``auto`` takes the TensorRT execution provider, then CUDA, then CPU, whichever this
    onnxruntime build offers. Reduced precision (fp16) is a TensorRT-provider setting; an fp16
    engine is refused where only the CPU provider exists.
    """

    def __init__(self, provider: str = "auto", threads: int | None = None,
                 spin: bool = True) -> None:
        if provider not in ("auto", *_EP):
            raise UnknownNameError("onnxruntime provider", provider, ["auto", *_EP])
        self.provider, self.threads, self.spin = provider, threads, spin
        self.name = "onnxruntime" if provider == "auto" else f"onnxruntime-{provider}"

    def providers(self) -> list[str]:
        """The execution providers this backend will use, best first."""
        import onnxruntime as ort

        have = ort.get_available_providers()
        if self.provider == "auto":
            return [p for p in (_EP["tensorrt"], _EP["cuda"], _EP["cpu"]) if p in have]
        want = _EP[self.provider]
        if want not in have:
            raise UserError(f"this onnxruntime has no {want} (has {', '.join(have)}); install "
                            "onnxruntime-gpu for CUDA/TensorRT or use --backend onnxruntime-cpu")
        return [want] if want == _EP["cpu"] else [want, _EP["cpu"]]

    def load(self, root: Path, manifest: EngineManifest) -> None:
        if importlib.util.find_spec("onnxruntime") is None:
            raise UserError("onnxruntime is not installed; pip install onnxruntime")
        import onnxruntime as ort

        providers = self.providers()
        if manifest.precision != "fp32" and _EP["tensorrt"] not in providers:
            raise UserError(f"engine {root} is {manifest.precision}, which onnxruntime runs only "
                            "through the TensorRT execution provider; build an fp32 engine")
        # One thread at batch 1: these graphs are many small kernels and a second thread
        # costs more in hand-offs than it gains (measured: docs/ENGINES.md).
        threads = self.threads or (1 if manifest.batch == 1 else None)
        opts = session_options(threads, self.spin)
        self.sessions = {}
        for graph, entry in manifest.graphs.items():
            chosen = [(p, _provider_options(p, root, manifest)) for p in providers]
            self.sessions[graph] = ort.InferenceSession(str(root / entry["file"]), opts,
                                                        providers=chosen)
        self.active = self.sessions["denoise"].get_providers()

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sess = self.sessions[graph]
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds), strict=True))


def _tensorrt() -> Backend:
    from cosmos_policy.engine.tensorrt_run import TensorRTBackend

    return TensorRTBackend()


BACKENDS: dict[str, Callable[[], Backend]] = {
    "torch": TorchBackend,
    "onnxruntime": OnnxRuntimeBackend,
    "onnxruntime-cpu": lambda: OnnxRuntimeBackend("cpu"),
    "onnxruntime-cuda": lambda: OnnxRuntimeBackend("cuda"),
    "onnxruntime-tensorrt": lambda: OnnxRuntimeBackend("tensorrt"),
    "tensorrt": _tensorrt,
}


def tensorrt_available() -> bool:
    """True where the tensorrt package imports and torch sees a CUDA GPU."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    import torch

    return torch.cuda.is_available()


def available_backends() -> list[str]:
    """Backend names whose packages and hardware are present here."""
    out = ["torch"]
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        have = ort.get_available_providers()
        out += ["onnxruntime"] + [f"onnxruntime-{k}" for k, p in _EP.items() if p in have]
    if tensorrt_available():
        out.append("tensorrt")
    return out


def select_backend(name: str, manifest: EngineManifest) -> str:
    """Resolve ``auto``: native TensorRT if the engine has plans and it runs here, else
    onnxruntime (which picks its best provider). Any other name is checked and returned."""
    if name == "auto":
        return "tensorrt" if manifest.plans and tensorrt_available() else "onnxruntime"
    if name not in BACKENDS:
        raise UnknownNameError("engine backend", name, [*BACKENDS, "auto"])
    if name == "tensorrt" and not tensorrt_available():
        raise UserError("the tensorrt backend needs a CUDA GPU and the tensorrt package; "
                        "pip install 'cosmos-policy[tensorrt]' or use --backend onnxruntime")
    if name == "tensorrt" and not manifest.plans:
        raise UserError("this engine has no TensorRT plans; rebuild it with "
                        "`cosmos-policy engine build --backend tensorrt`")
    return name


def make_backend(name: str, root: Path, manifest: EngineManifest) -> Backend:
    """Select, construct and load a backend for the engine at ``root``."""
    backend = BACKENDS[select_backend(name, manifest)]()
    backend.load(root, manifest)
    return backend
