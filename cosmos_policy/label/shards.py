"""Per-episode shards under ``OUT.partial/episodes/<id>/``: what makes a run resumable.

A shard is written into ``<id>.tmp/`` (``labels.npz`` + ``meta.json``) and renamed to
``<id>/`` with a ``DONE`` marker inside, so a shard folder without the marker never
exists. ``run.json`` holds the settings that produced the shards; a resume with other
settings is refused rather than mixing labels of two models.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.errors import UserError

DONE = "DONE"
ARRAYS = ("action", "confidence", "state")


def shard_id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def episodes_dir(work: Path) -> Path:
    return work / "episodes"


def check_run(work: Path, identity: dict[str, Any]) -> bool:
    """Create ``work`` for ``identity`` or check that it belongs to it. True if resuming."""
    path = work / "run.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != identity:
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise UserError(f"{work} holds an unfinished run with other settings ({diff}); "
                            "pass --restart to discard it, or rerun with the same settings")
        return True
    episodes_dir(work).mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(identity, indent=2))
    os.replace(tmp, path)
    return False


def finished(work: Path) -> set[str]:
    root = episodes_dir(work)
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if (p / DONE).is_file()}


def write_shard(work: Path, result: dict[str, Any]) -> Path:
    """Write one labelled episode's shard atomically; returns its folder."""
    final = episodes_dir(work) / shard_id(result["key"])
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.savez(tmp / "labels.npz", **{k: result[k] for k in ARRAYS})
    meta = {k: v for k, v in result.items() if k not in ARRAYS}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    (tmp / DONE).write_text("")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def read_shard(work: Path, key: str) -> dict[str, Any]:
    folder = episodes_dir(work) / shard_id(key)
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "labels.npz") as data:
        meta.update({k: data[k] for k in ARRAYS})
    return meta
