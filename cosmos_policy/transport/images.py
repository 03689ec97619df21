"""sensor_msgs/Image and CompressedImage <-> uint8 (H, W, 3) RGB arrays.

Raw encodings accepted: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8`` (8 bits per
channel, so ``is_bigendian`` does not matter). Rows may be padded (``step`` >= width *
channels); the data must hold exactly ``step * height`` bytes. Compressed images are JPEG
or PNG (``format`` as image_transport writes it, e.g. ``jpeg`` or ``rgb8; jpeg compressed
bgr8``), decoded with OpenCV when installed, else Pillow.
"""

from __future__ import annotations

import io

import numpy as np

from cosmos_policy.transport import msgs
from cosmos_policy.transport.rejection import WireRejection

try:  # OpenCV is faster; Pillow is the fallback. One of them is a core dependency's dep.
    import cv2
except ImportError:  # pragma: no cover - depends on the machine
    cv2 = None

# encoding -> (channels, channel order to take for RGB; None for mono)
ENCODINGS: dict[str, tuple[int, tuple[int, ...] | None]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, None),
}
MAX_SIDE = 8192  # pixels; larger images are refused before any copy
MAX_COMPRESSED_BYTES = 64 * 1024 * 1024
_MSG_SLACK = 64 * 1024  # header, frame id, encoding or format strings


def max_wire_bytes(expected: tuple[int, int] | None, compressed: bool = False) -> int:
    """A bound on the serialized size of an image message worth reading, for a camera of
    (H, W) ``expected`` (None: any size up to MAX_SIDE): 4 bytes a pixel (the widest
    encoding), rows padded to twice their width at most; a compressed image is no larger
    than that either, nor than MAX_COMPRESSED_BYTES."""
    h, w = expected if expected is not None else (MAX_SIDE, MAX_SIDE)
    raw = 2 * int(h) * int(w) * 4 + _MSG_SLACK
    return min(raw, MAX_COMPRESSED_BYTES + _MSG_SLACK) if compressed else raw


def _check_size(height: int, width: int, expected: tuple[int, int] | None) -> None:
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise WireRejection("bad_size", f"image {height}x{width} outside 1..{MAX_SIDE} pixels")
    if expected is not None and (height, width) != tuple(expected):
        raise WireRejection(
            "bad_size", f"image {height}x{width}, expected {expected[0]}x{expected[1]}")


def image_to_rgb(msg: msgs.Image, expected: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a raw image to uint8 (H, W, 3) RGB; ``expected`` is (H, W) when known.

    Raises :class:`WireRejection` (``bad_encoding`` or ``bad_size``).
    """
    encoding = msg.encoding.strip().lower()
    if encoding not in ENCODINGS:
        raise WireRejection(
            "bad_encoding", f"encoding {msg.encoding!r}; accepted: {', '.join(ENCODINGS)}")
    channels, order = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size(height, width, expected)
    if step < width * channels:
        raise WireRejection(
            "bad_size", f"step {step} < width {width} * {channels} channels ({encoding})")
    if len(msg.data) != step * height:
        raise WireRejection(
            "bad_size", f"{len(msg.data)} data bytes, expected step {step} * height {height}")
    data = msg.data
    buf = np.frombuffer(data if isinstance(data, (bytes, bytearray)) else bytes(data), np.uint8)
    pixels = buf.reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if order is None:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, order])


def rgb_to_image(rgb: np.ndarray, stamp: msgs.Time | None = None, frame_id: str = "",
                 encoding: str = "rgb8") -> msgs.Image:
    """Encode uint8 (H, W, 3) RGB as a raw image in ``encoding`` (rgb8, bgr8, rgba8, bgra8,
    mono8: the mean of the channels)."""
    _check_rgb(rgb)
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r}; accepted: {', '.join(ENCODINGS)}")
    channels, order = ENCODINGS[encoding]
    h, w = rgb.shape[:2]
    if order is None:
        pixels = rgb.mean(axis=2).round().astype(np.uint8)[:, :, None]
    else:
        pixels = np.empty((h, w, channels), np.uint8)
        pixels[:, :, list(order)] = rgb
        if channels == 4:
            pixels[:, :, 3] = 255
    return msgs.Image(header=msgs.Header(stamp=stamp or msgs.Time(), frame_id=frame_id),
                      height=h, width=w, encoding=encoding, is_bigendian=0, step=w * channels,
                      data=pixels.tobytes())


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {getattr(rgb, 'shape', type(rgb))}")


def _codec(fmt: str) -> str:
    # image_transport writes e.g. "rgb8; jpeg compressed bgr8"; plain "jpeg"/"png" is common.
    words = fmt.lower().replace(";", " ").split()
    if any(w in ("jpeg", "jpg") for w in words):
        return "jpeg"
    if "png" in words:
        return "png"
    raise WireRejection("bad_encoding", f"compressed format {fmt!r}; accepted: jpeg, png")


def compressed_to_rgb(msg: msgs.CompressedImage,
                      expected: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a JPEG or PNG image to uint8 (H, W, 3) RGB; ``expected`` is (H, W) when known.

    Raises :class:`WireRejection` (``bad_encoding``, ``bad_size``, ``decode_failed``).
    """
    codec = _codec(msg.format)
    data = msg.data if isinstance(msg.data, (bytes, bytearray)) else bytes(msg.data)
    if not data or len(data) > MAX_COMPRESSED_BYTES:
        raise WireRejection("bad_size", f"{len(data)} compressed bytes")
    rgb = _decode(data)
    if rgb is None:
        raise WireRejection("decode_failed", f"could not decode {len(data)} bytes as {codec}")
    _check_size(rgb.shape[0], rgb.shape[1], expected)
    return rgb


def _decode(data: bytes) -> np.ndarray | None:
    if cv2 is not None:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return None if img is None else np.ascontiguousarray(img[:, :, ::-1])
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if max(img.size) > MAX_SIDE:
                return None
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, PILImage.DecompressionBombError):
        return None


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "jpeg", stamp: msgs.Time | None = None,
                      frame_id: str = "", quality: int = 90) -> msgs.CompressedImage:
    """Encode uint8 (H, W, 3) RGB as JPEG or PNG."""
    _check_rgb(rgb)
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"format {fmt!r}; accepted: jpeg, png")
    if cv2 is not None:
        ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality]) if fmt == "jpeg" \
            else (".png", [])
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[:, :, ::-1]), params)
        if not ok:
            raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
        data = buf.tobytes()
    else:  # pragma: no cover - depends on the machine
        from PIL import Image as PILImage

        out = io.BytesIO()
        PILImage.fromarray(rgb).save(out, format="JPEG" if fmt == "jpeg" else "PNG",
                                     quality=quality)
        data = out.getvalue()
    return msgs.CompressedImage(header=msgs.Header(stamp=stamp or msgs.Time(), frame_id=frame_id),
                                format=fmt, data=data)


__all__ = [
    "ENCODINGS", "MAX_SIDE", "compressed_to_rgb", "image_to_rgb", "max_wire_bytes",
    "rgb_to_compressed", "rgb_to_image",
]
