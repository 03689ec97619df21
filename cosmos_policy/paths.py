"""Where the project's data folders are, in a source checkout and in an installed wheel.

The top-level folders ``embodiments/``, ``sim/`` and ``engines/`` live beside the package
in a checkout; a wheel carries copies of them inside ``cosmos_policy/_resources/``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = PACKAGE_DIR.parent
_WHEEL_RESOURCES = PACKAGE_DIR / "_resources"


def resource_dir(name: str) -> Path:
    """The folder ``name`` (``embodiments``, ``sim`` or ``engines``) that ships with the code.

    ``COSMOS_POLICY_<NAME>_DIR`` in the environment overrides it, for a user's own robots.
    """
    override = os.environ.get(f"COSMOS_POLICY_{name.upper()}_DIR")
    if override:
        return Path(override)
    for base in (_WHEEL_RESOURCES, _REPO_ROOT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cosmos-policy data folder '{name}' is missing from {PACKAGE_DIR}")


def embodiments_dir() -> Path:
    return resource_dir("embodiments")


def sim_dir() -> Path:
    return resource_dir("sim")


def engines_dir() -> Path:
    return resource_dir("engines")


def cache_dir() -> Path:
    """A writable folder for built engines and downloads-free caches."""
    root = Path(os.environ.get("COSMOS_POLICY_CACHE", Path.home() / ".cache" / "cosmos-policy"))
    root.mkdir(parents=True, exist_ok=True)
    return root
