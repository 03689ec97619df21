"""Label quality on held-out simulated demonstrations whose true actions are known.

    python benchmarks/label_quality.py [--model default|PATH|tiny] [--embodiment franka]
        [--tasks reach,push] [--episodes 20] [--seed 5000]
        [--compare-policies --train-steps 600 --eval-episodes 20]

1. records ``--episodes`` scripted-expert demonstrations per task (``cosmos-policy record``)
   with seeds the model was not trained on (default from 5000; training uses 1000-4599,
   evaluation 0-999), keeping their true actions;
2. labels them with ``cosmos-policy label`` (the true actions are not read);
3. reports R^2 and the normalised error per action dimension
   (``cosmos_policy.label.quality``), the cycle-check flags and the labelling speed;
4. with ``--compare-policies``: fine-tunes the model (``cosmos-policy train --init``) once on
   the true actions and once on the inferred actions of the same episodes, with the same
   steps, batch and seed, and evaluates both closed loop (``cosmos-policy eval --lockstep``)
   on every task, seeds 0 and up. Both start from the same weights, so the difference is
   what the labels teach.

Writes JSON (default outputs/label_quality.json) and prints the tables. ``--model tiny``
uses a random tiny bundle (a smoke run of the program, not a measurement of quality).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cosmos_policy.commands.record import record
from cosmos_policy.label.pipeline import label
from cosmos_policy.label.quality import compare_datasets


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosmos_policy.cli", *args], check=False,
                          capture_output=True, text=True)


def compare_policies(model: str, truth: list[Path], labelled: list[Path], work: Path, *,
                     steps: int, tasks: list[str], embodiment: str, episodes: int) -> dict:
    """Fine-tune ``model`` on each action source with one budget; success per task."""
    out: dict = {"init": model, "train_steps": steps, "eval_episodes": episodes}
    for name, data in (("true_actions", truth), ("inferred_actions", labelled)):
        run = _cli("train", *map(str, data), "--init", model, "--out", str(work / name),
                   "--steps", str(steps), "--seed", "0")
        if run.returncode:
            out[name] = {"error": f"train failed: {run.stderr.strip()[-600:]}"}
            continue
        out[name] = {}
        for task in tasks:
            rep = work / f"eval-{name}-{task}"
            ev = _cli("eval", "--task", task, "--embodiment", embodiment, "--model",
                      str(work / name), "--episodes", str(episodes), "--lockstep",
                      "--videos", "0", "--out", str(rep))
            if ev.returncode:
                out[name][task] = {"error": ev.stderr.strip()[-600:]}
                continue
            r = json.loads((rep / "eval.json").read_text())
            out[name][task] = {k: r[k] for k in ("episodes", "successes", "success_rate",
                                                 "ci95")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="'default', 'tiny' or a bundle")
    parser.add_argument("--tasks", default="reach,push", help="comma-separated tasks")
    parser.add_argument("--embodiment", default="franka")
    parser.add_argument("--episodes", type=int, default=20, help="held-out demos per task")
    parser.add_argument("--seed", type=int, default=5000, help="first held-out seed")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--compare-policies", action="store_true")
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("outputs/label_quality.json"))
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    from cosmos_policy.models.checkpoint import default_model_path

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = str(default_model_path()) if args.model == "default" else args.model
        if args.model == "tiny":
            from cosmos_policy.engine.testing import tiny_bundle

            model = str(tiny_bundle(root / "bundle"))
        result: dict = {"model": args.model, "embodiment": args.embodiment,
                        "episodes_per_task": args.episodes, "seeds_from": args.seed,
                        "tasks": {}}
        truths, labelled = [], []
        for task in tasks:
            truth, lab = root / f"truth-{task}", root / f"labelled-{task}"
            record(truth, task, args.embodiment, args.episodes, seed=args.seed,
                   image_size=args.image_size, progress=False)
            summary = label(truth, lab, args.embodiment, model=model, samples=args.samples,
                            workers=args.workers, progress=True)
            result["tasks"][task] = {
                "quality": compare_datasets(lab, truth),
                "cycle_failed": summary["cycle_failed"],
                "frames_per_second": summary["frames_per_second"]}
            truths.append(truth)
            labelled.append(lab)
        if args.compare_policies:
            result["policies"] = compare_policies(
                model, truths, labelled, root, steps=args.train_steps, tasks=tasks,
                embodiment=args.embodiment, episodes=args.eval_episodes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for task, r in result["tasks"].items():
        q = r["quality"]
        print(f"{task}: mean R^2 {q['mean_r2']:.3f}, mean normalised error {q['mean_nmae']:.3f}, "
              f"{len(r['cycle_failed'])} cycle-check flags, {r['frames_per_second']} frames/s")
        for dim, d in q["dims"].items():
            print(f"    {dim:>8}: R^2 {d['r2']}, normalised error {d['nmae']}")
    if "policies" in result:
        print(json.dumps(result["policies"], indent=2))
    print("->", args.out)


if __name__ == "__main__":
    main()
