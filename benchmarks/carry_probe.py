"""Where does the policy go while it holds the cube? Pick and place, the policy's chunk against
the scripted expert's own chunk from the same state, on validation seeds.

    python benchmarks/carry_probe.py [--models default,PATH,...] [--embodiment franka]
        [--episodes 8] [--seed 0] [--out outputs/carry_probe.json]

Each model runs ``eval``'s lockstep loop (torch, 50 ms charged latency; the episode's own
seed seeds its sampler). At every policy step where the named cube is held (within 3 cm of the
tool in x/y) and lifted more than 5 cm, and still more than 4 cm from the plate, it compares
the end of the model's chunk (the tool target 8 steps ahead) with the expert's own chunk from
that state (:class:`~cosmos_policy.sim.dagger_rollouts.LabelTap`, the simulator restored
after the look-ahead, so the rollout is the model's alone). Per model: the cosine between the
chunk's x/y move and the direction to the plate (median, and the share of frames above 0.7,
i.e. within 45 degrees), the x/y length of the move and its height change, for the model and
for the expert, and in how many episodes the model carried the cube at all. Rows of
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


def carry_frames(frames: list[dict[str, Any]], cube_half: float) -> list[dict[str, float]]:
    """Per carrying frame (held, lifted, away from the plate): cosine of the policy's and the
    expert's chunk x/y move with the direction to the plate, their x/y lengths and height
    changes. A frame holds ``tcp``, ``cube``, ``plate`` (3,), ``policy_chunk`` and
    ``expert_chunk`` (T, >= 3) absolute tool targets in the base frame."""
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
        row = {}
        for who in ("policy", "expert"):
            move = np.asarray(f[f"{who}_chunk"], dtype=float)[-1, :3] - tcp
            xy = float(np.linalg.norm(move[:2]))
            row[f"{who}_cos"] = float(move[:2] @ to / xy) if xy > 1e-9 else 0.0
            row[f"{who}_xy_m"] = xy
            row[f"{who}_dz_m"] = float(move[2])
        out.append(row)
    return out


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Medians and the share of frames pointing at the plate, per side."""
    if not rows:
        return {"frames": 0}
    out: dict[str, Any] = {"frames": len(rows)}
    for who in ("policy", "expert"):
        cos = np.array([r[f"{who}_cos"] for r in rows])
        out[who] = {"cos_median": float(np.median(cos)),
                    "towards_share": float(np.mean(cos > TOWARDS)),
                    "xy_median_cm": 100 * float(np.median([r[f"{who}_xy_m"] for r in rows])),
                    "dz_median_cm": 100 * float(np.median([r[f"{who}_dz_m"] for r in rows]))}
    return out


def probe_model(model: str, embodiment: str, seeds: list[int], on_episode) -> None:
    """Run ``model`` on pick_place ``seeds``; ``on_episode(seed, success, frames)``."""
    from cosmos_policy.data.layout import CHUNK_KEY, vector_feature
    from cosmos_policy.sim.dagger import model_chunk
    from cosmos_policy.sim.dagger_rollouts import LabelTap, dataset_features, lockstep_evaluator

    chunk = model_chunk(model)
    ev = lockstep_evaluator(model, "pick_place", embodiment, backend="torch", image_size=128,
                    seed=seeds[0], latency_s=0.05, max_steps=None)
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
                         "plate": s.plate_pos().tolist()})

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
             "| cos median | x/y move cm | height change cm |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for model, res in results.items():
        s, eps = res["summary"], res.get("episodes", [])
        carrying = f"{sum(e['carry_frames'] > 0 for e in eps)}/{len(eps)}"
        if not s["frames"]:
            lines.append(f"| {model} | {carrying} | 0 | - | - | - | - |")
            continue
        p, e = s["policy"], s["expert"]
        lines.append(f"| {model} | {carrying} | {s['frames']} | {p['towards_share']:.0%} (expert "
                     f"{e['towards_share']:.0%}) | {p['cos_median']:.2f} ({e['cos_median']:.2f}) "
                     f"| {p['xy_median_cm']:.1f} ({e['xy_median_cm']:.1f}) | "
                     f"{p['dz_median_cm']:.1f} ({e['dz_median_cm']:.1f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from cosmos_policy.sim.suite import load_suite
    from cosmos_policy.sim.tasks import CUBE_HALF

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="default", help="comma-separated: default or bundles")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--seed", type=int, default=None, help="first seed (validation split)")
    p.add_argument("--out", type=Path, default=Path("outputs/carry_probe.json"))
    a = p.parse_args(argv)
    split = load_suite().split("validation")
    first = split.first if a.seed is None else a.seed
    if a.episodes < 1 or not (split.contains(first) and split.contains(first + a.episodes - 1)):
        raise SystemExit(f"error: seeds {first}-{first + a.episodes - 1} leave the validation "
                         f"split ({split.describe()})")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for model in a.models.split(","):
        res = results[model] = {"episodes": [], "rows": [], "summary": {"frames": 0}}

        def on_episode(seed, success, frames, res=res, model=model):
            rows = carry_frames(frames, CUBE_HALF)
            res["episodes"].append({"seed": seed, "success": success, "carry_frames": len(rows)})
            res["rows"].extend(rows)
            res["summary"] = summarise(res["rows"])
            print(f"{model} seed {seed}: success {success}, carrying frames {len(rows)}",
                  flush=True)
            write_text(a.out, json.dumps({"embodiment": a.embodiment, "results": results},
                                         indent=1))

        try:
            probe_model(model, a.embodiment, list(range(first, first + a.episodes)), on_episode)
        except UserError as exc:
            raise SystemExit(f"error: {exc}") from None
    print(table(results))


if __name__ == "__main__":
    main()
