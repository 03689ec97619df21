"""``cosmos-policy eval-dynamics``: forward/inverse dynamics of a model vs the simulator."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cosmos_policy.commands import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", required=True, choices=("forward", "inverse"))
    parser.add_argument("--task", required=True, help="reach, push or pick_place")
    options.add_embodiment(parser)
    parser.add_argument("--episodes", type=int, default=5, help="expert episodes (default 5)")
    options.add_model(parser)
    options.add_backend(parser)
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed (default 0; training uses 1000 and up)")
    parser.add_argument("--stride", type=int, default=4, help="policy steps between windows")
    options.add_image_size(parser)
    parser.add_argument("--max-steps", type=int, default=None, help="expert steps per episode")
    parser.add_argument("--noise-scale", type=float, default=1.0, metavar="S",
                        help="scale of the sampler's initial noise, 0 to 1 (default 1: a sampled "
                        "prediction; 0: the deterministic path, near the average outcome)")
    parser.add_argument("--static-threshold", type=int, default=None, metavar="N",
                        help="forward: also score the prediction with the observed pixels kept "
                        "where it changes them by less than N levels (default 16; 0: the "
                        "composed score equals the plain one)")
    options.add_out(parser, "folder (default outputs/eval/<task>-<embodiment>-dynamics)")
    options.add_cosmos3(parser)
    parser.add_argument("--rerun", default=None, metavar="FILE.rrd",
                        help="forward: a Rerun recording per episode, the imagined frames "
                        "beside the simulator's (needs the viz extra; docs/VIZ.md)")
    parser.add_argument("--rerun-connect", default=None, metavar="ADDR",
                        help="forward: stream the recordings to a running Rerun viewer")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.errors import UserError
    from cosmos_policy.models.autoencoder import STATIC_THRESHOLD
    from cosmos_policy.models.flow import check_noise_scale
    from cosmos_policy.policy.registry import load_model
    from cosmos_policy.sim.env import make_env
    from cosmos_policy.sim.eval_dynamics import expert_episode, forward_eval, inverse_eval
    from cosmos_policy.sim.evaluate import TRAINING_SEED_START

    if args.model == "oracle":
        raise UserError("the oracle only acts; pass --model default or a bundle folder")
    if args.episodes < 1 or args.stride < 1:
        raise UserError("--episodes and --stride must be at least 1")
    threshold = STATIC_THRESHOLD if args.static_threshold is None else args.static_threshold
    if not 0 <= threshold <= 255:
        raise UserError(f"--static-threshold {threshold}: expected 0 to 255 (uint8 levels)")
    if args.seed < 0 or args.seed + args.episodes > TRAINING_SEED_START:
        raise UserError(f"seeds must stay below {TRAINING_SEED_START} (training seeds)")
    # Policy checkpoints and the stand-ins only act: no forward or inverse dynamics to score.
    options.resolve_model(args, kinds=("bundle", "engine", "cosmos3"))
    _check_rerun(args)
    emb = load_embodiment(options.embodiment(args))
    check_noise_scale(args.noise_scale, "--noise-scale")
    out = options.check_out_folder(
        args.out or Path("outputs/eval") / f"{args.task}-{emb.name}-dynamics")
    model = load_model(args.model, emb, backend=args.backend, noise_scale=args.noise_scale,
                       cosmos3=options.cosmos3(args))
    env = make_env(args.task, emb, image_size=args.image_size,
                   action_mode="joint" if emb.action_type == "joint" else "ee_pose")
    try:
        episodes = [expert_episode(env, s, args.max_steps)
                    for s in range(args.seed, args.seed + args.episodes)]
    finally:
        env.close()
    out.mkdir(parents=True, exist_ok=True)
    model = _rerun_model(args, model, emb, episodes)
    if args.mode == "forward":
        result = forward_eval(model, episodes, args.stride, video=out / "forward.mp4",
                              static_threshold=threshold)
    else:
        result = inverse_eval(model, episodes, args.stride)
    result.update(task=args.task, embodiment=emb.name, model=str(args.model),
                  backend=args.backend, noise_scale=args.noise_scale,
                  seeds=[e.seed for e in episodes])
    if hasattr(model, "add_episode"):
        model.close()
    path = out / f"{args.mode}_dynamics.json"
    path.write_text(json.dumps(result, indent=2))
    keys = ("psnr_db", "baseline_copy_last_psnr_db", "autoencoder_psnr_db",
            "composed_psnr_db", "gain_ci95_db", "composed_gain_ci95_db", "mean_r2",
            "mean_nmae", "windows")
    print(", ".join(f"{k} {result[k]}" for k in keys if k in result) + f"; {path}")
    return 0


def _check_rerun(args: argparse.Namespace) -> None:
    """--rerun/--rerun-connect: forward mode, rerun-sdk installed; before any work."""
    from cosmos_policy.errors import UserError
    from cosmos_policy.viz.rerun_log import require_rerun

    if args.rerun is None and args.rerun_connect is None:
        return
    if args.mode != "forward":
        raise UserError("--rerun records --mode forward (imagined vs simulated frames)")
    require_rerun()


def _rerun_model(args: argparse.Namespace, model: Any, emb: Any, episodes: list) -> Any:
    """With --rerun/--rerun-connect: the model wrapped to record (forward mode only)."""
    if args.rerun is None and args.rerun_connect is None:
        return model
    from cosmos_policy.viz.rerun_offline import RecordingDynamics, dynamics_file, open_recording

    seeds = [e.seed for e in episodes]
    wrapped = RecordingDynamics(model, emb.control_rate_hz)
    for e in episodes:
        rec = open_recording(
            f"{args.task}-{emb.name}-dynamics-seed{e.seed}", connect=args.rerun_connect,
            path=None if args.rerun is None else dynamics_file(args.rerun, e.seed, seeds),
            name=f"{args.task} forward dynamics, seed {e.seed}")
        wrapped.add_episode(rec, e.frames, e.actions)
    return wrapped
