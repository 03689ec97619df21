"""Success rate of the scripted experts over seeded episodes, per (task, embodiment).

    python benchmarks/expert_success.py --episodes 100 --out outputs/bench/expert_success.json

No camera is rendered. Prints a table and writes JSON (rates, mean episode length, failing
seeds, simulated steps per second).

``--feedback state``: the expert answers from each measured state instead of following its
plan (what ``record --feedback state`` records). ``--runtime``: the expert runs as
``--model oracle`` through ``eval``'s lockstep runtime (chunks, blending, projection, safety;
cameras rendered), a chunk per period; with ``--feedback state`` every chunk starts from the
measured state, as a model that sees no velocity must.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from tqdm import tqdm  # noqa: E402

from cosmos_policy.embodiment import available_embodiments  # noqa: E402
from cosmos_policy.sim import TASKS  # noqa: E402
from cosmos_policy.sim.rollout import expert_episodes  # noqa: E402


def evaluate(task: str, embodiment: str, episodes: int, seed: int,
             feedback: str = "command") -> dict:
    """Run the expert ``episodes`` times; return its figures as a JSON-able dict."""
    t0 = time.perf_counter()
    results = list(tqdm(expert_episodes(task, embodiment, episodes, seed, feedback=feedback),
                        total=episodes,
                        desc=f"{task}/{embodiment}", leave=False))
    wall = time.perf_counter() - t0
    steps = sum(r.steps for r in results)
    ok = [r for r in results if r.success]
    return {"task": task, "embodiment": embodiment, "episodes": episodes, "feedback": feedback,
            "successes": len(ok), "success_rate": len(ok) / episodes,
            "mean_steps_success": sum(r.steps for r in ok) / max(len(ok), 1),
            "failed_seeds": [r.seed for r in results if not r.success],
            "steps_per_s": steps / wall, "wall_s": wall}


def evaluate_runtime(task: str, embodiment: str, episodes: int, seed: int,
                     feedback: str = "command") -> dict:
    """:func:`evaluate` through ``eval``'s lockstep runtime (the oracle as the model)."""
    from cosmos_policy.sim.eval_models import ExpertOracle
    from cosmos_policy.sim.evaluate import EvalConfig, Evaluator

    ev = Evaluator(EvalConfig(task=task, embodiment=embodiment, episodes=episodes, seed=seed,
                              model="oracle", lockstep=True, image_size=64, videos=0))
    ev.model.model = ExpertOracle(ev.env, feedback=feedback)
    t0 = time.perf_counter()
    try:
        runs = [ev.run_episode(s) for s in tqdm(range(seed, seed + episodes), leave=False,
                                                 desc=f"{task}/{embodiment} runtime")]
    finally:
        ev.close()
    wall = time.perf_counter() - t0
    ok = [r for r in runs if r.success]
    return {"task": task, "embodiment": embodiment, "episodes": episodes, "feedback": feedback,
            "runtime": True, "successes": len(ok), "success_rate": len(ok) / episodes,
            "mean_steps_success": sum(r.steps for r in ok) / max(len(ok), 1),
            "failed_seeds": [r.seed for r in runs if not r.success],
            "steps_per_s": sum(r.steps for r in runs) / wall, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--embodiments", nargs="*", default=available_embodiments())
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/expert_success.json"))
    parser.add_argument("--feedback", default="command", choices=("command", "state"),
                        help="state: the expert answers from each measured state "
                             "(record --feedback state) instead of following its plan")
    parser.add_argument("--runtime", action="store_true",
                        help="through eval's lockstep runtime, as --model oracle")
    args = parser.parse_args(argv)
    run = evaluate_runtime if args.runtime else evaluate
    rows = [run(t, e, args.episodes, args.seed, args.feedback)
            for e in args.embodiments for t in args.tasks]
    print(f"{'task':<12}{'embodiment':<12}{'success':>10}{'mean len':>10}{'steps/s':>10}")
    for r in rows:
        print(f"{r['task']:<12}{r['embodiment']:<12}{r['successes']:>6}/{r['episodes']:<3}"
              f"{r['mean_steps_success']:>10.1f}{r['steps_per_s']:>10.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"episodes": args.episodes, "seed": args.seed,
                                    "results": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0 if all(r["success_rate"] >= 0.95 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
