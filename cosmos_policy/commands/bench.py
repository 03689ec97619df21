"""``cosmos-policy bench``: inference latency of torch eager vs ONNX Runtime CPU, one run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cosmos_policy.commands import options
from cosmos_policy.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_model(parser, help="a model bundle folder (default: the shipped model, else a "
                      "freshly initialised one)")
    options.add_embodiment(parser)
    parser.add_argument("--iters", type=int, default=100, help="policy calls per backend")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first")
    options.add_steps(parser)
    parser.add_argument("--guidance", type=float, default=1.0, metavar="W",
                        help="also time the ONNX Runtime engine with this prompt guidance "
                        "(eval's --guidance), side by side (default 1: not timed)")
    options.add_out(parser, "where to write the results (JSON)",
                    default=Path("outputs/bench_inference.json"), old=("--json",))


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.models.flow import check_guidance
    from cosmos_policy.policy.bench import format_table, run_benchmark

    check_guidance(args.guidance, "--guidance")
    if args.model != "default":  # checked before any work; default falls back to a fresh model
        options.resolve_model(args, kinds=("bundle",))
    out = args.out
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; pass a JSON file path")
    options.check_out_folder(out.parent)
    result = run_benchmark(args.model, args.embodiment, iters=args.iters, warmup=args.warmup,
                           steps=args.steps, guidance=args.guidance)
    print(format_table(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {out}")
    return 0
