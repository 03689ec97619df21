"""Where does the policy go while it holds the cube? Pick and place, the policy's chunk against
the scripted expert's own chunk from the same state, on validation seeds.

    python benchmarks/carry_probe.py [--models default,PATH,...] [--embodiment franka]
        [--episodes 8] [--seed 0] [--guidance 1] [--out outputs/carry_probe.json]

Each model runs ``eval``'s lockstep loop (torch, 50 ms charged latency; the episode's own
seed seeds its sampler). At every policy step where the named cube is held (within 3 cm of the
tool in x/y) and lifted more than 5 cm, and still more than 4 cm from the plate, it compares
the end of the model's chunk (the tool target 8 steps ahead) with the expert's own chunk from
that state (:class:`~cosmos_policy.sim.dagger_rollouts.LabelTap`, the simulator restored
after the look-ahead, so the rollout is the model's alone). Per model: the cosine between the
chunk's x/y move and the direction to the plate (median, and the share of frames above 0.7,
i.e. within 45 degrees), the x/y length of the move and its height change, for the model and
for the expert, and in how many episodes the model carried the cube at all; how often the
policy's move turns round between consecutive carrying frames (more than 90 degrees: dithering
between goals); and, in the frames where the held cube is over the plate (within 2 cm of its
centre, not yet set down), how often the chunk sets it down (lowers 1 cm or opens the jaws),
the model's against the expert's. Each row keeps the scene it was read in (step, tool
orientation, joints, every cube, the region) for a closer look. Rows of
different models share seeds and layouts, not states: each model visits its own. The model
samples with its own noise scale (its manifest's). Writes JSON after every episode
(``--out``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data.atomic import write_text
from cosmos_policy.errors import UserError

LIFT_M = 0.05   # cube bottom above the table
HELD_M = 0.03   # cube within this x/y distance of the tool
NEAR_PLATE_M = 0.04  # closer than this to the plate: placing, not carrying
TOWARDS = 0.7   # cosine: within about 45 degrees
OVER_PLATE_M = 0.02  # the held cube this close to the plate's centre (x/y): set it down
SET_DOWN_M = 0.01    # cube bottom less than this above the plate's top: already set down


def _moves(f: dict[str, Any], tcp: np.ndarray, row: dict[str, Any]) -> None:
    """The policy's and the expert's chunk ends against the tool now: x/y move, height change
    and the gripper command at the chunk's end (1 closed, 0 open), into ``row``."""
    for who in ("policy", "expert"):
        chunk = np.asarray(f[f"{who}_chunk"], dtype=float)
        move = chunk[-1, :3] - tcp
        row[f"{who}_move_m"] = move.tolist()
        row[f"{who}_xy_m"] = float(np.linalg.norm(move[:2]))
        row[f"{who}_dz_m"] = float(move[2])
        row[f"{who}_grip_end"] = float(chunk[-1, -1]) if chunk.shape[1] >= 10 else float("nan")


def _scene(f: dict[str, Any]) -> dict[str, Any]:
    """What the frame recorded of the scene (everything but the chunks), kept with the row."""
    return {k: v for k, v in f.items() if not k.endswith("_chunk")}


def carry_frames(frames: list[dict[str, Any]], cube_half: float) -> list[dict[str, Any]]:
    """Per carrying frame (held, lifted, away from the plate): cosine of the policy's and the
    expert's chunk x/y move with the direction to the plate, their x/y lengths and height
    changes. A frame holds ``tcp``, ``cube``, ``plate`` (3,), ``policy_chunk`` and
    ``expert_chunk`` (T, >= 3) absolute tool targets in the base frame; whatever else it
    holds (the step, joints, the other objects) is kept as the row's ``scene``."""
    out = []
    for f in frames:
        tcp, cube, plate = (np.asarray(f[k], dtype=float) for k in ("tcp", "cube", "plate"))
        if f.get("policy_chunk") is None or cube[2] - cube_half < LIFT_M:
            continue
        if np.linalg.norm(cube[:2] - tcp[:2]) > HELD_M:
            continue
        to = plate[:2] - cube[:2]
        if np.linalg.norm(to) < NEAR_PLATE_M:
            continue
        to = to / np.linalg.norm(to)
        row: dict[str, Any] = {"scene": _scene(f)}
        _moves(f, tcp, row)
        for who in ("policy", "expert"):
            xy = row[f"{who}_xy_m"]
            row[f"{who}_cos"] = (float(np.asarray(row[f"{who}_move_m"])[:2] @ to / xy)
                                 if xy > 1e-9 else 0.0)
        out.append(row)
    return out


