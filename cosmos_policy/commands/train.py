"""``cosmos-policy train``: train the compact world-action model on LeRobot v3 datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from cosmos_policy.commands import options
from cosmos_policy.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", type=Path,
                        help="LeRobot v3 dataset folders; robot_type picks each one's domain")
    parser.add_argument("--out", type=Path, required=True,
                        help="model bundle folder to write (with train/ state and metrics)")
    parser.add_argument("--train-steps", dest="train_steps", type=int, default=2000,
                        metavar="N", help="total optimiser steps (default 2000)")
    options.alias(parser, "--steps", "--train-steps", "train_steps", int)
    parser.add_argument("--batch", type=int, default=32, help="examples per step")
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    parser.add_argument("--ae-steps", type=int, default=None,
                        help="autoencoder steps at the start (default: --train-steps / 5)")
    parser.add_argument("--ckpt-every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from this model bundle (e.g. engines/default)")
    parser.add_argument("--projector-only", action="store_true",
                        help="train only the new embodiments' projectors (needs --init)")
    parser.add_argument("--mode-probs", default="0.5,0.25,0.25",
                        help="policy,forward,inverse shares of the examples")
    options.add_training_recipe(parser)
    parser.add_argument("--early-steps", type=int, default=8)
    parser.add_argument("--until", type=int, default=None, metavar="STEP",
                        help="stop after this step, leaving a resumable checkpoint (the "
                             "learning-rate schedule still spans --train-steps)")
    parser.add_argument("--suite", type=Path, default=None,
                        help="suite YAML with the task layout: cube colours, recorded fixtures "
                        "and training templates (default: the shipped tabletop suite)")
    parser.add_argument("--d-model", type=int, default=128, help="model width (new models)")
    parser.add_argument("--layers", type=int, default=4, help="layers per tower (new models)")
    parser.add_argument("--cameras", default="front,wrist",
                        help="comma-separated camera names, in token order (new models)")
    parser.add_argument("--model-image-size", dest="model_image_size", type=int, default=64,
                        metavar="N", help="side of the square frames the model sees (new models; "
                        "recorded frames are resized to it)")
    options.alias(parser, "--image-size", "--model-image-size", "model_image_size", int)
    parser.add_argument("--patch", type=int, default=None,
                        help="latent patch side: tokens per camera = (size/8/patch)^2 (new models: "
                        "default 2; with --init: a divisor of the model's, to fine-tune it with "
                        "finer image tokens)")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.models.config import WAMConfig
    from cosmos_policy.training.layout import load_layout
    from cosmos_policy.training.trainer import TrainConfig, Trainer

    if args.projector_only and args.init is None:
        raise UserError("--projector-only needs --init MODEL (the bundle whose backbone to keep)")
    if args.init is not None and args.resume:
        raise UserError("--init starts a new run and --resume continues one; pass only one")
    for d in args.datasets:
        if not d.is_dir():
            raise UserError(f"dataset {d} is not a folder; pass LeRobot v3 dataset roots")
    model_config = None
    if args.init is None and not args.resume:
        model_config = WAMConfig(d_model=args.d_model, n_layers=args.layers,
                                 cameras=tuple(c for c in args.cameras.split(",") if c),
                                 image_size=args.model_image_size,
                                 patch=2 if args.patch is None else args.patch)
    try:
        probs = tuple(float(x) for x in args.mode_probs.split(","))
    except ValueError:
        raise UserError(f"--mode-probs {args.mode_probs!r}: three numbers, e.g. 0.5,0.25,0.25"
                        ) from None
    if not 0.0 <= args.early_fraction <= 1.0 or args.early_steps < 1:
        raise UserError("--early-fraction must be in [0, 1] and --early-steps >= 1")
    if args.until is not None and args.until < 1:
        raise UserError(f"--until must be a positive step, got {args.until}")
    if not 0.0 <= args.carry_fraction <= 1.0:
        raise UserError(f"--carry-fraction must be in [0, 1], got {args.carry_fraction}")
    if not args.object_weight >= 0:
        raise UserError(f"--object-weight must be >= 0, got {args.object_weight}")
    if not 0.0 <= args.paraphrase_prob <= 1.0:
        raise UserError(f"--paraphrase-prob must be in [0, 1], got {args.paraphrase_prob}")
    layout = load_layout(args.suite)
    variants: dict[str, tuple[str, ...]] = {}
    if args.paraphrase_prob > 0:
        variants = dict(layout.variants)
        if not variants:
            raise UserError("--paraphrase-prob: the suite has no `training` prompt templates")
    cfg = TrainConfig(steps=args.train_steps, batch=args.batch, lr=args.lr, ae_steps=args.ae_steps,
                      mode_probs=probs, early_fraction=args.early_fraction,  # type: ignore[arg-type]
                      early_steps=args.early_steps, carry_fraction=args.carry_fraction,
                      object_weight=args.object_weight,
                      ckpt_every=args.ckpt_every, seed=args.seed,
                      projector_only=args.projector_only, prompt_variants=variants,
                      paraphrase_prob=args.paraphrase_prob)
    if args.patch is not None and args.patch < 1:
        raise UserError(f"--patch must be a positive integer, got {args.patch}")
    if args.patch is not None and args.resume:
        raise UserError("--patch sets a new run's tokens; --resume keeps the run's own")
    trainer = Trainer(args.datasets, args.out, model_config, cfg, init=args.init,
                      resume=args.resume, patch=args.patch if args.init else None,
                      layout=layout)
    out = trainer.run(until=args.until)
    print(f"model bundle written to {out} (step {trainer.step}; metrics in "
          f"{out / 'metrics.jsonl'})")
    return 0
