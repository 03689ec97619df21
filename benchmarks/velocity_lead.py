"""How much of the expert's next action a state without velocity cannot tell: per recording,
the share of the variance of the first action's lead (the commanded tool position minus the
tool's, x/y/z) that the tool's motion over the last step explains (least squares, with an
intercept), on the frames where the named cube is held, or on every frame.

    python benchmarks/velocity_lead.py DATASET... [--frames held|all] [--out outputs/lead.json]

The compact model's state is joint positions and the gripper: it sees where the arm is, not
how fast it moves. The expert drives its moves on a trapezoidal profile, so the command leads
the tool by the distance it travels in a step; from one frame the model can only predict the
average lead. A high share here is lead the model cannot know (docs/DAGGER.md). Reads the
recorded ``observation.ee_pose``, ``action`` and ``observation.environment_state`` (no video).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data.atomic import write_text
from cosmos_policy.errors import UserError

HELD_XY_M = 0.03    # the named cube within this x/y distance of the tool
LIFTED_M = 0.03     # its bottom this far above the table
TARGET = slice(0, 3)  # environment_state: target_x/y/z (the named cube) first


def lead_frames(tcp: np.ndarray, action: np.ndarray, target: np.ndarray, episode: np.ndarray,
                cube_half: float, held_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """(motion over the last step, first action's lead), both (N, 3), for the frames that have
    a previous frame in their episode (and, ``held_only``, hold the lifted named cube)."""
    same = episode[1:] == episode[:-1]
    idx = np.flatnonzero(same) + 1
    if held_only:
        cube = target[idx]
        held = ((cube[:, 2] - cube_half > LIFTED_M)
                & (np.linalg.norm(cube[:, :2] - tcp[idx, :2], axis=1) < HELD_XY_M))
        idx = idx[held]
    return tcp[idx] - tcp[idx - 1], action[idx, :3] - tcp[idx]


def explained(motion: np.ndarray, lead: np.ndarray) -> list[float]:
    """R^2 per axis of ``lead`` from ``motion`` (affine least squares)."""
    a = np.c_[motion, np.ones(len(motion))]
    coef, *_ = np.linalg.lstsq(a, lead, rcond=None)
    resid = ((lead - a @ coef) ** 2).sum(0)
    total = ((lead - lead.mean(0)) ** 2).sum(0)
    return [float(1 - r / t) if t > 0 else float("nan") for r, t in zip(resid, total, strict=True)]


def measure(dataset: Path, held_only: bool) -> dict[str, Any]:
    from cosmos_policy.data.lerobot_reader import open_dataset
    from cosmos_policy.sim.tasks import CUBE_HALF

    data = open_dataset(dataset)
    if held_only:
        names = list(data.features.get("observation.environment_state", {}).get("names") or [])
        if names[:3] != ["target_x", "target_y", "target_z"]:
            raise UserError(f"{dataset}: no named cube (target_x/y/z) in its "
                            "observation.environment_state; pass --frames all")
    cols = data.frames(["observation.ee_pose", "action", "episode_index"]
                       + (["observation.environment_state"] if held_only else []))
    tcp = cols["observation.ee_pose"][:, :3].astype(float)
    target = (cols["observation.environment_state"][:, TARGET].astype(float) if held_only
              else np.zeros_like(tcp))
    motion, lead = lead_frames(tcp, cols["action"].astype(float), target,
                               cols["episode_index"], CUBE_HALF, held_only)
    if len(motion) < 10:
        raise UserError(f"{dataset}: {len(motion)} frames to measure; at least 10 needed")
    return {"dataset": str(dataset), "frames": len(motion),
            "r2_xyz": explained(motion, lead),
            "lead_std_cm_xyz": (100 * lead.std(0)).tolist()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("datasets", nargs="+", type=Path)
    p.add_argument("--frames", choices=("held", "all"), default="held")
    p.add_argument("--out", type=Path, default=Path("outputs/velocity_lead.json"))
    a = p.parse_args(argv)
    rows = []
    try:
        for ds in a.datasets:
            rows.append(measure(ds, a.frames == "held"))
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(a.out, json.dumps({"frames": a.frames, "rows": rows}, indent=1))
    print("| recording | frames | lead explained by the last step's motion, R^2 x / y / z "
          "| lead std cm x / y / z |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        r2 = " / ".join(f"{v:.2f}" for v in r["r2_xyz"])
        sd = " / ".join(f"{v:.1f}" for v in r["lead_std_cm_xyz"])
        print(f"| {r['dataset']} | {r['frames']} | {r2} | {sd} |")


if __name__ == "__main__":
    main()
