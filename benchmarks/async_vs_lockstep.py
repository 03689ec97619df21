"""Success on reach with asynchronous inference vs lockstep, side by side in one run.

    PYTHONPATH=. python benchmarks/async_vs_lockstep.py --model default --episodes 20 \
        --out outputs/async_vs_lockstep.json

* lockstep: the world waits for the model (``--lockstep-latency-ms``, default 0: inference
  is free in simulated time) - the synchronous upper bound;
* async: the model runs on its own thread while the simulation runs in real time, and each
  chunk is charged its measured latency (what a robot pays).
Both use the same seeds (0..N-1, disjoint from training's 1000+) and the same runtime.
``--model oracle`` runs the scripted expert as the model (checks the loop, not learning).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.sim.eval_runner import run_episodes  # noqa: E402
from cosmos_policy.sim.evaluate import EvalConfig, config_dict  # noqa: E402
from cosmos_policy.sim.report import build_report  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "torch"))
    p.add_argument("--task", default="reach")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--lockstep-latency-ms", type=float, default=0.0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--out", type=Path, default=Path("outputs/async_vs_lockstep.json"))
    args = p.parse_args()
    emb = load_embodiment(args.embodiment)
    rows = {}
    for mode in ("lockstep", "async"):
        cfg = EvalConfig(task=args.task, embodiment=emb.name, episodes=args.episodes,
                         model=args.model, backend=args.backend, lockstep=mode == "lockstep",
                         lockstep_latency_s=args.lockstep_latency_ms / 1e3,
                         image_size=args.image_size, videos=0)
        runs = run_episodes(cfg)
        rep = build_report(config_dict(cfg), runs, emb)
        rows[mode] = {k: rep[k] for k in ("episodes", "successes", "success_rate", "ci95",
                                          "deadline_misses", "dropped_frames")}
        rows[mode]["model_wall_ms"] = rep["telemetry"].get("model_wall")
        rows[mode]["mean_steps"] = sum(r.steps for r in runs) / len(runs)
        rows[mode]["safety_modified_fraction"] = round(
            rep["safety"]["modified"] / max(1, rep["safety"]["commands"]), 4)
    result = {"task": args.task, "embodiment": emb.name, "model": args.model,
              "backend": args.backend, "lockstep_latency_ms": args.lockstep_latency_ms,
              "seeds": [0, args.episodes - 1], "modes": rows,
              "success_ratio_async_over_lockstep": (
                  round(rows["async"]["success_rate"] / rows["lockstep"]["success_rate"], 4)
                  if rows["lockstep"]["success_rate"] else None)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'mode':<9} {'success':>8} {'95% CI':>16} {'steps':>6} {'model p50 ms':>13}")
    for mode, r in rows.items():
        p50 = (r["model_wall_ms"] or {}).get("p50_ms", float("nan"))
        print(f"{mode:<9} {r['successes']:>3}/{r['episodes']:<4} "
              f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]".rjust(16)
              + f" {r['mean_steps']:>6.1f} {p50:>13.2f}")
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
