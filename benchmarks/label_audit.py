"""Do a dataset's labels tell the policy to abandon what it was doing well?

    python benchmarks/label_audit.py DATASET... [--out outputs/label_audit.json]

For recordings of pick_place and push (demonstrations or DAgger rollouts, the layout
``record`` and ``dagger`` write), from the stored tool pose, object positions and actions,
no video decoded:

* pick_place: the 12 frames before each first lift of the named cube (its centre more than
  3 cm above the table: a grasp that worked). Share of those frames whose label rises more
  than 1 cm above the tool, whose label opens the jaws, and whose label does both (gives the
  grasp up: rising with closed jaws is lifting it). In demonstrations that window is the
  expert's own descend, close and start of the lift; in DAgger data it is the policy's, and a
  label that rises open there tells the policy to give up a grasp that was about to work.
* push: the frames where the cube moves more than 2 mm towards the region in one step (a
  push under way). Share whose label rises more than 1 cm (lift to re-align).

The named cube is ``observation.environment_state``'s first three values and the region the
13th-15th (the tabletop suite's layout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

RISE_M = 0.01
LIFTED_Z = 0.03   # cube centre above the table: lifted
BEFORE = 12       # frames before a lift
PUSH_STEP_M = 0.002


def _share(flags: list[bool]) -> float | None:
    """The share of True among ``flags`` (None: no frame to count)."""
    return float(np.mean(flags)) if flags else None


def pick_window(action: np.ndarray, tcp: np.ndarray, cube: np.ndarray,
                episode: np.ndarray) -> dict[str, Any]:
    """Labels in the ``BEFORE`` frames before each episode's first lift."""
    rise, opened, give_up, lifts = [], [], [], 0
    for e in np.unique(episode):
        idx = np.flatnonzero(episode == e)
        up = np.flatnonzero(cube[idx, 2] > LIFTED_Z)
        if not len(up):
            continue
        lifts += 1
        w = idx[max(0, up[0] - BEFORE): up[0]]
        up_w, open_w = action[w, 2] - tcp[w, 2] > RISE_M, action[w, -1] < 0.5
        rise.extend(up_w)
        opened.extend(open_w)
        give_up.extend(up_w & open_w)
    return {"episodes": int(len(np.unique(episode))), "lifts": lifts, "frames": len(rise),
            "rise_share": _share(rise), "open_share": _share(opened),
            "give_up_share": _share(give_up)}


def push_frames(action: np.ndarray, tcp: np.ndarray, cube: np.ndarray, region: np.ndarray,
                episode: np.ndarray) -> dict[str, Any]:
    """Labels where the cube moved towards the region by more than ``PUSH_STEP_M``."""
    rise = []
    for e in np.unique(episode):
        idx = np.flatnonzero(episode == e)
        dist = np.linalg.norm(region[idx, :2] - cube[idx, :2], axis=1)
        w = idx[:-1][dist[:-1] - dist[1:] > PUSH_STEP_M]
        rise.extend(action[w, 2] - tcp[w, 2] > RISE_M)
    return {"episodes": int(len(np.unique(episode))), "frames": len(rise),
            "rise_share": _share(rise)}


def task_of(info: dict[str, Any], root: Path) -> str:
    """The task a recording's provenance names (``record`` and ``dagger`` both write it); a
    folder without it is refused rather than guessed from its name."""
    from cosmos_policy.errors import UserError

    task = info.get("task")
    if not isinstance(task, str) or not task:
        raise UserError(f"{root}: meta/info.json names no task (cosmos_policy.task); audit "
                        "recordings written by `cosmos-policy record` or `dagger`")
    return task


def audit(root: Path) -> dict[str, Any]:
    from cosmos_policy.data.lerobot_reader import open_dataset

    ds = open_dataset(root)
    cols = ds.frames(["action", "observation.ee_pose", "observation.environment_state",
                      "episode_index"])
    action, tcp = cols["action"], cols["observation.ee_pose"][:, :3]
    objects, episode = cols["observation.environment_state"], cols["episode_index"]
    info = ds.info.get("cosmos_policy", {})
    task = task_of(info, root)
    out = {"dataset": str(root), "task": task, "source": info.get("source", "demonstrations"),
           "labels": info.get("labels", "strict") if info.get("source") == "dagger" else "-"}
    if task == "pick_place":
        return out | pick_window(action, tcp, objects[:, :3], episode)
    if task == "push":
        return out | push_frames(action, tcp, objects[:, :3], objects[:, 12:15], episode)
    return out | {"skipped": f"task {task}"}


def main(argv: list[str] | None = None) -> int:
    from cosmos_policy.data.atomic import write_text

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("datasets", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("outputs/label_audit.json"))
    a = p.parse_args(argv)
    from cosmos_policy.errors import UserError

    try:
        rows = [audit(d) for d in a.datasets]
    except UserError as exc:
        print(f"label_audit: {exc}", file=sys.stderr)
        return 2
    print("| dataset | task | labels | episodes | frames | label rises > 1 cm | label opens "
          "| rises open |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
    for r in rows:
        print(f"| {'/'.join(Path(r['dataset']).parts[-3:])} | {r['task']} | "
              f"{r['labels']} | {r['episodes']} | {r['frames']} | {pct(r.get('rise_share'))} "
              f"| {pct(r.get('open_share'))} | {pct(r.get('give_up_share'))} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(a.out, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
