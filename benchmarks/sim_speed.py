"""Simulated env steps per second with two 128x128 cameras rendered: one env, and a vector of
two (SyncVectorEnv and AsyncVectorEnv), measured side by side in one run.

    python benchmarks/sim_speed.py --steps 200 --out outputs/bench/sim_speed.json

One env step is one policy step (0.1 s of physics at 10 Hz) plus rendering both cameras.
Actions hold the home pose in joint mode so the figure is the simulator's, not the IK's;
``--action-mode ee_pose`` includes the kinematic projector.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from cosmos_policy.sim import make_env  # noqa: E402


def _hold_action(env: gym.Env, mode: str) -> np.ndarray:
    """An action that holds the reset pose (joint targets or the tcp pose)."""
    base = env.unwrapped
    if mode == "joint":
        return np.append(base.embodiment.home, 0.0).astype(np.float32)
    obs = base._obs()  # noqa: SLF001
    return np.append(obs["ee_pose"], 0.0).astype(np.float32)


def measure(factory, n_envs: int, steps: int, mode: str, vector: str) -> dict:
    """Steps/s of ``n_envs`` envs stepped ``steps`` times (env steps = n_envs * steps)."""
    if vector == "single":
        env = factory()
        env.reset(seed=0)
        action = _hold_action(env, mode)
        step = lambda: env.step(action)
    else:
        cls = gym.vector.SyncVectorEnv if vector == "sync" else functools.partial(
            gym.vector.AsyncVectorEnv, context="spawn")
        env = cls([factory] * n_envs)
        env.reset(seed=list(range(n_envs)))
        probe = factory()
        probe.reset(seed=0)
        action = np.stack([_hold_action(probe, mode)] * n_envs)
        probe.close()
        step = lambda: env.step(action)
    for _ in range(5):  # warm-up: renderer creation, first frames
        step()
    t0 = time.perf_counter()
    for _ in tqdm(range(steps), desc=f"{vector} x{n_envs}", leave=False):
        step()
    wall = time.perf_counter() - t0
    env.close()
    return {"vector": vector, "n_envs": n_envs, "steps": steps, "wall_s": wall,
            "env_steps_per_s": n_envs * steps / wall, "sim_seconds_per_s": n_envs * steps / wall
            * 0.1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--embodiment", default="franka")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--action-mode", default="joint", choices=["joint", "ee_pose"])
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/sim_speed.json"))
    args = parser.parse_args(argv)
    factory = functools.partial(make_env, args.task, args.embodiment,
                                image_size=args.image_size, action_mode=args.action_mode)
    no_images = functools.partial(make_env, args.task, args.embodiment, cameras=(),
                                  action_mode=args.action_mode)
    rows = [measure(factory, 1, args.steps, args.action_mode, "single"),
            measure(factory, 2, args.steps, args.action_mode, "sync"),
            measure(factory, 2, args.steps, args.action_mode, "async"),
            measure(no_images, 1, args.steps, args.action_mode, "single")]
    rows[-1]["vector"] = "single, no cameras"
    base = rows[0]["env_steps_per_s"]
    print(f"{args.task}/{args.embodiment}, cameras {args.image_size}x{args.image_size}, "
          f"{os.cpu_count()} CPUs")
    for r in rows:
        print(f"  {r['vector']:<20} x{r['n_envs']}: {r['env_steps_per_s']:8.1f} env steps/s "
              f"({r['env_steps_per_s'] / base:.2f}x one env)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"task": args.task, "embodiment": args.embodiment,
                                    "image_size": args.image_size, "cameras": 2,
                                    "action_mode": args.action_mode, "cpus": os.cpu_count(),
                                    "results": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
