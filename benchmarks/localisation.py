"""How precisely do trained runs locate the named cube, on held-out demonstrations?

    python benchmarks/localisation.py --runs data/train-s5,data/train-p1ft
        [--embodiments franka,ur5e] [--task reach] [--episodes 30] [--seed 5000]
        [--hold-steps 15] [--data DIR] [--noise-scale 0.7 --draws 4]

Closed-loop reach misses by 3-5 cm go to the right cube, so the question is whether the
model's picture of where the cube is, or the actions it draws from it, is that coarse. For
every run, on the same held-out episodes (scripted expert, seeds from 5000: training uses
1000-4599 and 20000 up, evaluation 0-999), every frame:

* **object head**: the auxiliary head (``RUN/train/object_head.safetensors``, written by
  ``train --object-weight``; never part of a shipped bundle) reads the named cube's position
  off the reasoner; the error is its x/y distance from the simulator's, cm.
* **policy chunk**: the policy's action chunk (the sampler's deterministic path, noise 0;
  ``--noise-scale 0.7 --draws K``: K draws per frame at the closed loop's noise, pooled)
  against the expert's next ``chunk`` actions, mean x/y/z distance of the tool target, cm.
* **fixtures**: the head's yellow region and plate x/y error, cm, where the held-out
  recording holds them (recorded since 2026-12-02) and the head was trained to read them.

Reports medians over frames, and over each episode's first frame alone (where only the
images and the prompt say where the cube is). On pick_place it also reads the carry on the
expert's own states: at every frame where the named cube is held, lifted and away from the
plate (``carry_probe.py``'s test), the policy chunk's x/y move against the direction to the
plate beside the expert's recorded next actions. ``carry_probe.py`` asks the same on the
states the policy visits; the two apart tell a carry the model never learnt from one it
loses when it drifts. Writes JSON (default
outputs/localisation.json). A run without an object head reports the policy part only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cosmos_policy.commands.record import record
from cosmos_policy.models.checkpoint import load_bundle
from cosmos_policy.models.flow import Mode
from cosmos_policy.models.text import PromptEncoder
from cosmos_policy.training.datacache import TrainingData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from carry_probe import carry_frames, summarise  # noqa: E402  (a sibling benchmark)

from cosmos_policy.training.layout import load_layout
from cosmos_policy.training.objects import load_object_head


def _object_head(run: Path, d_model: int) -> nn.Module | None:
    path = run / "train" / "object_head.safetensors"
    if not path.is_file():
        return None
    return load_object_head(path, d_model, load_layout().objects_dim).eval()


def policy_chunks(net: nn.Module, kv: torch.Tensor, key_bias: torch.Tensor,
                  domain: torch.Tensor, action_mask: np.ndarray, gen: torch.Generator,
                  steps: int = 10, noise_scale: float = 0.0) -> torch.Tensor:
    """The policy's normalised chunks for a batch of encoded contexts, through the one
    sampler every backend uses: its deterministic path at noise scale 0, else one draw at
    ``noise_scale`` (the closed loop's own setting, 0.7 for the shipped model)."""
    from cosmos_policy.policy.sampler import draw_noise, euler_sample

    c = net.config
    b = int(key_bias.shape[0])
    x_a, x_l = draw_noise(gen, (b, c.chunk, c.max_action_dim),
                          (b, c.n_cameras, c.latent_channels, c.latent_size, c.latent_size),
                          action_mask, scale=noise_scale)

    def step(xa, xl, ta, tl):
        va, vl = net.denoise_step(kv, key_bias, *(torch.from_numpy(v) for v in (xa, xl, ta, tl)),
                                  domain)
        return va.numpy(), vl.numpy()

    acts, _ = euler_sample(step, x_a, x_l, Mode.POLICY, action_mask, steps)
    return torch.from_numpy(acts)


def measure(run: Path, dataset: Path, noise_scale: float = 0.0, draws: int = 1) -> dict:
    """Per-frame object-head and policy-chunk errors (cm) of ``run`` on ``dataset``; the
    policy part pooled over ``draws`` chunks per frame at ``noise_scale``."""
    net, domains, _ = load_bundle(run)
    net.eval()
    c = net.config
    head = _object_head(run, c.d_model)
    prompts = PromptEncoder(c.max_prompt_tokens)
    data = TrainingData.build([dataset], c, domains)
    data.encode_latents(net.encode_frames)
    gen = torch.Generator().manual_seed(0)
    obj, obj0, pol, pol0 = [], [], [], []
    columns = data.layout.fixture_columns
    tcps = recorded_tcp(dataset, [len(ep.frames) for ep in data.episodes])
    carry: list[dict[str, float]] = []
    fixtures: dict[str, list[float]] = {name: [] for name in columns}
    for i, ep in enumerate(data.episodes):
        dom = domains[ep.domain]
        a_mean, a_std = np.asarray(dom.action_mean), np.asarray(dom.action_std)
        n = len(ep.frames)
        state = np.zeros((n, c.max_state_dim), np.float32)
        state[:, : dom.state_dim] = (ep.state - dom.state_mean) / dom.state_std
        emb, mask = prompts.encode([ep.prompt] * n)
        domain = torch.full((n,), ep.domain, dtype=torch.long)
        amask = torch.zeros(n, c.max_action_dim)
        amask[:, : dom.action_dim] = 1.0
        with torch.no_grad():
            kv, key_bias, summary = net.encode_context(
                torch.from_numpy(ep.latents.astype(np.float32)), emb, mask,
                torch.from_numpy(state), domain, return_summary=True)
            chunks = [policy_chunks(net, kv, key_bias, domain, amask.numpy(), gen,
                                    noise_scale=noise_scale) for _ in range(draws)]
            if head is not None and ep.objects is not None:
                # x/y error (cm) of every object the head reads: (n, objects); NaN where the
                # recording lacks the object (fixtures, recorded since 2026-12-02)
                xyz = head(summary).numpy().reshape(n, -1, 3) * a_std[:3] + a_mean[:3]
                err = np.linalg.norm(xyz[..., :2] - ep.objects.reshape(n, -1, 3)[..., :2],
                                     axis=-1) * 100
                obj.extend(err[:, 0].tolist())
                obj0.append(float(err[0, 0]))
                for name, at in columns.items():
                    if np.isfinite(err[:, at // 3]).all():
                        fixtures[name].extend(err[:, at // 3].tolist())
        steps = np.minimum(np.arange(n)[:, None] + np.arange(c.chunk)[None], n - 1)
        expert_xyz = ep.action[steps][..., :3]  # the expert's next chunk actions
        for acts in chunks:
            xyz = acts[..., :3].numpy() * a_std[:3] + a_mean[:3]  # (n, T, 3)
            err = np.linalg.norm(xyz - expert_xyz, axis=-1).mean(1) * 100
            pol.extend(err.tolist())
            pol0.append(float(err[0]))
            if ep.objects is not None and "plate" in columns:
                carry.extend(expert_state_carry(tcps[i], ep.objects, columns["plate"], xyz,
                                                expert_xyz))

    def med(x: list[float]) -> float | None:
        return round(float(np.median(x)), 2) if x else None

    return {"episodes": len(data.episodes), "frames": len(pol), "patch": c.patch,
            "tokens_per_camera": c.tokens_per_camera,
            "object_xy_cm": {"all_frames": med(obj), "first_frame": med(obj0)},
            "policy_chunk_cm": {"all_frames": med(pol), "first_frame": med(pol0)},
            "fixture_xy_cm": {k: med(v) for k, v in fixtures.items()},
            "carry_on_expert_states": summarise(carry)}


def recorded_tcp(dataset: Path, lengths: list[int]) -> list[np.ndarray]:
    """The recorded tool position (``observation.ee_pose`` x/y/z) of each episode, in the
    order training reads them (checked against their lengths)."""
    from cosmos_policy.data.lerobot_reader import open_dataset

    cols = open_dataset(dataset).frames(["observation.ee_pose", "episode_index"])
    episode = cols["episode_index"]
    order = list(dict.fromkeys(episode.tolist()))
    out = [cols["observation.ee_pose"][episode == e, :3].astype(float) for e in order]
    if [len(t) for t in out] != lengths:
        raise SystemExit(f"{dataset}: its episodes' frame counts {[len(t) for t in out]} do "
                         f"not match what training read ({lengths})")
    return out


def expert_state_carry(tcp: np.ndarray, objects: np.ndarray, plate_at: int,
                       policy_xyz: np.ndarray, expert_xyz: np.ndarray) -> list[dict[str, float]]:
    """``carry_probe.carry_frames`` on a recorded episode: tool (n, 3), objects (n, >= 3;
    the named cube first), the plate's first column, and per frame the policy's and the
    expert's (n, T, 3) tool targets."""
    from cosmos_policy.sim.tasks import CUBE_HALF

    frames = [{"tcp": tcp[t], "cube": objects[t, :3], "plate": objects[t, plate_at:plate_at + 3],
               "policy_chunk": policy_xyz[t], "expert_chunk": expert_xyz[t]}
              for t in range(len(tcp)) if np.isfinite(objects[t, plate_at:plate_at + 3]).all()]
    return carry_frames(frames, CUBE_HALF)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True,
                        help="comma-separated training-run folders (bundle + train/)")
    parser.add_argument("--embodiments", default="franka,ur5e")
    parser.add_argument("--task", default="reach")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=5000, help="first held-out seed")
    parser.add_argument("--hold-steps", type=int, default=15)
    parser.add_argument("--data", type=Path, default=None,
                        help="keep the recorded episodes here (default: a temporary folder)")
    parser.add_argument("--noise-scale", type=float, default=0.0,
                        help="the sampler's noise scale for the policy chunk (0: its "
                        "deterministic path; the closed loop draws at the bundle's, 0.7)")
    parser.add_argument("--draws", type=int, default=1,
                        help="chunks drawn per frame, pooled (with --noise-scale > 0)")
    parser.add_argument("--out", type=Path, default=Path("outputs/localisation.json"))
    args = parser.parse_args()
    if args.noise_scale < 0 or args.draws < 1:
        parser.error("--noise-scale must be >= 0 and --draws >= 1")
    if args.noise_scale == 0 and args.draws > 1:
        parser.error("--draws > 1 repeats the deterministic path: pass --noise-scale too")
    runs = [Path(r) for r in args.runs.split(",") if r]
    for r in runs:
        if not (r / "manifest.json").is_file():
            parser.error(f"{r} is not a model bundle folder")
    result: dict = {"task": args.task, "episodes": args.episodes, "seeds_from": args.seed,
                    "hold_steps": args.hold_steps, "noise_scale": args.noise_scale,
                    "draws": args.draws, "cells": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        for emb in (e for e in args.embodiments.split(",") if e):
            ds = root / f"{emb}-{args.task}"
            if not (ds / "meta" / "info.json").is_file():
                record(ds, args.task, emb, args.episodes, seed=args.seed,
                       hold_steps=args.hold_steps, progress=True, overwrite=True)
            result["cells"][emb] = {str(r): measure(r, ds, args.noise_scale, args.draws)
                                    for r in runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.task}, {args.episodes} held-out episodes per arm (seeds {args.seed}+), "
          "median cm: object head x/y | policy chunk xyz (all frames / first frame)")
    for emb, by_run in result["cells"].items():
        for run, m in by_run.items():
            o, p = m["object_xy_cm"], m["policy_chunk_cm"]
            fx = "".join(f" | {k} {v}" for k, v in m["fixture_xy_cm"].items() if v is not None)
            print(f"  {emb:7s} {run:28s} patch {m['patch']}: object {o['all_frames']} / "
                  f"{o['first_frame']} | policy {p['all_frames']} / {p['first_frame']}{fx}")
            c = m["carry_on_expert_states"]
            if c["frames"]:
                pc, ec = c["policy"], c["expert"]
                print(f"    carry on the expert's states, {c['frames']} frames: towards the "
                      f"plate {pc['towards_share']:.0%} (expert {ec['towards_share']:.0%}), "
                      f"cos median {pc['cos_median']:.2f}, x/y move {pc['xy_median_cm']:.1f} "
                      f"cm ({ec['xy_median_cm']:.1f}), height {pc['dz_median_cm']:.1f} cm "
                      f"({ec['dz_median_cm']:.1f})")
    print("->", args.out)


if __name__ == "__main__":
    main()
