"""``cosmos-policy demo``: a first look without any setup.

It evaluates the shipped default model (``engines/default``) in closed loop through the
runtime on franka reach (a report with success, latency plots and videos under
``./outputs/demo/eval-reach-franka/``), then runs the scripted expert on the :data:`DEMOS`
list for reference videos. Without a shipped model it runs the expert part only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# (task, embodiment, seed) of each demo episode
DEMOS: list[tuple[str, str, int]] = [("reach", "franka", 0), ("push", "franka", 0)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"),
                        help="folder for the videos (default ./outputs/demo)")
    parser.add_argument("--image-size", type=int, default=128, help="camera images, pixels")
    parser.add_argument("--episodes", type=int, default=5,
                        help="episodes of the shipped model's evaluation")


def run_demo(task: str, embodiment: str, seed: int, out: Path, image_size: int
             ) -> tuple[bool, Path]:
    """One demo episode -> (success, video path)."""
    from cosmos_policy.sim.rollout import expert_episodes, save_video

    result = next(iter(expert_episodes(task, embodiment, 1, seed, record=True,
                                       image_size=image_size)))
    return result.success, save_video(result, out, f"{task}_{embodiment}", 10.0)


def run_model_eval(out: Path, image_size: int, episodes: int) -> int:
    """Closed-loop evaluation of the shipped model on franka reach; returns the exit code."""
    from cosmos_policy.cli import main

    return main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes",
                 str(episodes), "--lockstep", "--image-size", str(image_size), "--videos", "2",
                 "--out", str(out / "eval-reach-franka")])


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.models import default_model_path

    if (default_model_path() / "model.safetensors").is_file():
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
