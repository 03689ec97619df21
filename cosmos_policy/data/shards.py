"""Finished units of a long run kept on disk, so a rerun of the same command resumes.

    WORK/run.json               the settings that produced the shards
    WORK/episodes/<name>/DONE   one finished shard: arrays.npz + meta.json + the marker

A shard is written into ``<name>.tmp/`` and renamed to ``<name>/`` only once complete, with
the ``DONE`` marker inside, so a folder without the marker (a run killed or out of disk
mid-write) is never taken as finished; :func:`finished` ignores it and the next write of
that shard replaces it. A resume with other settings is refused rather than mixing the
output of two configurations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data.atomic import temp_path, write_text
from cosmos_policy.errors import UserError

DONE = "DONE"
RUN = "run.json"


def shard_name(key: str) -> str:
    """A file-system-safe folder name for ``key``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def episodes_dir(work: Path) -> Path:
    return Path(work) / "episodes"


def check_run(work: Path, identity: dict[str, Any], restart_flag: str = "--restart") -> bool:
    """Create ``work`` for ``identity`` or check that it belongs to it; True if resuming."""
    work = Path(work)
    path = work / RUN
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:  # run.json is written atomically; this is not one of ours
            old = {"run.json": "unreadable"}
        if old != identity:
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise UserError(f"{work} holds an unfinished run with other settings ({diff}); "
                            f"pass {restart_flag} to discard it, or rerun with the same "
                            "settings")
        return True
    episodes_dir(work).mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(identity, indent=2))
    return False


def finished(work: Path) -> set[str]:
    """Names of the complete shards under ``work`` (a folder without ``DONE`` is not)."""
    root = episodes_dir(work)
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if (p / DONE).is_file()}


def write_shard(work: Path, name: str, arrays: dict[str, np.ndarray],
                meta: dict[str, Any], *, file: str = "arrays.npz", compress: bool = False) -> Path:
    """Write one shard atomically (``arrays`` in ``file``, zip-deflated if ``compress``, and
    ``meta`` as JSON); returns its folder."""
    final = episodes_dir(work) / shard_name(name)
    tmp = temp_path(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        (np.savez_compressed if compress else np.savez)(tmp / file, **arrays)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        (tmp / DONE).write_text("")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # frees the space a full disk needs back
        raise
    return final


def read_meta(work: Path, name: str) -> dict[str, Any]:
    """The meta of a finished shard, without loading its arrays."""
    return json.loads((episodes_dir(work) / shard_name(name) / "meta.json").read_text())


def read_shard(work: Path, name: str, *,
               file: str = "arrays.npz") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and meta of a finished shard."""
    folder = episodes_dir(work) / shard_name(name)
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / file) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, meta


__all__ = ["DONE", "check_run", "episodes_dir", "finished", "read_meta", "read_shard", "shard_name",
           "write_shard"]
