"""``cosmos-policy bench``: inference latency of torch eager vs ONNX Runtime CPU, one run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="model bundle (default: the shipped model, else a fresh one)")
    parser.add_argument("--embodiment", default=None, help="embodiment domain of the model")
    parser.add_argument("--iters", type=int, default=100, help="policy calls per backend")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps")
    parser.add_argument("--json", type=Path, default=Path("outputs/bench_inference.json"),
                        help="where to write the results")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.engine.bench import format_table, run_benchmark

    result = run_benchmark(args.model, args.embodiment, iters=args.iters, warmup=args.warmup,
                           steps=args.steps)
    print(format_table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {args.json}")
    return 0
