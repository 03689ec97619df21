"""``cosmos-policy eval``: closed-loop success of a model in MuJoCo, through the runtime."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from cosmos_policy.commands import options
from cosmos_policy.models.cosmos3_use import add_arguments as cosmos3_arguments

if TYPE_CHECKING:
    from cosmos_policy.sim.suite import SeedReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True,
                        help="reach, push, pick_place, or an external suite's task: "
                        "robosuite/Lift, fetch/Push ... (docs/EXTERNAL_SUITES.md)")
    options.add_embodiment(parser)
    parser.add_argument("--episodes", type=int, default=10, help="episodes (default 10)")
    options.add_model(parser, help=options.MODEL_HELP + "; oracle, the scripted expert as a "
                      "model, checks the loop itself")
    options.add_backend(parser)
    parser.add_argument("--lockstep", action="store_true",
                        help="inline inference charged a fixed latency: reproducible")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="simulated inference latency with --lockstep (default 50)")
    parser.add_argument("--blending", default="rtc", choices=("rtc", "ensemble"))
    parser.add_argument("--workers", type=int, default=1, help="parallel episode processes")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="spread episodes over Ray ('local' starts one here)")
    parser.add_argument("--seed", type=int, default=None,
                        help="first seed (default: the --split's first, else 0; training uses "
                        "1000 and up)")
    parser.add_argument("--split", default=None, choices=("validation", "test"),
                        help="the suite's seed range to draw from: validation for every choice, "
                        "test once per shipped model (sim/suites/tabletop.yaml, docs/EVAL.md)")
    parser.add_argument("--prompt-style", default="canonical",
                        choices=("canonical", "paraphrase"))
    options.add_image_size(parser)
    parser.add_argument("--max-steps", type=int, default=None,
                        help="policy steps per episode (default: the task's limit)")
    options.add_out(parser, "report folder (default outputs/eval/<task>-<embodiment>)")
    parser.add_argument("--videos", type=int, default=3, help="episodes recorded as mp4")
    parser.add_argument("--noise-scale", type=float, default=None, metavar="S",
                        help="scale of the sampler's initial noise, 0 to 1 (1: sampled action "
                        "chunks; 0: the deterministic path; default: the model's own, "
                        "sampler.noise_scale of its manifest, else 1)")
    options.add_steps(parser, old=("--flow-steps",))
    parser.add_argument("--guidance", type=float, default=1.0, metavar="W",
                        help="classifier-free guidance of the compact model's chunks towards "
                        "the prompt (1: none, the default; above 1 costs a second pass per "
                        "step; docs/EVAL.md)")
    cosmos3_arguments(parser)
    parser.add_argument("--rerun", default=None, metavar="FILE.rrd",
                        help="write a Rerun recording of each episode (FILE-seed<N>.rrd for "
                        "several; needs the viz extra; docs/VIZ.md)")
    parser.add_argument("--rerun-connect", default=None, metavar="ADDR",
                        help="stream the episodes to a running Rerun viewer, e.g. "
                        "rerun+http://127.0.0.1:9876/proxy")


def _check_rerun(args: argparse.Namespace) -> None:
    """--rerun/--rerun-connect: one process, a tabletop task, and rerun-sdk installed."""
    from cosmos_policy.errors import UserError
    from cosmos_policy.sim.external.evaluate import is_external

    if args.rerun is None and args.rerun_connect is None:
        return
    if args.workers != 1 or args.ray is not None:
        raise UserError("--rerun/--rerun-connect record in this process: use --workers 1, no "
                        "--ray")
    if is_external(args.task):
        raise UserError("--rerun/--rerun-connect record the tabletop tasks only, not "
                        f"{args.task}")
    from cosmos_policy.viz.rerun_log import require_rerun

    require_rerun()


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.errors import UserError
    from cosmos_policy.models.cosmos3_use import options_from_args
    from cosmos_policy.models.flow import check_guidance, check_noise_scale
    from cosmos_policy.sim.eval_runner import run_episodes
    from cosmos_policy.sim.evaluate import (
        EvalConfig,
        check_seeds,
        config_dict,
        eval_embodiment,
        out_dir,
    )
    from cosmos_policy.sim.report import build_report, print_table, write_report
    from cosmos_policy.sim.tasks import check_eval_task

    check_eval_task(args.task)
    options.resolve_model(args)
    emb = eval_embodiment(args.task, options.embodiment(args), args.image_size)
    if args.episodes < 1:
        raise UserError("--episodes must be at least 1")
    if args.latency_ms < 0 or args.videos < 0 or args.image_size < 8:
        raise UserError("--latency-ms and --videos must be >= 0, --image-size >= 8")
    if args.noise_scale is not None:
        check_noise_scale(args.noise_scale, "--noise-scale")
    check_guidance(args.guidance, "--guidance")
    if not 1 <= args.steps <= 1000:
        raise UserError(f"{options.spelled(args, 'steps', '--steps')} must be between 1 and "
                        f"1000, got {args.steps}")
    seed, split = _seeds(args)
    config = EvalConfig(task=args.task, embodiment=emb.name, episodes=args.episodes,
                        seed=seed, model=str(args.model), backend=args.backend,
                        lockstep=args.lockstep, lockstep_latency_s=args.latency_ms / 1e3,
                        blending=args.blending, image_size=args.image_size,
                        prompt_style=args.prompt_style, max_steps=args.max_steps,
                        videos=args.videos, cosmos3=options_from_args(args),
                        noise_scale=args.noise_scale, flow_steps=args.steps,
                        guidance=args.guidance)
    check_seeds(config)
    _check_rerun(args)
    config = replace(config, rerun=args.rerun, rerun_connect=args.rerun_connect)
    out = options.check_out_folder(out_dir(config, args.out))  # now, not after the episodes
    runs = run_episodes(config, workers=args.workers, ray_address=args.ray)
    report = build_report(config_dict(config), runs, emb,
                          {"mode": "lockstep" if args.lockstep else "async",
                           "workers": args.workers, "ray": args.ray,
                           **({"split": split.as_dict()} if split else {})})
    report = write_report(report, runs, emb, out)
    print_table(report)
    if split is not None:
        print(_split_line(split))
    print(f"report: {out / 'eval.json'}")
    return 0


def _seeds(args: argparse.Namespace) -> tuple[int, SeedReport | None]:
    """The first seed and, for a tabletop task, which of the suite's splits the seeds fall in
    (printed at once, warnings on stderr); ``--split`` picks the range."""
    import sys

    from cosmos_policy.errors import UserError
    from cosmos_policy.sim.external.evaluate import is_external
    from cosmos_policy.sim.suite import load_suite

    if is_external(args.task):
        if args.split:
            raise UserError("--split names the tabletop suite's seeds; external suites have "
                            "their own: drop --split")
        return (0 if args.seed is None else args.seed), None
    suite = load_suite()
    seed = 0 if args.seed is None else args.seed
    if args.split:
        part = suite.split(args.split)
        seed = part.first if args.seed is None else args.seed
        last = seed + args.episodes - 1
        if not (part.contains(seed) and part.contains(last)):
            raise UserError(f"seeds {seed}-{last} leave the {part.name} split "
                            f"({part.describe()}); use at most "
                            f"{max(0, (part.end or seed) - seed)} episodes from --seed {seed}, "
                            f"or drop --seed")
    report = suite.seed_report(seed, args.episodes)
    print(_split_line(report))
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return seed, report


def _split_line(report: SeedReport) -> str:
    first, last = report.first, report.first + report.count - 1
    if report.split == "mixed":
        return f"seeds {first}-{last}: straddle " + ", ".join(
            f"{k} ({n})" for k, n in report.pieces.items())
    if report.split == "none":
        return f"seeds {first}-{last}: in no split of the suite"
    return f"seeds {first}-{last}: {report.split} split"
