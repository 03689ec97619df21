"""Before ``serve`` uses an engine folder: its files must match their hashes and it must
carry a passing parity record (``manifest.json`` ``verification``), as the engine cache
requires of the engines it builds. Anything else is refused in one line naming the fix."""

from __future__ import annotations

from pathlib import Path

from cosmos_policy.engine.manifest import EngineManifest, read_manifest
from cosmos_policy.errors import UserError


def verified_engine(folder: str | Path) -> EngineManifest:
    """The manifest of the engine at ``folder``, once its hashes and parity record check
    out; UserError (one line, naming ``cosmos-policy engine verify``) otherwise."""
    root = Path(folder)
    fix = (f"check it with `cosmos-policy engine verify {root}` (which records the result) or "
           f"rebuild it with `cosmos-policy engine build --out {root}`")
    try:
        manifest = read_manifest(root)  # every graph and plan file against its sha256
    except UserError as exc:
        raise UserError(f"serve: refusing engine {root}: {exc}; {fix}") from exc
    record = manifest.verification
    if not record:
        raise UserError(f"serve: refusing engine {root}: it has no parity record (never "
                        f"verified); {fix}")
    if record.get("passed") is not True:
        worst = record.get("worst") or {}
        raise UserError(f"serve: refusing engine {root}: it failed its parity check "
                        f"(worst: {worst.get('check')} rel err {worst.get('rel_err')}); {fix}")
    return manifest


__all__ = ["verified_engine"]
