"""MP4 video files with PyAV: append episodes to one file per camera, decode a time range.

Frames are RGB uint8 (H, W, 3). Encoding is H.264 (libx264, yuv420p, constant frame rate),
which LeRobot and every video player read; presentation times are frame_index / fps.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from cosmos_policy.errors import UserError

CODEC = "libx264"
PIX_FMT = "yuv420p"


class VideoAppender:
    """Writes frames of consecutive episodes into one mp4; tracks the running time (s)."""

    def __init__(self, path: Path, fps: int, width: int, height: int, crf: int = 18) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fps = path, fps
        self._container = av.open(str(path), mode="w")
        stream = self._container.add_stream(CODEC, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, PIX_FMT
        # Every frame a keyframe-friendly GOP keeps episode seeks exact and cheap.
        stream.options = {"crf": str(crf), "g": str(2 * fps), "bf": "0"}
        self._stream = stream
        self.frames_written = 0

    @property
    def time_s(self) -> float:
        return self.frames_written / self.fps

    def append(self, frames: np.ndarray) -> tuple[float, float]:
        """Append (T, H, W, 3) uint8 frames; returns the episode's (from, to) timestamps."""
        start = self.time_s
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames_written  # in 1/fps units, the codec's time base
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1
        return start, self.time_s

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()


def decode_range(path: Path, from_s: float, to_s: float, fps: float) -> np.ndarray:
    """Frames whose timestamps lie in [from_s, to_s) as uint8 (T, H, W, 3)."""
    if not path.is_file():
        raise UserError(f"video file missing: {path}")
    first = round(from_s * fps)
    last = round(to_s * fps)  # exclusive
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if first > 0:
            container.seek(int(from_s / stream.time_base), stream=stream, backward=True,
                           any_frame=False)
        for frame in container.decode(stream):
            index = round(float(frame.pts * stream.time_base) * fps)
            if index < first:
                continue
            if index >= last:
                break
            out.append(frame.to_ndarray(format="rgb24"))
    if len(out) != last - first:
        raise UserError(f"{path}: expected {last - first} frames in [{from_s:.3f}, {to_s:.3f}) s,"
                        f" decoded {len(out)}; the file is truncated or corrupt")
    return np.stack(out)
