"""msgpack with numpy arrays, as openpi-client encodes them, and nothing that unpickles.

An array travels as a map ``{b"__ndarray__": True, b"data": <bytes>, b"dtype": <numpy
dtype str, e.g. "<f4">, b"shape": [..]}``, a numpy scalar as ``{b"__npgeneric__": True,
b"data": <value>, b"dtype": ..}``. Decoding accepts only plain numeric dtypes (bool, ints,
unsigned, floats), checks that the byte count matches the shape, and caps sizes; object,
void and complex dtypes are refused. No ``pickle``, no msgpack ``ext`` types, no code.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_ARRAY_ELEMENTS = 16 * 1024 * 1024
ALLOWED_KINDS = "biuf"


class DecodeError(ValueError):
    """A message that is not a well-formed msgpack observation (the reason in words)."""


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in ALLOWED_KINDS:
            raise TypeError(f"cannot send arrays of dtype {obj.dtype}")
        arr = np.ascontiguousarray(obj)
        return {b"__ndarray__": True, b"data": arr.tobytes(), b"dtype": arr.dtype.str,
                b"shape": list(arr.shape)}
    if isinstance(obj, np.generic):
        if obj.dtype.kind not in ALLOWED_KINDS:
            raise TypeError(f"cannot send scalars of dtype {obj.dtype}")
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _get(obj: dict, key: str) -> Any:
    if key.encode() in obj:
        return obj[key.encode()]
    return obj.get(key)


def _dtype(value: Any) -> np.dtype:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        raise DecodeError("array dtype is not a string")
    try:
        dtype = np.dtype(value)
    except TypeError as exc:
        raise DecodeError(f"unknown dtype {value!r}") from exc
    if dtype.kind not in ALLOWED_KINDS or dtype.hasobject:
        raise DecodeError(f"dtype {value!r} refused (numeric dtypes only)")
    return dtype


def _decode(obj: dict) -> Any:
    if _get(obj, "__ndarray__") is True:
        dtype = _dtype(_get(obj, "dtype"))
        shape, data = _get(obj, "shape"), _get(obj, "data")
        if not isinstance(shape, (list, tuple)) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise DecodeError(f"array shape {shape!r} is not a list of sizes")
        count = math.prod(shape)
        if count > MAX_ARRAY_ELEMENTS:
            raise DecodeError(f"array of {count} elements exceeds {MAX_ARRAY_ELEMENTS}")
        if not isinstance(data, bytes) or len(data) != count * dtype.itemsize:
            raise DecodeError(f"array data: expected {count * dtype.itemsize} bytes for "
                              f"{list(shape)} {dtype.str}")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if _get(obj, "__npgeneric__") is True:
        return _dtype(_get(obj, "dtype")).type(_get(obj, "data"))
    return obj


def _no_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"msgpack ext type {code} refused")


def packb(obj: Any) -> bytes:
    """Serialize dicts, lists, strings, numbers and numpy arrays."""
    return msgpack.packb(obj, default=_encode, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    """Deserialize; raises :class:`DecodeError` on anything malformed or refused."""
    if not isinstance(data, (bytes, bytearray)):
        raise DecodeError("expected a binary frame")
    if len(data) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return msgpack.unpackb(bytes(data), object_hook=_decode, ext_hook=_no_ext, raw=False,
                               strict_map_key=False)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises several types for truncated/garbage input
        raise DecodeError(f"not msgpack: {type(exc).__name__}: {exc}") from exc


__all__ = ["DecodeError", "packb", "unpackb"]
