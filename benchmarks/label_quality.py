"""Label quality on held-out simulated demonstrations whose true actions are known.

    python benchmarks/label_quality.py --model PATH|default --task reach --embodiment franka
        [--episodes 5] [--seed 1000] [--compare-policies --train-steps 2000]

1. records ``--episodes`` scripted-expert demonstrations (``cosmos-policy record``) with
   seeds the model was not trained on (default from 1000), keeping their true actions;
2. labels them with ``cosmos-policy label`` (the true actions are not read);
3. reports R^2 and the normalised error per action dimension
   (``cosmos_policy.label.quality``) and the cycle-check flags;
4. with ``--compare-policies``: trains one policy on the true actions and one on the
   inferred actions (same data, steps and seed) with ``cosmos-policy train`` and evaluates
   both with ``cosmos-policy eval`` when that command exists.

Writes JSON (default outputs/label_quality.json). ``--model tiny`` uses a random tiny
bundle (a smoke run of the program, not a measurement of quality).
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


def compare_policies(true_ds: Path, labelled_ds: Path, work: Path, steps: int,
                     task: str, embodiment: str) -> dict:
    from cosmos_policy.cli import COMMANDS

    out = {}
    for name, data in (("true_actions", true_ds), ("inferred_actions", labelled_ds)):
        run = _cli("train", str(data), "--out", str(work / name), "--steps", str(steps))
        if run.returncode:
            return {"error": f"train on {name} failed: {run.stderr.strip()[-400:]}"}
        if "eval" not in COMMANDS:
            out[name] = {"model": str(work / name), "success_rate": None}
            continue
        ev = _cli("eval", "--task", task, "--embodiment", embodiment, "--model",
                  str(work / name), "--json", str(work / f"{name}.json"))
        out[name] = (json.loads((work / f"{name}.json").read_text()) if ev.returncode == 0
                     else {"error": ev.stderr.strip()[-400:]})
    if "eval" not in COMMANDS:
        out["note"] = "no `cosmos-policy eval` command yet: policies trained, not evaluated"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="'default', 'tiny' or a bundle")
    parser.add_argument("--task", default="reach")
    parser.add_argument("--embodiment", default="franka")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1000, help="first held-out seed")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--compare-policies", action="store_true")
    parser.add_argument("--train-steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("outputs/label_quality.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = None if args.model == "default" else args.model
        if args.model == "tiny":
            from cosmos_policy.engine.testing import tiny_bundle

            model = str(tiny_bundle(root / "bundle"))
        truth = root / "truth"
        record(truth, args.task, args.embodiment, args.episodes, seed=args.seed,
               image_size=args.image_size, progress=False)
        summary = label(truth, root / "labelled", args.embodiment, model=model,
                        samples=args.samples, progress=False)
        result = {"model": args.model, "task": args.task, "embodiment": args.embodiment,
                  "episodes": args.episodes, "seeds_from": args.seed,
                  "quality": compare_datasets(root / "labelled", truth),
                  "cycle_failed": summary["cycle_failed"],
                  "cycle": [r["cycle"] for r in summary["labelled"]],
                  "frames_per_second": summary["frames_per_second"]}
        if args.compare_policies:
            result["policies"] = compare_policies(truth, root / "labelled", root,
                                                  args.train_steps, args.task,
                                                  args.embodiment)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({"mean_r2": result["quality"]["mean_r2"],
                      "mean_nmae": result["quality"]["mean_nmae"],
                      "cycle_failed": result["cycle_failed"]}), "->", args.out)


if __name__ == "__main__":
    main()
