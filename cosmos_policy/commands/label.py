"""``cosmos-policy label IN --out OUT``: infer the actions of unlabelled demonstrations.

Resumable (rerun the same command after an interruption), never writes IN, skips and
reports unreadable episodes. See docs/LABELLING.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cosmos_policy.commands import options
from cosmos_policy.errors import UserError
from cosmos_policy.models.cosmos3_use import add_arguments as cosmos3_arguments
from cosmos_policy.models.cosmos3_use import options_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="videos, image folders, a LeRobot v3 dataset, "
                        "a rosbag2/MCAP recording or a robomimic HDF5 file")
    parser.add_argument("out_pos", nargs="?", type=Path, default=None, metavar="OUT",
                        help=argparse.SUPPRESS)  # the old positional spelling of --out
    options.add_out(parser, "LeRobot v3 dataset folder to create")
    options.add_embodiment(parser)
    options.add_model(parser, help="default (engines/default), a model bundle folder or a "
                      "Cosmos 3 checkpoint folder")
    options.add_backend(parser, help="auto or torch (labelling runs the model's batched torch "
                        "calls)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (or actors)")
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="run on Ray: 'local' starts one, 'auto' or host:port joins one")
    parser.add_argument("--samples", type=int, default=4,
                        help="denoising samples per window (their spread is the confidence)")
    parser.add_argument("--seed", type=int, default=0)
    options.add_steps(parser)
    parser.add_argument("--camera", action="append", default=[], metavar="MODEL=SOURCE",
                        help="map a model camera to a source camera (repeatable)")
    parser.add_argument("--no-cycle", action="store_true", help="skip the cycle check")
    parser.add_argument("--cycle-min-psnr", type=float, default=20.0,
                        help="flag episodes whose forward-dynamics PSNR (dB) is below this")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--restart", action="store_true",
                        help="discard an unfinished run's shards instead of resuming")
    parser.add_argument("--summary", type=Path, default=None,
                        help="also write the JSON summary here")
    cosmos3_arguments(parser)
    parser.add_argument("--rerun", default=None, metavar="FILE.rrd",
                        help="after labelling, a Rerun recording per episode: the inferred "
                        "actions and their confidence beside the frames (viz extra; "
                        "docs/VIZ.md)")
    parser.add_argument("--rerun-connect", default=None, metavar="ADDR",
                        help="stream those recordings to a running Rerun viewer")


def _camera_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        model_cam, sep, source_cam = pair.partition("=")
        if not sep or not model_cam or not source_cam:
            raise UserError(f"--camera {pair!r}: expected MODEL=SOURCE, e.g. front=agentview")
        out[model_cam] = source_cam
    return out


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.label.cycle import explain_failure
    from cosmos_policy.label.pipeline import label

    out = options.one_out(args)
    if args.rerun is not None or args.rerun_connect is not None:
        from cosmos_policy.viz.rerun_log import require_rerun

        require_rerun()  # before the labelling, not after it
    options.resolve_model(args, kinds=("bundle", "cosmos3"), runs_on=("torch",))
    summary = label(args.input, out, options.embodiment(args),
                    model=None if args.model == "default" else args.model,
                    workers=args.workers, ray_address=args.ray, samples=args.samples,
                    seed=args.seed, steps=args.steps, cycle=not args.no_cycle,
                    cycle_min_psnr=args.cycle_min_psnr, camera_map=_camera_map(args.camera),
                    overwrite=args.overwrite, restart=args.restart,
                    cosmos3=options_from_args(args))
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2))
    if (args.rerun is not None or args.rerun_connect is not None) and summary["labelled"]:
        from cosmos_policy.viz.rerun_offline import record_labelled

        for path in record_labelled(out, path=args.rerun, connect=args.rerun_connect):
            print(f"rerun: {path}")
    for rec in summary["labelled"]:
        cyc = rec.get("cycle") or {}
        flag = "" if cyc.get("ok") is not False else f"  CYCLE CHECK FAILED: {explain_failure(cyc)}"
        print(f"labelled {rec['source_id']}: {rec['frames']} frames, confidence "
              f"{rec['mean_confidence']:.3f}, cycle PSNR {cyc.get('psnr')} dB{flag}")
    for rec in summary["skipped"]:
        print(f"skipped  {rec['key']}: {rec['reason']}")
    print(f"{len(summary['labelled'])} labelled ({len(summary['reused_shards'])} from an "
          f"earlier run), {len(summary['skipped'])} skipped, "
          f"{len(summary['cycle_failed'])} failed the cycle check; "
          f"{summary['frames_per_second']} frames/s; wrote {out}")
    return 0
