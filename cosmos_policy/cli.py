"""The ``cosmos-policy`` command.

Subcommands are listed in :data:`COMMANDS`, a visible dict from name to the module that
implements it. Each module has ``add_arguments(parser)`` and ``run(args) -> int``; it is
imported only when its command runs, so ``cosmos-policy --help`` stays fast.
A :class:`~cosmos_policy.errors.UserError` ends in one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cosmos_policy import __version__
from cosmos_policy.errors import UserError

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "embodiments": ("cosmos_policy.commands.embodiments", "list and check embodiments"),
    "record": ("cosmos_policy.commands.record", "record expert demonstrations (LeRobot v3)"),
    "train": ("cosmos_policy.commands.train", "train the compact world-action model"),
    "engine": ("cosmos_policy.commands.engine", "build, verify and describe inference engines"),
    "bench": ("cosmos_policy.commands.bench", "inference latency: torch eager vs ONNX Runtime"),
    "rollout": ("cosmos_policy.commands.rollout", "run the scripted expert, write videos"),
    "demo": ("cosmos_policy.commands.demo",
             "a first look: the shipped model in closed loop, in ./outputs/demo"),
    "label": ("cosmos_policy.commands.label", "infer actions of unlabelled demonstrations"),
    "serve": ("cosmos_policy.commands.serve", "serve the policy over DDS or WebSocket"),
    "sim-robot": ("cosmos_policy.commands.sim_robot", "a MuJoCo robot on ROS 2's wire"),
    "eval": ("cosmos_policy.commands.eval", "closed-loop success in MuJoCo through the runtime"),
    "dagger": ("cosmos_policy.commands.dagger", "DAgger: policy rollouts labelled by the expert"),
    "eval-dynamics": ("cosmos_policy.commands.eval_dynamics",
                      "forward/inverse dynamics quality against the simulator"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cosmos-policy",
        description=("Robot policy runtime for world-action models: train, compile, serve, "
                     "evaluate."),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module)
        # Arguments are added lazily below, once the command is known.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # First pass: which command? Then let that command's module declare its arguments.
    # --help waits for the second pass, so a command's help lists its own arguments.
    first = [a for a in argv if a not in ("-h", "--help")]
    if not first or first[0] not in COMMANDS:
        parser.parse_args(argv)  # top-level help, --version, or an error naming the commands
    known, _ = parser.parse_known_args(first)
    module = importlib.import_module(known._module)
    sub = parser._subparsers._group_actions[0].choices[known.command]  # noqa: SLF001
    module.add_arguments(sub)
    args = parser.parse_args(argv)
    try:
        return int(module.run(args) or 0)
    except UserError as exc:
        print(f"cosmos-policy {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cosmos-policy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
