"""Inference benchmark: torch eager vs ONNX Runtime CPU, policy mode, batch 1, one run.

    python benchmarks/inference.py [--model PATH] [--iters 100] [--json out.json]

Same as ``cosmos-policy bench``; the measurement lives in ``cosmos_policy.policy.bench``.
Prints a table and writes JSON (default ``outputs/bench_inference.json``).
"""

from __future__ import annotations

import sys

from cosmos_policy.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
