"""``cosmos-policy demo``: a first look without any setup.

For now it runs the scripted expert on franka reach and push and writes their videos into
``./outputs/demo/``. What it runs is the :data:`DEMOS` list below; switching the demo to a
closed-loop evaluation of the shipped model means changing :func:`run_demo` only.
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


def run_demo(task: str, embodiment: str, seed: int, out: Path, image_size: int
             ) -> tuple[bool, Path]:
    """One demo episode -> (success, video path)."""
    from cosmos_policy.sim.rollout import expert_episodes, save_video

    result = next(iter(expert_episodes(task, embodiment, 1, seed, record=True,
                                       image_size=image_size)))
    return result.success, save_video(result, out, f"{task}_{embodiment}", 10.0)


def run(args: argparse.Namespace) -> int:
    for task, embodiment, seed in DEMOS:
        ok, video = run_demo(task, embodiment, seed, args.out, args.image_size)
        print(f"{task} on {embodiment}: {'success' if ok else 'failure'}; video: {video.resolve()}")
    return 0
