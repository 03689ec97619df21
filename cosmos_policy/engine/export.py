"""Export a model bundle to an engine folder: static-shape ONNX graphs plus a manifest.

One engine = (model bundle, embodiment domain, batch, precision). Cameras and chunk length
come from the model's config; a request for others is refused, since the graphs are static.
With ``backend="tensorrt"`` the ONNX graphs are also compiled to serialized TensorRT plans
(:mod:`cosmos_policy.engine.tensorrt_build`), which needs a GPU and the ``tensorrt`` extra.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from cosmos_policy import __version__
from cosmos_policy.engine.graphs import GRAPHS, graph_io, graph_modules, random_feeds
from cosmos_policy.engine.manifest import EngineManifest, EngineRequest, write_manifest
from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import load_bundle, sampler_noise_scale, sha256
from cosmos_policy.models.domains import resolve_domain

OPSET = 17


def package_versions() -> dict[str, str]:
    """Versions of the packages an engine depends on (those importable here)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"cosmos_policy": __version__, "torch": torch.__version__}
    for pkg in ("onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def _export_graph(module: torch.nn.Module, name: str, io, path: Path, opset: int) -> None:
    import onnx

    feeds = random_feeds(io, seed=0)
    args = tuple(torch.from_numpy(feeds[s.name]) for s in io.inputs)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter about constants and deprecations
        torch.onnx.export(module, args, str(path), input_names=[s.name for s in io.inputs],
                          output_names=[s.name for s in io.outputs], opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    got = [i.name for i in model.graph.input]
    if got != [s.name for s in io.inputs]:
        raise RuntimeError(f"{name}: exported inputs {got} differ from the graph spec")


def export_engine(bundle: str | Path, request: EngineRequest, out: str | Path, *,
                  steps: int = 10, opset: int = OPSET, progress: bool = True,
                  key: dict | None = None) -> EngineManifest:
    """Export ``bundle`` for ``request`` into the folder ``out``; returns the manifest written.

    steps: the denoising steps the engine is verified and run with (the loop is outside the
    graphs). key: the engine-cache key this build answers, recorded in the manifest.
    """
    from tqdm import tqdm

    if steps < 1:
        raise UserError(f"steps must be >= 1, got {steps}")
    bundle = Path(bundle)
    net, domains, bundle_manifest = load_bundle(bundle)
    c = net.config
    domain_index = resolve_domain(domains, request.embodiment)[0]
    if request.cameras is not None and tuple(request.cameras) != c.cameras:
        raise UserError(f"the model takes cameras {list(c.cameras)} in that order, not "
                        f"{list(request.cameras)}; pass --cameras {','.join(c.cameras)}")
    if request.chunk is not None and request.chunk != c.chunk:
        raise UserError(f"the model predicts chunks of {c.chunk} actions, not {request.chunk}; "
                        f"pass --chunk {c.chunk} or train a model with that chunk")
    if request.backend == "onnxruntime" and request.precision not in ("fp32", "fp16"):
        raise UserError(f"precision {request.precision} needs the tensorrt backend; use "
                        "--backend tensorrt or --precision fp32")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    ios = graph_io(c, request.batch)
    modules = graph_modules(net, domain_index, request.batch)
    graphs = {}
    bar = tqdm(GRAPHS, desc="export onnx", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        path = root / f"{name}.onnx"
        _export_graph(modules[name], name, ios[name], path, opset)
        graphs[name] = {"file": path.name, "sha256": sha256(path),
                        "inputs": [s.to_dict() for s in ios[name].inputs],
                        "outputs": [s.to_dict() for s in ios[name].outputs]}
    plans: dict = {}
    target: dict = {}
    if request.backend == "tensorrt":
        from cosmos_policy.engine.tensorrt_build import build_plans

        plans, target = build_plans(root, graphs, request.precision, progress=progress)
    manifest = EngineManifest(
        backend=request.backend, precision=request.precision, opset=opset,
        embodiment=request.embodiment, domain_index=domain_index,
        domain=domains[domain_index], config=c, batch=request.batch, steps=steps,
        noise_scale=sampler_noise_scale(bundle_manifest, str(bundle / "manifest.json")),
        model={"path": str(bundle.resolve()), "sha256": sha256(bundle / "manifest.json"),
               "weights_sha256": bundle_manifest["files"]["model.safetensors"]},
        graphs=graphs, plans=plans, target=target, versions=package_versions(),
        key=dict(key or {}), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_manifest(root, manifest)
    return manifest
