"""Write rollout frames to an mp4 (H.264 through PyAV)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float = 10.0) -> Path:
    """Encode uint8 (H, W, 3) RGB ``frames`` to ``path`` (H.264, yuv420p) at ``fps`` frames/s.

    Odd sizes are padded by one pixel (yuv420p needs even sizes). Returns the path.
    """
    if not frames:
        raise ValueError("write_video: no frames")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    ph, pw = h + h % 2, w + w % 2
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for frame in frames:
            image = np.pad(frame, ((0, ph - h), (0, pw - w), (0, 0)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
