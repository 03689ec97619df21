"""Writes that are whole or absent, and a full disk told as one line.

Every file a later run trusts (a shard, a checkpoint, a manifest) is written to a temporary
name beside it and renamed into place with :func:`os.replace`, atomic on one filesystem: a
run killed or out of space mid-write leaves a ``*.tmp`` file that nothing reads, never a
half-written file under the real name.

A full disk is not a bug: :func:`disk_full` turns ``ENOSPC``/``EDQUOT`` (whatever library
raised it: ``open``, pyarrow, PyAV, zipfile) into a :class:`UserError` naming the folder
being written and the free space left, which the CLI prints as one line with exit status 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from cosmos_policy.errors import UserError

_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = tuple(os.strerror(e).lower() for e in _FULL)


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc`` (or an exception it was raised from) says the disk or quota is full.

    pyarrow and some PyAV paths raise an ``OSError`` without ``errno``; their message still
    carries the C library's text ("No space left on device"), so that is matched too.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        if any(text in str(exc).lower() for text in _FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def free_bytes(path: Path) -> int | None:
    """Free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def disk_full_error(where: Path, what: str, note: str = "") -> UserError:
    """The one-line error for a full disk while ``what`` wrote into ``where``."""
    free = free_bytes(where)
    left = "" if free is None else f" ({free / 1024 ** 2:.1f} MB free there)"
    tail = f"; {note}" if note else ""
    return UserError(f"the disk is full: {what} could not write into {where}{left}; free "
                     f"some space or choose a folder on another disk{tail}")


@contextlib.contextmanager
def disk_full(where: Path, what: str, note: str = "") -> Iterator[None]:
    """Turn a full-disk error inside the block into :func:`disk_full_error`."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(where, what, note) from exc
        raise


def temp_path(path: Path) -> Path:
    """The scratch name :func:`atomic_path` writes before renaming to ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a scratch path to write; on success it replaces ``path``, on failure it is
    removed, so ``path`` is either the old file or the complete new one."""
    path = Path(path)
    scratch = temp_path(path)
    try:
        yield scratch
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            if scratch.is_dir():
                shutil.rmtree(scratch)
            else:
                scratch.unlink()
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as scratch:
        scratch.write_text(text)


__all__ = ["atomic_path", "disk_full", "disk_full_error", "free_bytes", "is_disk_full",
           "temp_path", "write_text"]
