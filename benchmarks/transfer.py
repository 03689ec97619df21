"""Positive transfer at our scale: one model trained on two embodiments against one model per
embodiment, the same budget (steps x batch) for each, all from scratch.

    python benchmarks/transfer.py [--data data/demos-hold] [--tasks reach,reach2,...]
        [--steps 2500] [--ae-steps 400] [--episodes 20] [--dynamics-episodes 4]
        [--work outputs/transfer]

Runs ``cosmos-policy train`` three times (``joint`` on both arms' datasets, ``franka`` and
``ur5e`` on their own), then evaluates every model on each embodiment it was trained on, on
held-out seeds: closed-loop reach success (``eval --lockstep``), and the open-loop figures
that still separate models too young to succeed (``eval-dynamics``: inverse-dynamics R^2 and
forward-dynamics PSNR on reach). A finished run is not trained again; an interrupted one is
resumed. Writes ``--work``/transfer.json and prints the tables as Markdown.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from model_results import run_cli  # benchmarks/, the script's own folder

ARMS = ("franka", "ur5e")


def _datasets(data: list[Path], arm: str, tasks: list[str]) -> list[str]:
    found = [str(d / f"{arm}-{t}") for t in tasks for d in data if (d / f"{arm}-{t}").is_dir()]
    if len(found) != len(tasks):
        raise SystemExit(f"need one dataset {arm}-<task> per task {tasks} in {data}, found "
                         f"{found}; record them first (docs/train_default.sh)")
    return found


def _finished(out: Path, steps: int) -> bool:
    state = out / "train" / "state.json"
    return state.is_file() and json.loads(state.read_text())["step"] >= steps


def train(a: argparse.Namespace, name: str, arms: tuple[str, ...]) -> float:
    out = a.work / name
    if _finished(out, a.steps):
        return 0.0
    sets = [d for arm in arms for d in _datasets(a.data, arm, a.tasks)]
    resume = ["--resume"] if (out / "train" / "state.json").is_file() else []
    t0 = time.perf_counter()
    run_cli("train", *sets, "--out", str(out), "--steps", str(a.steps), "--batch", str(a.batch),
            "--ckpt-every", "250", "--object-weight", str(a.object_weight), "--early-fraction",
            str(a.early_fraction), "--ae-steps", str(a.ae_steps), "--seed", str(a.seed),
            *resume)
    return time.perf_counter() - t0


def evaluate(a: argparse.Namespace, name: str, arm: str) -> dict:
    model, rep = str(a.work / name), a.work / "eval" / f"{name}-{arm}"
    run_cli("eval", "--task", "reach", "--embodiment", arm, "--episodes", str(a.episodes),
            "--model", model, "--lockstep", "--workers", str(a.workers), "--videos", "0",
            "--out", str(rep / "policy"))
    pol = json.loads((rep / "policy" / "eval.json").read_text())
    row = {"model": name, "embodiment": arm, "successes": pol["successes"],
           "episodes": pol["episodes"], "ci95": pol["ci95"]}
    for mode in ("inverse", "forward"):
        run_cli("eval-dynamics", "--mode", mode, "--task", "reach", "--embodiment", arm,
                "--episodes", str(a.dynamics_episodes), "--model", model, "--out", str(rep))
        r = json.loads((rep / f"{mode}_dynamics.json").read_text())
        if mode == "inverse":
            row["inverse_r2"] = r["mean_r2"]
        else:
            row["forward_gain_db"] = r["gain_over_baseline_db"]
    print(f"  {name} on {arm}: {row}", flush=True)
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| trained on | evaluated on | reach success | 95% CI | inverse R^2 | "
             "forward gain over copy-last |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lo, hi = r["ci95"]
        lines.append(f"| {r['model']} | {r['embodiment']} | {r['successes']}/{r['episodes']} "
                     f"| [{lo:.2f}, {hi:.2f}] | {r['inverse_r2']:.3f} | "
                     f"{r['forward_gain_db']:+.2f} dB |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/demos-hold",
                   help="comma-separated folders holding the datasets {arm}-{suffix}")
    p.add_argument("--tasks", default="reach,reach2,reach3,reach-noisy",
                   help="dataset name suffixes per arm (default: the reach demonstrations)")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--ae-steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--object-weight", type=float, default=1.0)
    p.add_argument("--early-fraction", type=float, default=0.3)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--dynamics-episodes", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", default="joint,franka,ur5e", help="runs to train and evaluate")
    p.add_argument("--skip-eval", action="store_true")
    p.add_argument("--work", type=Path, default=Path("outputs/transfer"))
    a = p.parse_args()
    a.tasks = [t for t in a.tasks.split(",") if t]
    a.data = [Path(d) for d in a.data.split(",") if d]
    runs = {"joint": ARMS, "franka": ("franka",), "ur5e": ("ur5e",)}
    names = [n for n in a.only.split(",") if n]
    for n in names:
        if n not in runs:
            raise SystemExit(f"--only: {n!r} is not one of {', '.join(runs)}")
    a.work.mkdir(parents=True, exist_ok=True)
    wall = {}
    for n in names:
        wall[n] = round(train(a, n, runs[n]))
        print(f"trained {n} ({wall[n]} s)", flush=True)
    if a.skip_eval:
        return
    rows = [evaluate(a, n, arm) for n in names for arm in runs[n]]
    result = {"date": time.strftime("%Y-%m-%d"), "steps": a.steps, "batch": a.batch,
              "ae_steps": a.ae_steps, "tasks": a.tasks, "data": [str(d) for d in a.data],
              "train_wall_s": wall, "rows": rows}
    (a.work / "transfer.json").write_text(json.dumps(result, indent=2))
    print(markdown(rows))
    print("->", a.work / "transfer.json")


if __name__ == "__main__":
    main()
