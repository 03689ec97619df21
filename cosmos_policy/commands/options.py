"""The options every command spells the same way, defined once.

* ``--model`` / ``--backend``: any spelling of :mod:`cosmos_policy.policy.registry`, checked
  by :func:`resolve_model` before the command does any work.
* ``--embodiment``: optional everywhere; without it a command uses the model's embodiment
  when the model has exactly one domain, else ``franka``
  (:func:`~cosmos_policy.policy.registry.default_embodiment`).
* ``--out``: the one spelling of a command's output (file or folder).
* ``--steps``: Euler steps of the sampler wherever a command samples (``train`` counts its
  optimiser steps with ``--train-steps``).
* ``--image-size``: the side of the rendered camera frames (``train`` sets the model's input
  side with ``--model-image-size``).
* ``--stats`` and the ``--cosmos3-*`` options: how a Cosmos 3 checkpoint folder given as
  ``--model`` is run (:func:`add_cosmos3`; defined with the adapter in
  :mod:`cosmos_policy.models.cosmos3_use`, so every command spells them the same way).

Old spellings stay as hidden aliases (:func:`alias`) so scripts keep working; they print a
one-line note naming the new spelling.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cosmos_policy.errors import UserError
from cosmos_policy.policy.registry import (
    BACKENDS,
    FOLDERS,
    MODEL_NAMES,
    ModelRef,
    check_backend,
    default_embodiment,
    find_model,
)

MODEL_HELP = f"{', '.join(MODEL_NAMES)} (the shipped model is the default) or {FOLDERS}"


class _Deprecated(argparse.Action):
    """Stores like the option it stands for, remembers the spelling, and says the new one."""

    def __init__(self, *args: Any, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"note: {option_string} is now spelled {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)
        setattr(namespace, f"_spelled_{self.dest}", option_string)


def alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str,
          type: Any = str) -> None:  # noqa: A002 (argparse's own keyword)
    """A hidden deprecated spelling ``old`` of the option ``new`` (same ``dest``)."""
    parser.add_argument(old, dest=dest, type=type, action=_Deprecated, new=new,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def spelled(args: argparse.Namespace, dest: str, new: str) -> str:
    """The spelling the user typed for ``dest`` (for error messages)."""
    return getattr(args, f"_spelled_{dest}", new)


def add_model(parser: argparse.ArgumentParser, default: str | None = "default",
              help: str | None = None) -> None:  # noqa: A002
    parser.add_argument("--model", default=default, help=help or MODEL_HELP)


def add_backend(parser: argparse.ArgumentParser, default: str = "auto",
                help: str | None = None) -> None:  # noqa: A002
    parser.add_argument("--backend", default=default,
                        help=help or f"{', '.join(BACKENDS)} (default {default}: the best one "
                        "this machine has for the model)")


def add_embodiment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embodiment", default=None,
                        help="an embodiment name or folder (default: the model's, when it has "
                        "one domain, else franka)")


def add_out(parser: argparse.ArgumentParser, help: str, default: Path | None = None,  # noqa: A002
            old: tuple[str, ...] = ()) -> None:
    parser.add_argument("--out", type=Path, default=default, help=help)
    for o in old:
        alias(parser, o, "--out", "out", Path)


def add_steps(parser: argparse.ArgumentParser, default: int = 10,
              old: tuple[str, ...] = ()) -> None:
    parser.add_argument("--steps", type=int, default=default, metavar="N",
                        help=f"Euler steps of the sampler per sample (default {default}); more "
                        "cost latency, fewer cost precision")
    for o in old:
        alias(parser, o, "--steps", "steps", int)


def add_image_size(parser: argparse.ArgumentParser, default: int = 128) -> None:
    parser.add_argument("--image-size", type=int, default=default,
                        help=f"side of the rendered camera frames, pixels (default {default})")


def add_cosmos3(parser: argparse.ArgumentParser) -> None:
    """``--stats FILE`` and the ``--cosmos3-*`` options (sampling, conventions, device)."""
    from cosmos_policy.models.cosmos3_use import add_arguments

    add_arguments(parser)


def cosmos3(args: argparse.Namespace) -> Any:
    """The :class:`~cosmos_policy.models.cosmos3_use.Cosmos3Options` the command line gives,
    or None when ``--model`` is not a Cosmos 3 folder."""
    from cosmos_policy.models.cosmos3_use import options_from_args

    return options_from_args(args)


def resolve_model(args: argparse.Namespace, kinds: tuple[str, ...] | None = None,
                  runs_on: tuple[str, ...] | None = None) -> ModelRef:
    """Check ``--model`` (and ``--backend`` where the command has it) before any work."""
    ref = find_model(args.model, kinds)
    if getattr(args, "backend", None) is not None:
        check_backend(args.backend, ref.kind, runs_on)
    return ref


def embodiment(args: argparse.Namespace) -> str:
    """``--embodiment``, or the default the module docstring names."""
    if args.embodiment:
        return str(args.embodiment)
    return default_embodiment(getattr(args, "model", None) or "random")


def check_out_folder(path: Path, flag: str = "--out") -> Path:
    """``path`` if a folder can be made there; one UserError now, before any work, if it or
    a folder above it is a file."""
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise UserError(f"{flag} {path}: {p} is a file; pass a folder")
    return path


def one_out(args: argparse.Namespace) -> Path:
    """``--out``, or the old positional OUT (``out_pos``) of ``record`` and ``label``."""
    if args.out is not None and args.out_pos is not None:
        raise UserError(f"two outputs ({args.out_pos} and --out {args.out}); pass only --out")
    out = args.out if args.out is not None else args.out_pos
    if out is None:
        raise UserError("pass --out DIR, the dataset folder to create")
    return Path(out)


def add_training_recipe(parser: argparse.ArgumentParser) -> None:
    """The fine-tune recipe options ``train`` and ``dagger`` share (the shipped model learnt
    with ``--object-weight 5 --early-fraction 0.3 --paraphrase-prob 0.5``)."""
    parser.add_argument("--early-fraction", type=float, default=0.0,
                        help="share of examples from the first --early-steps frames of episodes")
    parser.add_argument("--object-weight", type=float, default=0.0,
                        help="weight of the auxiliary cube-position loss on datasets that "
                             "record observation.environment_state (0: off)")
    parser.add_argument("--carry-fraction", type=float, default=0.0, metavar="F",
                        help="share of examples from frames that carry a cube to the plate "
                        "(pick_place recordings with the plate's position; docs/DAGGER.md)")
    parser.add_argument("--paraphrase-prob", type=float, default=0.0, metavar="P",
                        help="put another wording of a recorded prompt in its place with "
                        "probability P (the suite's `training` templates; never evaluation's "
                        "paraphrases)")
