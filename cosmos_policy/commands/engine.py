"""``cosmos-policy engine build|verify|info``: compile, check and describe inference engines."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from cosmos_policy.commands import options
from cosmos_policy.errors import UserError

BUILD_BACKENDS = ("auto", "onnxruntime", "tensorrt")  # the artifacts a build can make


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="export a model to ONNX (and TensorRT) with a manifest")
    options.add_model(build, help="a model bundle folder, 'default' for the shipped model, or "
                      "a Cosmos 3 checkpoint folder (exports its denoising step)")
    options.add_embodiment(build)
    options.add_backend(build, default="onnxruntime",
                        help="what to build for: onnxruntime (default), tensorrt (plans for "
                        "this GPU) or auto (tensorrt where it runs here)")
    build.add_argument("--precision", choices=("fp32", "fp16", "bf16", "fp8"), default="fp32")
    build.add_argument("--batch", type=int, default=1, help="static batch size")
    options.add_steps(build)
    build.add_argument("--cameras", default=None,
                       help="comma-separated cameras the caller feeds (checked against the model)")
    build.add_argument("--chunk", type=int, default=None, help="actions per chunk (checked)")
    options.add_out(build, "engine folder to write (default: the user engine cache)")
    build.add_argument("--no-verify", action="store_true", help="skip the parity check")
    build.add_argument("--cosmos3-modes", default="policy",
                       help="Cosmos 3: comma-separated modes whose step to export: policy, "
                       "forward_dynamics, inverse_dynamics (default policy)")
    options.add_cosmos3(build)
    verify = sub.add_parser("verify", help="parity of an engine against its torch model")
    verify.add_argument("engine", type=Path, help="engine folder (holds manifest.json)")
    options.add_backend(verify)
    verify.add_argument("--model", default=None,
                        help="the source bundle folder, if it moved since the build")
    verify.add_argument("--samples", type=int, default=2, help="random inputs per check")
    verify.add_argument("--no-sim", action="store_true", help="skip simulator observations")
    options.add_out(verify, "also write the report here (JSON)", old=("--json",))
    info = sub.add_parser("info", help="describe an engine folder")
    info.add_argument("engine", type=Path, help="engine folder (holds manifest.json)")


def _build(args: argparse.Namespace) -> int:
    from cosmos_policy.engine.backends import tensorrt_available
    from cosmos_policy.engine.export import export_engine
    from cosmos_policy.engine.manifest import EngineRequest, write_manifest
    from cosmos_policy.policy.cache import get_engine
    from cosmos_policy.policy.registry import find_model, refuse_backend
    from cosmos_policy.policy.verify import verify_engine

    ref = find_model(args.model, kinds=("bundle", "cosmos3"))
    if ref.kind == "cosmos3":
        return _build_cosmos3(args)
    bundle = ref.path
    if args.backend not in BUILD_BACKENDS:
        refuse_backend(args.backend, "engine build", BUILD_BACKENDS)
    if args.backend == "auto":
        args.backend = "tensorrt" if tensorrt_available() else "onnxruntime"
    cameras = tuple(c for c in args.cameras.split(",") if c) if args.cameras else None
    request = EngineRequest(options.embodiment(args), batch=args.batch,
                            precision=args.precision, backend=args.backend, cameras=cameras,
                            chunk=args.chunk)
    if args.out is None:
        folder = get_engine(bundle, request, steps=args.steps, verify=not args.no_verify)
        print(f"engine ready in {folder}")
        return 0
    manifest = export_engine(bundle, request, args.out, steps=args.steps)
    if not args.no_verify:
        report = verify_engine(args.out, backend=args.backend, bundle=bundle)
        print(report.table())
        write_manifest(args.out, replace(manifest, verification=report.summary()))
        if not report.passed:
            print(f"engine written to {args.out} but it FAILED the parity check")
            return 1
    print(f"engine written to {args.out}")
    return 0


def _build_cosmos3(args: argparse.Namespace) -> int:
    """``engine build --model COSMOS3_FOLDER``: the denoising step of each mode to ONNX (and
    TensorRT plans with ``--backend tensorrt``), for the embodiment's camera size."""
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.engine.backends import tensorrt_available
    from cosmos_policy.engine.cosmos3_export import MODES, build_steps
    from cosmos_policy.policy.registry import load_model, refuse_backend

    if args.backend not in BUILD_BACKENDS:
        refuse_backend(args.backend, "engine build", BUILD_BACKENDS)
    backend = args.backend
    if backend == "auto":
        backend = "tensorrt" if tensorrt_available() else "onnxruntime"
    modes = tuple(m for m in args.cosmos3_modes.split(",") if m)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise UserError(f"--cosmos3-modes {args.cosmos3_modes}: use some of {', '.join(MODES)}")
    # the graph is traced in float32 on the CPU; TensorRT lowers precision when it builds
    opts = replace(options.cosmos3(args), dtype="float32", device="cpu")
    emb = load_embodiment(options.embodiment(args))
    model = load_model(args.model, emb, cosmos3=opts)
    cam = emb.camera(model.camera)
    out = options.check_out_folder(
        args.out or Path("outputs/engines") / f"cosmos3-{Path(args.model).name}-{emb.name}")
    report = build_steps(model, out, modes, (cam.height, cam.width), backend=backend,
                         precision=args.precision, verify=not args.no_verify)
    for mode, g in report["graphs"].items():
        check = f"rel_err {g['rel_err']:.2e} {'ok' if g['ok'] else 'FAILED'}" if "ok" in g else ""
        print(f"{mode:17s} {g['onnx']} {g.get('plan', '')} {check}")
    if not report["passed"]:
        print(f"Cosmos 3 steps written to {out} but one FAILED the parity check")
        return 1
    print(f"Cosmos 3 steps written to {out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from cosmos_policy.engine.manifest import read_manifest, write_manifest
    from cosmos_policy.policy.registry import check_backend, find_model
    from cosmos_policy.policy.verify import verify_engine
    from cosmos_policy.sim.observations import verify_observations

    if args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    check_backend(args.backend, "engine")
    bundle = None if args.model is None else find_model(args.model, kinds=("bundle",)).path
    report = verify_engine(args.engine, backend=args.backend, bundle=bundle,
                           samples=args.samples,
                           sources={} if args.no_sim else {"sim": verify_observations})
    print(report.table())
    print(f"{'PASSED' if report.passed else 'FAILED'}: {report.backend} {report.precision}")
    # Record the result in the manifest: `serve` refuses engines without a passing record.
    write_manifest(args.engine, replace(read_manifest(args.engine),
                                        verification=report.summary()))
    if args.out is not None:
        rows = [{"check": c.name, "max_abs": c.max_abs, "rel_err": c.rel_err,
                 "tolerance": c.tolerance, "ok": c.ok} for c in report.checks]
        args.out.write_text(json.dumps({**report.summary(), "rows": rows}, indent=2) + "\n")
    return 0 if report.passed else 1


def _info(args: argparse.Namespace) -> int:
    from cosmos_policy.engine.backends import available_backends
    from cosmos_policy.engine.manifest import read_manifest

    m = read_manifest(args.engine)  # verifies every file hash
    print(f"engine      {args.engine}")
    print(f"embodiment  {m.embodiment} (domain {m.domain_index}: {m.domain.name}, state "
          f"{m.domain.state_dim}, action {m.domain.action_dim})")
    print(f"built for   {m.backend} {m.precision}, opset {m.opset}, batch {m.batch}, "
          f"{m.steps} steps, cameras {list(m.cameras)}, chunk {m.chunk}")
    if m.target:
        print(f"target      {json.dumps(m.target)}")
    print(f"model       {m.model['path']} (sha256 {m.model['sha256'][:16]}...)")
    for name, g in m.graphs.items():
        ins = ", ".join(f"{s['name']} {s['dtype']}{tuple(s['shape'])}" for s in g["inputs"])
        outs = ", ".join(f"{s['name']} {s['dtype']}{tuple(s['shape'])}" for s in g["outputs"])
        plan = " + plan" if name in m.plans else ""
        print(f"graph       {name}{plan}: {ins} -> {outs}")
    ver = m.verification
    print(f"verified    {'passed' if ver.get('passed') else 'no'} {json.dumps(ver.get('worst'))}")
    print(f"versions    {json.dumps(m.versions)}")
    print(f"backends here: {', '.join(available_backends())}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "verify": _verify, "info": _info}[args.action](args)