def place_frames(frames: list[dict[str, Any]], cube_half: float, plate_top: float
                 ) -> list[dict[str, Any]]:
    """Frames where the held cube is above the plate (within ``OVER_PLATE_M`` of its centre in
    x/y, its bottom above the plate's rim): the moment to set it down. Per frame the policy's
    and the expert's chunk end (height change, gripper command)."""
    out = []
    for f in frames:
        tcp, cube, plate = (np.asarray(f[k], dtype=float) for k in ("tcp", "cube", "plate"))
        if f.get("policy_chunk") is None or np.linalg.norm(cube[:2] - tcp[:2]) > HELD_M:
            continue
        if np.linalg.norm(plate[:2] - cube[:2]) > OVER_PLATE_M:
            continue
        if cube[2] - cube_half < plate_top + SET_DOWN_M:  # resting on the plate already
            continue
        row: dict[str, Any] = {"scene": _scene(f)}
        _moves(f, tcp, row)
        # the whole chunk's tool positions: where in it the descent starts
        row["policy_path_m"] = np.asarray(f["policy_chunk"], dtype=float)[:, :3].tolist()
        out.append(row)
    return out


def sets_down(row: dict[str, Any], who: str) -> bool:
    """The chunk lowers the cube (1 cm or more) or opens the jaws (command below half)."""
    return bool(row[f"{who}_dz_m"] < -0.01 or row[f"{who}_grip_end"] < 0.5)


def reversals(rows: list[dict[str, Any]]) -> float | None:
    """Share of consecutive carrying frames (steps t, t + 1, both moving 1 cm or more) whose
    policy x/y moves point more than 90 degrees apart: a policy dithering between goals."""
    flips = []
    for a, b in zip(rows, rows[1:], strict=False):
        step_a, step_b = a["scene"].get("step"), b["scene"].get("step")
        if step_a is None or step_b != step_a + 1:
            continue
        ma, mb = (np.asarray(r["policy_move_m"])[:2] for r in (a, b))
        if min(np.linalg.norm(ma), np.linalg.norm(mb)) < 0.01:
            continue
        flips.append(float(ma @ mb) < 0.0)
    return float(np.mean(flips)) if flips else None


