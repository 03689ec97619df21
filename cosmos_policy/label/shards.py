"""Per-episode shards under ``OUT.partial/episodes/<id>/``: what makes a run resumable.

A shard (``labels.npz`` + ``meta.json``) is written and renamed into place with a ``DONE``
marker inside by :mod:`cosmos_policy.data.shards`, so a shard folder without the marker is
never taken as finished. ``run.json`` holds the settings that produced the shards; a resume
with other settings is refused rather than mixing labels of two models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosmos_policy.data import shards as store
from cosmos_policy.data.shards import DONE, check_run, episodes_dir, finished
from cosmos_policy.data.shards import shard_name as shard_id

ARRAYS = ("action", "confidence", "state")
_FILE = "labels.npz"


def write_shard(work: Path, result: dict[str, Any]) -> Path:
    """Write one labelled episode's shard atomically; returns its folder."""
    meta = {k: v for k, v in result.items() if k not in ARRAYS}
    return store.write_shard(work, result["key"], {k: result[k] for k in ARRAYS}, meta,
                             file=_FILE)


def read_shard(work: Path, key: str) -> dict[str, Any]:
    arrays, meta = store.read_shard(work, key, file=_FILE)
    return meta | arrays


__all__ = ["ARRAYS", "DONE", "check_run", "episodes_dir", "finished", "read_shard",
           "shard_id", "write_shard"]
