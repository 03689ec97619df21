"""``cosmos-policy dagger``: roll out the policy, label the visited states with the scripted
expert, fine-tune on demonstrations + labels, repeat (docs/DAGGER.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cosmos_policy.commands import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("demos", nargs="*", type=Path,
                        help="demonstration datasets (LeRobot v3) every round trains on too")
    parser.add_argument("--out", type=Path, required=True,
                        help="campaign folder: round-N/{data-*,model}, dagger.json, dagger.md")
    parser.add_argument("--task", default="push",
                        help="comma-separated tasks to roll out and validate (default push)")
    parser.add_argument("--embodiment", default="franka",
                        help="comma-separated embodiments (default franka)")
    parser.add_argument("--model", default="default",
                        help="the starting model: default or a compact bundle folder")
    parser.add_argument("--rounds", type=int, default=1, help="DAgger rounds (default 1)")
    parser.add_argument("--episodes", type=int, default=20,
                        help="rollouts per round and (task, embodiment) (default 20)")
    parser.add_argument("--seed", type=int, default=None,
                        help="first rollout seed, in the suite's training split (default 50000)")
    parser.add_argument("--train-steps", type=int, default=300,
                        help="fine-tuning steps per round (default 300)")
    parser.add_argument("--batch", type=int, default=32, help="examples per step")
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate")
    options.add_training_recipe(parser)  # each round's fine-tune, as `train`
    parser.add_argument("--workers", type=int, default=1,
                        help="processes: rollout cells and validation episodes in parallel")
    parser.add_argument("--expert-chunks", action="store_true",
                        help="label every visited state with the expert's own chunk from it "
                        "(the expert drives on in the simulator, which is then restored) and "
                        "train those frames in policy mode only; default: the expert's label "
                        "of each state, a frame's chunk from the labels of the states the "
                        "policy went on to (docs/DAGGER.md compares the two)")
    # literal, so the parser does not import the simulator: tests/test_dagger.py holds it to
    # experts.LABELS
    parser.add_argument("--labels", default="strict", choices=("strict", "tolerant"),
                        help="strict (default): a visited state counts as the expert's "
                        "manoeuvre under way only where the expert itself would be; tolerant: "
                        "within the offsets its manoeuvre survives (a push 3 cm off the line, "
                        "a grasp 2 cm off the cube), labelled as going on, corrected, instead "
                        "of starting over (docs/DAGGER.md)")
    parser.add_argument("--feedback", default="command", choices=("command", "state"),
                        help="what each label starts from: command (default), the policy's "
                        "last command and the tool's velocity; state, the measured pose at its "
                        "profile's speed, a function of what the model sees (docs/DAGGER.md)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with the campaign in --out (same options; --rounds may "
                        "grow) after a crash or to add rounds")
    parser.add_argument("--val-episodes", type=int, default=20,
                        help="validation episodes per task and arm, every round (0: none)")
    parser.add_argument("--val-seed", type=int, default=None,
                        help="first validation seed (default: the validation split's first)")
    parser.add_argument("--val-max-steps", type=int, default=None,
                        help="policy steps per validation episode (default: the task's)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"),
                        help="rollouts' and validation's backend (default torch: no export)")
    options.add_image_size(parser)
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="simulated inference latency of the lockstep rollouts")


def run(args: argparse.Namespace) -> int:
    import sys

    from cosmos_policy.errors import UserError
    from cosmos_policy.sim.dagger import DAGGER_SEED_START, DaggerConfig, run_dagger
    from cosmos_policy.sim.tasks import make_task

    tasks = tuple(t for t in args.task.split(",") if t)
    embodiments = tuple(e for e in args.embodiment.split(",") if e)
    if not tasks or not embodiments:
        raise UserError("--task and --embodiment need at least one name each")
    for task in tasks:
        make_task(task)  # an unknown task fails here, before any rollout
    for d in args.demos:
        if not d.is_dir():
            raise UserError(f"dataset {d} is not a folder; pass LeRobot v3 dataset roots")
    if (args.out / "dagger.json").exists() and not args.resume:
        raise UserError(f"{args.out} already holds a DAgger campaign; choose another --out "
                        "or go on with it with --resume")
    cfg = DaggerConfig(tasks=tasks, embodiments=embodiments, model=str(args.model),
                       demos=tuple(str(d) for d in args.demos), rounds=args.rounds,
                       episodes=args.episodes,
                       seed=DAGGER_SEED_START if args.seed is None else args.seed,
                       train_steps=args.train_steps, batch=args.batch, lr=args.lr,
                       object_weight=args.object_weight, early_fraction=args.early_fraction,
                       carry_fraction=args.carry_fraction,
                       paraphrase_prob=args.paraphrase_prob, workers=args.workers,
                       expert_chunks=args.expert_chunks, labels=args.labels,
                       feedback=args.feedback,
                       val_episodes=args.val_episodes,
                       val_seed=args.val_seed, val_max_steps=args.val_max_steps,
                       backend=args.backend, image_size=args.image_size,
                       latency_s=args.latency_ms / 1e3)
    rows = run_dagger(cfg, args.out, resume=args.resume,
                      progress=lambda line: print(line, file=sys.stderr, flush=True))
    print((args.out / "dagger.md").read_text(), end="")
    print(f"{len(rows) - 1} rounds; table: {args.out / 'dagger.md'}, last model: "
          f"{rows[-1]['model']}")
    return 0
