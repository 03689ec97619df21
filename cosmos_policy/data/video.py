"""MP4 video files with PyAV: append episodes to one file per camera, decode a time range.

Frames are RGB uint8 (H, W, 3). Encoding is H.264 (libx264, yuv420p, constant frame rate,
no B-frames so presentation times start at 0 and equal frame_index / fps), falling back to
another encoder this PyAV build has. Decoding reads any codec FFmpeg knows, including the
AV1 that LeRobot writes by default.
"""

from __future__ import annotations

import functools
from pathlib import Path

import av
import numpy as np

from cosmos_policy.errors import UserError

PIX_FMT = "yuv420p"
# encoder -> the codec name recorded in info.json (features.<key>.info."video.codec")
ENCODERS = {"libx264": "h264", "libopenh264": "h264", "h264": "h264", "mpeg4": "mpeg4"}


@functools.cache
def pick_encoder() -> str:
    """The first encoder of :data:`ENCODERS` that this PyAV build can write with."""
    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # noqa: BLE001 - PyAV raises several kinds for a missing encoder
            continue
        return name
    raise UserError(f"PyAV {av.__version__} has none of the video encoders {list(ENCODERS)}; "
                    "install a PyAV wheel built with libx264 (pip install av)")


class VideoAppender:
    """Writes frames of consecutive episodes into one mp4; tracks the running time (s)."""

    def __init__(self, path: Path, fps: int, width: int, height: int, crf: int = 18) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fps = path, fps
        self.encoder = pick_encoder()
        self._container = av.open(str(path), mode="w")
        stream = self._container.add_stream(self.encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, PIX_FMT
        # No B-frames: pts = frame number from 0, so from/to timestamps are exact.
        options = {"g": str(2 * fps), "bf": "0"}
        if self.encoder == "libx264":
            options["crf"] = str(crf)
        else:
            stream.bit_rate = 8 * width * height * fps // 10
        stream.options = options
        self._stream = stream
        self.frames_written = 0
        self.bytes_written = 0
        self._packets = 0

    @property
    def time_s(self) -> float:
        """Seconds of video written so far; the next episode starts here."""
        return self.frames_written / self.fps

    def append(self, frames: np.ndarray) -> tuple[float, float]:
        """Append (T, H, W, 3) uint8 frames; returns the episode's (from, to) timestamps."""
        start = self.time_s
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames_written  # in 1/fps units, the codec's time base
            self._mux(self._stream.encode(frame))
            self.frames_written += 1
        return start, self.time_s

    @property
    def size_estimate(self) -> int:
        """Bytes the file will hold for the frames given so far: what was muxed, plus the
        frames still inside the encoder's look-ahead at the mean size so far (or 1/20 of
        raw when nothing came out yet)."""
        pending = self.frames_written - self._packets
        raw = self._stream.width * self._stream.height * 3
        per_frame = self.bytes_written / self._packets if self._packets else raw / 20
        return int(self.bytes_written + pending * per_frame)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.bytes_written += packet.size
            self._packets += 1
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file."""
        self._mux(self._stream.encode())
        self._container.close()


def decode_range(path: Path, from_s: float, to_s: float, fps: float) -> np.ndarray:
    """Frames whose timestamps lie in [from_s, to_s) as uint8 (T, H, W, 3).

    A frame's timestamp is its pts in seconds, as LeRobot reads it; it is matched to the
    grid of ``fps`` by rounding, so small timestamp jitter from other writers is harmless.
    """
    if not path.is_file():
        raise UserError(f"video file missing: {path}")
    first = round(from_s * fps)
    last = round(to_s * fps)  # exclusive
    out = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if first > 0:
                container.seek(int(from_s / stream.time_base), stream=stream, backward=True,
                               any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                index = round(float(frame.pts * stream.time_base) * fps)
                if index < first:
                    continue
                if index >= last:
                    break
                out.append(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as exc:
        raise UserError(f"{path}: cannot decode ({exc}); the file is truncated or corrupt"
                        ) from exc
    if len(out) != last - first:
        raise UserError(f"{path}: expected {last - first} frames in [{from_s:.3f}, {to_s:.3f}) s,"
                        f" decoded {len(out)}; the file is truncated or corrupt")
    return np.stack(out)
