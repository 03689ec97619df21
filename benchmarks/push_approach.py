"""Where does a policy put the pusher down, and which way does the cube go? Push, closed loop.

    PYTHONPATH=. python benchmarks/push_approach.py --models default,oracle \
        [--embodiment franka] [--episodes 12] [--out outputs/push_approach.json]

Push fails when the pusher comes down on the wrong side of the cube or too close to it: the
scripted expert lowers the tool ``push_back`` (7.5 cm) behind the cube on the line from the
region through the cube, then pushes along that line. For each model, on the same seeds
(0..N-1, disjoint from training's 1000+), lockstep (reproducible), the sampler's noise as
``eval``'s (``--noise-scale``), every episode:

* **descent**: the tool tip's position, the first time it is below 4.5 cm, relative to the
  cube's starting centre: ``along`` the cube-to-region line (the expert's: -7.5 cm; positive
  is the region's side) and ``lateral`` to it (cm);
* **cube**: how far the cube moved along the line and across it by the end (cm);
* success, and the share of episodes whose descent lies behind the cube (along < -4 cm).

Medians over episodes. ``oracle`` (the scripted expert through the same runtime) gives the
reference row.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos_policy.sim.evaluate import EvalConfig, Evaluator  # noqa: E402
from cosmos_policy.sim.experts import ExpertConfig  # noqa: E402

LOW_Z = 0.045  # m: below this the tool is down at the cube's height
BEHIND = -0.04  # m along the line: a descent behind the cube


def _trace_episode(ev: Evaluator, seed: int) -> dict:
    """Run one episode and reduce its per-command trace to the figures above."""
    env, task = ev.env, ev.env.task
    scene = env.scene
    tool, cube = [], []
    step = env.step_joint_targets

    def traced(*args, **kwargs):
        ok = step(*args, **kwargs)
        tool.append(scene.tcp_pos().copy())
        cube.append(scene.cube_pos(task.color)[:2].copy())
        return ok

    env.step_joint_targets = traced
    try:
        run = ev.run_episode(seed)
        region = scene.region_pos()[:2]
    finally:
        del env.step_joint_targets  # the instance attribute hid the method
    tool_a, cube_a = np.asarray(tool), np.asarray(cube)
    line = region - cube_a[0]
    line /= np.linalg.norm(line)
    across = np.array([-line[1], line[0]])
    low = np.flatnonzero(tool_a[:, 2] < LOW_Z)
    row = {"seed": seed, "success": bool(run.success), "descent_along_cm": None,
           "descent_lateral_cm": None}
    if len(low):
        rel = tool_a[low[0], :2] - cube_a[0]
        row["descent_along_cm"] = round(float(rel @ line) * 100, 2)
        row["descent_lateral_cm"] = round(float(rel @ across) * 100, 2)
    moved = cube_a[-1] - cube_a[0]
    row["cube_along_cm"] = round(float(moved @ line) * 100, 2)
    row["cube_lateral_cm"] = round(float(moved @ across) * 100, 2)
    return row


def measure(model: str, embodiment: str, episodes: int, noise_scale: float = 1.0) -> dict:
    cfg = EvalConfig(task="push", embodiment=embodiment, episodes=episodes, model=model,
                     backend="torch", lockstep=True, videos=0, noise_scale=noise_scale)
    ev = Evaluator(cfg)
    try:
        rows = [_trace_episode(ev, s) for s in cfg.seeds()]
    finally:
        ev.close()
    down = [r for r in rows if r["descent_along_cm"] is not None]

    def med(key: str, sel: list[dict], absolute: bool = False) -> float | None:
        v = [abs(r[key]) if absolute else r[key] for r in sel]
        return round(float(np.median(v)), 2) if v else None

    return {"episodes": len(rows), "successes": sum(r["success"] for r in rows),
            "came_down": len(down),
            "descent_behind_share": round(sum(r["descent_along_cm"] < BEHIND * 100
                                              for r in down) / max(1, len(down)), 3),
            "descent_along_cm": med("descent_along_cm", down),
            "descent_lateral_abs_cm": med("descent_lateral_cm", down, absolute=True),
            "cube_along_cm": med("cube_along_cm", rows),
            "cube_lateral_abs_cm": med("cube_lateral_cm", rows, absolute=True),
            "per_episode": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="default,oracle",
                   help="comma-separated: default, bundle folders, oracle")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--noise-scale", type=float, default=1.0,
                   help="the sampler's initial noise, as `eval --noise-scale` (default 1)")
    p.add_argument("--out", type=Path, default=Path("outputs/push_approach.json"))
    args = p.parse_args()
    if not 1 <= args.episodes <= 1000:
        p.error("--episodes must be between 1 and 1000 (evaluation seeds stay below 1000)")
    if not 0.0 <= args.noise_scale <= 1.0:
        p.error(f"--noise-scale must be in [0, 1], got {args.noise_scale}")
    expert_cm = -ExpertConfig().push_back * 100
    result = {"embodiment": args.embodiment, "seeds": [0, args.episodes - 1],
              "noise_scale": args.noise_scale,
              "expert_descent_along_cm": expert_cm, "models": {}}
    for model in (m for m in args.models.split(",") if m):
        result["models"][model] = measure(model, args.embodiment, args.episodes,
                                          args.noise_scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"push, {args.embodiment}, seeds 0-{args.episodes - 1}, lockstep, medians (cm): "
          f"descent along / |lateral| (expert {expert_cm:g} / 0), behind share, cube along / "
          "|lateral|")
    for model, m in result["models"].items():
        print(f"  {model:24s} {m['successes']}/{m['episodes']} | descent "
              f"{m['descent_along_cm']} / {m['descent_lateral_abs_cm']}, behind "
              f"{m['descent_behind_share']:.0%} | cube {m['cube_along_cm']} / "
              f"{m['cube_lateral_abs_cm']}")
    print("->", args.out)


if __name__ == "__main__":
    main()
