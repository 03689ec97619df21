"""``cosmos-policy demo``: a first look without any setup.

It evaluates the shipped default model (``engines/default``) in closed loop through the
runtime on franka reach (a report with success, latency plots and videos under
``./outputs/demo/eval-reach-franka/``), then runs the scripted expert on the :data:`DEMOS`
list for reference videos. Without a shipped model it runs the expert part only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cosmos_policy.commands import options
from cosmos_policy.errors import UserError

# (task, embodiment, seed) of each demo episode
DEMOS: list[tuple[str, str, int]] = [("reach", "franka", 0), ("push", "franka", 0)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_out(parser, "folder for the report and videos (default ./outputs/demo)",
                    default=Path("outputs/demo"))
    options.add_image_size(parser)
    parser.add_argument("--episodes", type=int, default=5,
                        help="episodes of the shipped model's evaluation (default 5)")


def run_demo(task: str, embodiment: str, seed: int, out: Path, image_size: int
             ) -> tuple[bool, Path]:
    """One demo episode -> (success, video path)."""
    from cosmos_policy.sim.rollout import expert_episodes, save_video

    result = next(iter(expert_episodes(task, embodiment, 1, seed, record=True,
                                       image_size=image_size)))
    return result.success, save_video(result, out, f"{task}_{embodiment}", 10.0)


def run_model_eval(out: Path, image_size: int, episodes: int) -> int:
    """Closed-loop evaluation of the shipped model on franka reach, on the suite's test seeds
(never used to choose anything); returns the exit code.

    Runs ``eval``'s own code in this command, so its errors read as ``demo``'s.
    """
    from cosmos_policy.commands import eval as eval_command

    parser = argparse.ArgumentParser(prog="cosmos-policy demo")
    eval_command.add_arguments(parser)
    args = parser.parse_args(["--task", "reach", "--embodiment", "franka", "--episodes",
                              str(episodes), "--split", "test", "--lockstep",
                              "--image-size", str(image_size), "--videos", "2",
                              "--out", str(out / "eval-reach-franka")])
    return eval_command.run(args)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.paths import engines_dir

    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.image_size < 8:
        raise UserError(f"--image-size must be at least 8, got {args.image_size}")
    options.check_out_folder(args.out)
    if (engines_dir() / "default" / "model.safetensors").is_file():
        rc = run_model_eval(args.out, args.image_size, args.episodes)
        if rc != 0:
            return rc
    else:
        print("no shipped model in engines/default: showing the scripted expert only")
    for task, embodiment, seed in DEMOS:
        ok, video = run_demo(task, embodiment, seed, args.out, args.image_size)
        print(f"scripted expert, {task} on {embodiment}: {'success' if ok else 'failure'}; "
              f"video: {video.resolve()}")
    return 0