def summarise(rows: list[dict[str, Any]], placing: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """Medians and the share of frames pointing at the plate, per side; the policy's direction
    reversals; over the plate, how often each side sets the cube down."""
    out: dict[str, Any] = {"frames": len(rows)}
    if placing:
        out["over_plate"] = {"frames": len(placing),
                             **{f"{who}_sets_down": float(np.mean([sets_down(r, who)
                                                                  for r in placing]))
                                for who in ("policy", "expert")}}
    if not rows:
        return out
    out["reversals"] = reversals(rows)
    for who in ("policy", "expert"):
        cos = np.array([r[f"{who}_cos"] for r in rows])
        out[who] = {"cos_median": float(np.median(cos)),
                    "towards_share": float(np.mean(cos > TOWARDS)),
                    "xy_median_cm": 100 * float(np.median([r[f"{who}_xy_m"] for r in rows])),
                    "dz_median_cm": 100 * float(np.median([r[f"{who}_dz_m"] for r in rows]))}
    return out


def probe_model(model: str, embodiment: str, seeds: list[int], on_episode,
                guidance: float = 1.0) -> None:
    """Run ``model`` on pick_place ``seeds`` (with prompt ``guidance``, eval's
    ``--guidance``); ``on_episode(seed, success, frames)``."""
    from cosmos_policy.data.layout import CHUNK_KEY, vector_feature
    from cosmos_policy.sim.dagger import model_chunk
    from cosmos_policy.sim.dagger_rollouts import LabelTap, dataset_features, lockstep_evaluator

    chunk = model_chunk(model)
    ev = lockstep_evaluator(model, "pick_place", embodiment, backend="torch", image_size=128,
                    seed=seeds[0], latency_s=0.05, max_steps=None, guidance=guidance)
    try:
        features, cameras, read_objects = dataset_features(ev.env)
        features[CHUNK_KEY] = vector_feature([f"a{k}" for k in range(chunk)])
        period = 1.0 / ev.emb.control_rate_hz
        calls: dict[int, np.ndarray] = {}
        rows: list[dict[str, Any]] = []
        inner = ev.model.policy

        def policy(obs):
            result = inner(obs)
            calls[round(obs.timestamp / period)] = result.actions.copy()
            return result

        def on_frame(env, label, command):
            s, color = env.scene, env.task.color
            rows.append({"tcp": s.tcp_pos().tolist(), "cube": s.cube_pos(color).tolist(),
                         "plate": s.plate_pos().tolist(), "step": len(rows),
                         "gripper": float(s.gripper_opening()),
                         "tool_rot6": s.tcp_rot()[:, :2].T.reshape(-1).tolist(),
                         "q": s.arm_q().tolist(),
                         "cubes": {c: s.cube_pos(c).tolist() for c in s.cube_body},
                         "region": s.region_pos().tolist()})

        ev.model.policy = policy
        tap = LabelTap(ev, features, cameras, read_objects, on_frame, chunk=chunk)
        for seed in seeds:
            calls.clear()
            rows.clear()
            tap.begin()
            run = ev.run_episode(seed)
            for i, (row, expert) in enumerate(zip(rows, tap.rows[CHUNK_KEY], strict=True)):
                row["expert_chunk"] = np.asarray(expert).reshape(chunk, -1).tolist()
                own = calls.get(i)
                row["policy_chunk"] = None if own is None else own.tolist()
            on_episode(seed, bool(run.success), list(rows))
    finally:
        ev.close()


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| model | episodes carrying | carrying frames | towards plate (cos > 0.7) "
             "| cos median | x/y move cm | height change cm | reversals | over the plate: frames, "
             "sets down |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model, res in results.items():
        s, eps = res["summary"], res.get("episodes", [])
        carrying = f"{sum(e['carry_frames'] > 0 for e in eps)}/{len(eps)}"
        over = s.get("over_plate")
        place = (f"{over['frames']}, {over['policy_sets_down']:.0%} (expert "
                 f"{over['expert_sets_down']:.0%})" if over else "0")
        if "policy" not in s:
            lines.append(f"| {model} | {carrying} | 0 | - | - | - | - | - | {place} |")
            continue
        p, e = s["policy"], s["expert"]
        rev = "-" if s["reversals"] is None else f"{s['reversals']:.0%}"
        lines.append(f"| {model} | {carrying} | {s['frames']} | {p['towards_share']:.0%} (expert "
                     f"{e['towards_share']:.0%}) | {p['cos_median']:.2f} ({e['cos_median']:.2f}) "
                     f"| {p['xy_median_cm']:.1f} ({e['xy_median_cm']:.1f}) | "
                     f"{p['dz_median_cm']:.1f} ({e['dz_median_cm']:.1f}) | {rev} | {place} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from cosmos_policy.sim.scene import PLATE_TOP
    from cosmos_policy.sim.suite import load_suite
    from cosmos_policy.sim.tasks import CUBE_HALF

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="default", help="comma-separated: default or bundles")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--seed", type=int, default=None, help="first seed (validation split)")
    p.add_argument("--out", type=Path, default=Path("outputs/carry_probe.json"))
    p.add_argument("--guidance", type=float, default=1.0,
                   help="prompt guidance of the models' chunks (eval's --guidance)")
    a = p.parse_args(argv)
    split = load_suite().split("validation")
    first = split.first if a.seed is None else a.seed
    if a.episodes < 1 or not (split.contains(first) and split.contains(first + a.episodes - 1)):
        raise SystemExit(f"error: seeds {first}-{first + a.episodes - 1} leave the validation "
                         f"split ({split.describe()})")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for model in a.models.split(","):
        res = results[model] = {"episodes": [], "rows": [], "placing": [],
                                "summary": {"frames": 0}}

        def on_episode(seed, success, frames, res=res, model=model):
            rows = carry_frames(frames, CUBE_HALF)
            placing = place_frames(frames, CUBE_HALF, PLATE_TOP)
            res["episodes"].append({"seed": seed, "success": success, "carry_frames": len(rows),
                                    "over_plate_frames": len(placing)})
            res["rows"].extend(rows)
            res["placing"].extend(placing)
            res["summary"] = summarise(res["rows"], res["placing"])
            print(f"{model} seed {seed}: success {success}, carrying frames {len(rows)}",
                  flush=True)
            write_text(a.out, json.dumps({"embodiment": a.embodiment, "results": results},
                                         indent=1))

        try:
            probe_model(model, a.embodiment, list(range(first, first + a.episodes)), on_episode,
                        guidance=a.guidance)
        except UserError as exc:
            raise SystemExit(f"error: {exc}") from None
    print(table(results))


if __name__ == "__main__":
    main()
