"""Labelling throughput (frames/s) with 1 and 2 worker processes, side by side in one run.

    python benchmarks/label_throughput.py [--model PATH] [--episodes 8] [--length 40]

Without --model a tiny random bundle (cosmos_policy.engine.testing) is used, which measures
the pipeline (decode, windows, 4 samples, cycle check, shards, assembly) rather than a real
model. Writes JSON (default outputs/label_throughput.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.label import testing as T
from cosmos_policy.label.pipeline import label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle (default: a tiny random one)")
    parser.add_argument("--embodiment", default="franka")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--length", type=int, default=40, help="frames per episode")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=Path("outputs/label_throughput.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model or str(tiny_bundle(root / "bundle"))
        src = T.lerobot_dataset(root / "src", episodes=args.episodes, length=args.length)
        rows = []
        for k in args.workers:
            t0 = time.perf_counter()
            s = label(src, root / f"out{k}", args.embodiment, model=model, workers=k,
                      progress=False)
            wall = time.perf_counter() - t0
            frames = s["frames_labelled_this_run"]
            rows.append({"workers": k, "frames": frames, "wall_s": round(wall, 2),
                         "label_s": s["label_seconds"], "assemble_s": s["assemble_seconds"],
                         "frames_per_s_labelling": s["frames_per_second"],
                         "frames_per_s_end_to_end": round(frames / wall, 2)})
            print(json.dumps(rows[-1]))
    base = rows[0]["frames_per_s_labelling"]
    result = {"model": args.model or "tiny random bundle", "episodes": args.episodes,
              "length": args.length, "cpus": os.cpu_count(), "machine": platform.machine(),
              "runs": rows, "speedup": [round(r["frames_per_s_labelling"] / base, 2)
                                        for r in rows]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["speedup"]), "->", args.out)


if __name__ == "__main__":
    main()
