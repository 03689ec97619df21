"""How far off its own path can the scripted expert's manoeuvre start and still succeed?

    python benchmarks/expert_tolerance.py --episodes 6 --out outputs/bench/expert_tolerance.json

The experts' DAgger labels (``label_config`` in cosmos_policy/sim/expert_config.py) count a
policy's state as the manoeuvre under way within these offsets. Two trials, no camera
rendered, seeds from the training split (70000 up):

* grasp: the pick_place expert descends beside the cube's centre (``xy`` cm in a direction
  drawn per episode) with its jaws turned ``yaw`` rad off the cube's faces, closes and lifts;
  counted when the first grasp lifts the cube (more than 5 cm, at the end of the lift).
* push: the push expert comes down ``lateral`` cm beside the start of its line (alternating
  sides) and pushes, steering back, with the re-align limit ``--push-lateral`` (the strict
  expert's is 2 cm); counted when the episode is won.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from cosmos_policy.sim import make_env  # noqa: E402
from cosmos_policy.sim.experts import ExpertConfig, PickPlaceExpert, PushExpert  # noqa: E402
from cosmos_policy.sim.rollout import run_episode  # noqa: E402

SEED = 70000


def beside(task: str, env: Any, offset: np.ndarray | float, yaw: float = 0.0,
           config: ExpertConfig | None = None) -> Any:
    """The expert of ``task`` with its approach moved aside: pick_place descends to the cube's
    centre + ``offset`` (x, y) with its jaws ``yaw`` rad off the faces; push comes down
    ``offset`` m beside the start of its line (+: left of the push direction). It records
    ``first_grasp`` (pick_place: True/False once its first lift ends or fails)."""
    base = PickPlaceExpert if task == "pick_place" else PushExpert

    class Beside(base):  # type: ignore[misc, valid-type]
        def reset(self) -> None:
            super().reset()
            self.first_grasp: bool | None = None

        def plan(self) -> tuple[np.ndarray, float, float, float]:
            c, s = self.cfg, self.scene
            cube = s.cube_pos(self.color)
            if task == "pick_place" and self.phase in (0, 1):
                xy = np.asarray(offset, dtype=float)
                target = cube + [xy[0], xy[1], self.hover if self.phase == 0 else 0.0]
                turn = self._cube_yaw() + yaw
                if self.phase == 0:
                    if self._arrived(target, 0.015) and abs(self.yaw - turn) < 0.02:
                        self._next()
                elif self._arrived(target, 0.008) or self.count > 25:
                    self._next()
                return target, turn, 0.0, c.slow
            if task == "push" and self.phase in (1, 2):
                d = s.region_pos()[:2] - cube[:2]
                d /= max(float(np.linalg.norm(d)), 1e-9)
                side = np.array([-d[1], d[0]]) * float(offset)
                start = np.array([*(cube[:2] - d * c.push_back + side), c.push_z])
                target = start + [0.0, 0.0, 0.08 if self.phase == 1 else 0.0]
                if self._arrived(target, 0.02 if self.phase == 1 else 0.008) or self.count > 40:
                    self._next()
                return target, 0.0, 1.0, c.slow
            before = self.phase
            out = super().plan()
            if task == "pick_place" and self.first_grasp is None:
                if before == 3 and self.phase == 4:  # the lift ended: is the cube up?
                    self.first_grasp = bool(s.cube_pos(self.color)[2] > 0.05)
                elif before in (3, 4) and self.phase == 0:  # dropped: start over
                    self.first_grasp = False
            return out

    return Beside(env, config)


def grasp_cell(embodiment: str, xy_cm: float, yaw: float, episodes: int) -> int:
    """First grasps that lifted, of ``episodes``, ``xy_cm`` beside the centre."""
    env = make_env("pick_place", embodiment, cameras=())
    try:
        lifted = 0
        for i in range(episodes):
            angle = np.random.default_rng(i).uniform(0.0, 2.0 * np.pi)
            offset = xy_cm / 100.0 * np.array([np.cos(angle), np.sin(angle)])
            expert = beside("pick_place", env, offset, yaw)
            run_episode(env, expert, SEED + i, record=False)
            lifted += bool(expert.first_grasp)
        return lifted
    finally:
        env.close()


def push_cell(embodiment: str, lateral_cm: float, push_lateral: float, episodes: int) -> int:
    """Pushes won, of ``episodes`` begun ``lateral_cm`` beside the line."""
    env = make_env("push", embodiment, cameras=())
    try:
        won = 0
        for i in range(episodes):
            side = lateral_cm / 100.0 * (1 if i % 2 else -1)
            expert = beside("push", env, side, config=ExpertConfig(push_lateral=push_lateral))
            won += bool(run_episode(env, expert, SEED + i, record=False).success)
        return won
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=6, help="episodes per cell")
    parser.add_argument("--embodiments", default="franka,ur5e")
    parser.add_argument("--grasp-xy", default="0,1,1.5,2,2.5,3", help="cm beside the centre")
    parser.add_argument("--grasp-yaw", default="0,0.3", help="rad off the cube's faces")
    parser.add_argument("--push-lateral-cm", default="0,1.5,2,2.5,3", help="cm off the line")
    parser.add_argument("--push-lateral", type=float, default=0.045,
                        help="re-align limit (m) while pushing (the strict expert's: 0.02)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/expert_tolerance.json"))
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    floats = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731
    rows = []
    for emb in [e for e in args.embodiments.split(",") if e]:
        for xy in floats(args.grasp_xy):
            for yaw in floats(args.grasp_yaw):
                n = grasp_cell(emb, xy, yaw, args.episodes)
                rows.append({"trial": "grasp", "embodiment": emb, "xy_cm": xy, "yaw_rad": yaw,
                             "succeeded": n, "episodes": args.episodes})
                print(f"grasp {emb:7s} {xy:4.1f} cm {yaw:4.2f} rad: lifted {n}/{args.episodes}",
                      flush=True)
        for lat in floats(args.push_lateral_cm):
            n = push_cell(emb, lat, args.push_lateral, args.episodes)
            rows.append({"trial": "push", "embodiment": emb, "lateral_cm": lat,
                         "push_lateral": args.push_lateral, "succeeded": n,
                         "episodes": args.episodes})
            print(f"push  {emb:7s} {lat:4.1f} cm off the line: won {n}/{args.episodes}",
                  flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": SEED, "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
