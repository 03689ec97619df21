"""``cosmos-policy rollout``: run the scripted expert on a task, write videos, print success."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from cosmos_policy.commands import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="reach, push or pick_place")
    options.add_embodiment(parser)
    parser.add_argument("--episodes", type=int, default=1, help="episodes to run (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--out", required=True, type=Path, help="folder for the mp4 videos")
    options.add_image_size(parser)
    parser.add_argument("--prompt-style", default="canonical",
                        help="canonical, paraphrase or any")
    parser.add_argument("--no-video", action="store_true", help="render nothing (fast)")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.errors import UserError
    from cosmos_policy.sim.rollout import expert_episodes, save_video
    from cosmos_policy.sim.tasks import make_task

    make_task(args.task)  # an unknown task fails here, before any scene is built
    if args.episodes < 1:
        raise UserError("--episodes must be at least 1")
    record = not args.no_video
    args.embodiment = options.embodiment(args)
    results, videos = [], []
    episodes = expert_episodes(args.task, args.embodiment, args.episodes, args.seed,
                               record=record, image_size=args.image_size,
                               prompt_style=args.prompt_style)
    for result in tqdm(episodes, total=args.episodes, desc=f"{args.task}/{args.embodiment}",
                       disable=args.episodes < 2):
        results.append(result)
        if record:
            videos.append(save_video(result, args.out, f"{args.task}_{args.embodiment}", 10.0))
            result.frames.clear()
        print(f"seed {result.seed}: {'success' if result.success else 'failure'} "
              f"in {result.steps} steps, prompt '{result.prompt}'"
              + (f", video {videos[-1]}" if record else ""))
    n_ok = sum(r.success for r in results)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"task": args.task, "embodiment": args.embodiment, "episodes": len(results),
               "successes": n_ok, "success_rate": n_ok / len(results),
               "videos": [str(v) for v in videos],
               "episodes_detail": [{"seed": r.seed, "success": r.success, "steps": r.steps,
                                    "return": r.episode_return, "prompt": r.prompt}
                                   for r in results]}
    (args.out / "rollout.json").write_text(json.dumps(summary, indent=2))
    print(f"success {n_ok}/{len(results)} ({100.0 * n_ok / len(results):.0f}%); "
          f"summary in {args.out / 'rollout.json'}")
    return 0
