"""Endpoints without XTypes type information, so Fast DDS 3 peers match us by type name.

Why: the cyclonedds Python binding announces every reader and writer with XTypes type
information. Fast DDS 3 (ROS 2 Kilted's default) announces its own, and Cyclone then asks
Fast DDS for its type objects to check assignability; Cyclone rejects the type objects
Fast DDS 3 sends for any type containing a sequence (``ddsi_xt_type_init_impl with invalid
type object``) and never matches the pair, while Fast DDS reports the match. XTypes
(7.6.3.4.2) says: when either endpoint gives no type identifier, match on the type name.
So our endpoints give none, and every ROS 2 type crosses (measured: docs/ROS2_WIRE.md).

How: the binding keeps the serialized type information in its C sertype (a
``ddspy_sertype``: the Python type object, four flags, then the type information's
pointer and size). For the moment a reader or writer is created, we set that size to
zero: Cyclone reads no type identifier, records none for the endpoint and announces none.
The size is restored at once, because creating a further topic of the same type needs it.
The layout is checked (the Python type's address, the size and the bytes must all match
what the binding serialized) before anything is written; on any mismatch we leave the
type information in place and say so once: Jazzy and Cyclone peers still work then.
"""

from __future__ import annotations

import contextlib
import ctypes as ct
import logging
import struct
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("cosmos_policy.transport")

_SCAN_BYTES = 256  # the type object follows an ~80-byte ddsi_sertype in cyclonedds 11
# Held while the size is zeroed; topic creation takes it too, since creating a topic of the
# same type in that window would find no type information and fail.
CREATION_LOCK = threading.Lock()
_lock = CREATION_LOCK
_warned = False


def _library() -> Any | None:
    try:
        from cyclonedds.internal import load_cyclonedds

        lib = load_cyclonedds()
        lib.dds_get_entity_sertype.restype = ct.c_int32
        return lib
    except (ImportError, AttributeError, OSError):
        return None


_LIB = _library()


def _size_cell(topic: Any) -> tuple[ct.c_uint32, int] | None:
    """The C cell holding the size of ``topic``'s serialized type information, and the
    size it holds; None when the layout is not the one this module knows."""
    data_type = topic.data_type
    blobs = getattr(data_type.__idl__, "_xt_bytedata", None)
    if _LIB is None or not isinstance(blobs, tuple) or len(blobs) != 2 or blobs[0] is None:
        return None
    info, tmap = blobs
    ptr = ct.c_void_p()
    if _LIB.dds_get_entity_sertype(ct.c_int32(topic._ref), ct.byref(ptr)) != 0 or not ptr.value:
        return None
    # Read word by word and stop at the type object, so nothing past the struct is read.
    marker = struct.pack("<Q", id(data_type))
    at = next((off for off in range(0, _SCAN_BYTES, 8)
               if ct.string_at(ptr.value + off, 8) == marker), None)
    if at is None:
        return None
    info_ptr, info_size, map_ptr, map_size = struct.unpack(
        "<QI4xQI", ct.string_at(ptr.value + at + 16, 28))
    if info_size != len(info) or map_size != len(tmap) or not info_ptr or not map_ptr:
        return None
    if ct.string_at(info_ptr, info_size) != info or ct.string_at(map_ptr, map_size) != tmap:
        return None
    return ct.c_uint32.from_address(ptr.value + at + 24), info_size


@contextlib.contextmanager
def without_type_information(topic: Any) -> Iterator[bool]:
    """Readers and writers created on ``topic`` inside this block announce no type
    information; yields whether that could be arranged (False: they announce it)."""
    global _warned
    with _lock:
        found = _size_cell(topic)
        if found is None:
            if not _warned:
                _warned = True
                log.warning("cannot drop XTypes type information with this cyclonedds build; "
                            "Fast DDS 3 peers (ROS 2 Kilted) will not match types that hold "
                            "sequences (docs/ROS2_WIRE.md)")
            yield False
            return
        cell, size = found
        cell.value = 0
        try:
            yield True
        finally:
            cell.value = size


__all__ = ["CREATION_LOCK", "without_type_information"]
