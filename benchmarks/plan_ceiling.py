"""How much would a perfect scene estimate give? A model with a plan token, its own estimate
against the simulator's true positions, closed loop, on the same seeds.

    PYTHONPATH=. python benchmarks/plan_ceiling.py --model data/train-s10 \
        [--tasks reach,push] [--embodiment franka] [--episodes 20] [--noise-scale 0] \
        [--data DATASET] [--out outputs/plan_ceiling.json]

A model trained with ``train --plan`` reads its reasoner's estimate of the named cube's, the
cubes' and the goals' positions through one generator token. Run once with that estimate and
once with the true positions in its place (``CompactWAM.plan_source``, a diagnostic hook the
runtime never sets), lockstep, torch backend, seeds 0..N-1 (disjoint from training). If the
true positions lift success, the estimate limits the policy; if not, the generator's actions
do. Also reports the task's final error (median, cm) of the failures.

With ``--data`` (a recorded dataset with ``observation.environment_state``), also how much
the generator listens to the token, open loop: on 64 frames, the policy chunk (noise 0) with
the true positions in the token, then with the named cube moved 5 cm along x in the token
only (the images unchanged). A generator that acts on the token moves its chunk by up to
5 cm; one that reads the positions off the image tokens instead barely moves it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cosmos_policy.sim.evaluate import EvalConfig, Evaluator


def measure(model: str, task: str, embodiment: str, episodes: int, true_plan: bool,
            noise_scale: float) -> dict:
    cfg = EvalConfig(task=task, embodiment=embodiment, episodes=episodes, model=model,
                     backend="torch", lockstep=True, videos=0, noise_scale=noise_scale)
    ev = Evaluator(cfg)
    try:
        ev.plan_model()  # a model without a plan token fails here, before any episode
        if true_plan:
            ev.feed_true_plan()
        runs = [ev.run_episode(s) for s in cfg.seeds()]
    finally:
        ev.close()
    misses = [r.distances_m[-1] * 100 for r in runs if not r.success and r.distances_m]
    return {"successes": sum(r.success for r in runs), "episodes": len(runs),
            "failure_final_error_cm": round(float(np.median(misses)), 2) if misses else None,
            "per_episode": [{"seed": r.seed, "success": r.success} for r in runs]}


def sensitivity(model: str, dataset: Path, frames: int = 64) -> dict:
    """Median x shift (cm) of the chunk's first and last action when the token's named cube
    moves 5 cm along x; and the plan head's named-cube error (cm) on those frames."""
    import torch

    from cosmos_policy.models.checkpoint import load_bundle
    from cosmos_policy.models.datacache import TrainingData
    from cosmos_policy.models.flow import Mode, sample
    from cosmos_policy.models.text import PromptEncoder

    net, domains, _ = load_bundle(model)
    net.eval()
    c = net.config
    data = TrainingData.build([dataset], c, domains)
    data.encode_latents(net.encode_frames)
    b = data.sample(np.random.default_rng(0), frames, 0.5, 8)
    emb, mask = PromptEncoder(c.max_prompt_tokens).encode(b["prompts"])
    std = np.asarray(domains[int(b["domain"][0])].action_std[:3])
    amask = (b["action_mask"] > 0).float()

    def chunk(plan: torch.Tensor | None) -> tuple[np.ndarray, torch.Tensor]:
        with torch.no_grad():
            kv, kb, summary = net.encode_context(b["latents"], emb, mask, b["state"],
                                                 b["domain"], return_summary=True, plan=plan)
            a, _ = sample(net, kv, kb, b["domain"], Mode.POLICY, amask, 10,
                          torch.Generator().manual_seed(0), noise_scale=0.0)
            return a[..., :3].numpy() * std, net.plan_head(summary)

    true = b["objects"]
    base, estimate = chunk(true)
    moved = true.clone()
    moved[:, 0] += 0.05 / std[0]
    shifted, _ = chunk(moved)
    err = np.linalg.norm((estimate - true)[:, :3].numpy() * std, axis=1) * 100
    return {"frames": frames, "plan_head_named_cube_error_cm": round(float(np.median(err)), 2),
            "chunk_x_shift_cm_first": round(float(np.median(shifted[:, 0, 0] - base[:, 0, 0]))
                                            * 100, 3),
            "chunk_x_shift_cm_last": round(float(np.median(shifted[:, -1, 0] - base[:, -1, 0]))
                                           * 100, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a bundle trained with --plan")
    p.add_argument("--tasks", default="reach,push")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--noise-scale", type=float, default=0.0)
    p.add_argument("--data", type=Path, default=None,
                   help="a recorded dataset for the open-loop sensitivity check")
    p.add_argument("--out", type=Path, default=Path("outputs/plan_ceiling.json"))
    a = p.parse_args()
    report: dict = {"model": a.model, "embodiment": a.embodiment, "noise_scale": a.noise_scale,
                    "tasks": {}}
    if a.episodes > 0:
        print(f"{a.model}, {a.embodiment}, seeds 0-{a.episodes - 1}, lockstep: successes "
              "(own estimate | true positions), median final error of the failures (cm)")
    for task in (t for t in a.tasks.split(",") if t and a.episodes > 0):
        own = measure(a.model, task, a.embodiment, a.episodes, False, a.noise_scale)
        true = measure(a.model, task, a.embodiment, a.episodes, True, a.noise_scale)
        report["tasks"][task] = {"own_estimate": own, "true_positions": true}
        print(f"  {task:10s} {own['successes']:3d}/{a.episodes} | {true['successes']:3d}/"
              f"{a.episodes}   misses {own['failure_final_error_cm']} | "
              f"{true['failure_final_error_cm']} cm")
    if a.data is not None:
        report["sensitivity"] = sens = sensitivity(a.model, a.data)
        print(f"  token's named cube moved 5 cm in x -> chunk moves "
              f"{sens['chunk_x_shift_cm_first']} cm (first action), "
              f"{sens['chunk_x_shift_cm_last']} cm (last); plan head "
              f"error {sens['plan_head_named_cube_error_cm']} cm ({a.data})")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
