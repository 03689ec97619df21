"""``cosmos-policy embodiments``: list the shipped embodiments and check their files."""

from __future__ import annotations

import argparse

from cosmos_policy.embodiment import available_embodiments, load_embodiment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="embodiments to show (default: all)")


def run(args: argparse.Namespace) -> int:
    for name in args.names or available_embodiments():
        e = load_embodiment(name)
        cams = ", ".join(f"{c.name} {c.width}x{c.height}" for c in e.cameras)
        print(f"{e.name:8s} {e.n_joints}-DoF  action={e.action_type}/{e.action_representation}"
              f"  rate={e.control_rate_hz:g} Hz  cameras: {cams}  cosmos3: {e.cosmos3_domain}")
    return 0
