"""Write rollout frames to an mp4 (H.264 through PyAV); the eval video's overlay (a header
with the prompt and the outcome, a strip of joint positions with axis labels and a legend)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


# ---------------------------------------------------------------------------- eval overlay
OK_RGB, FAIL_RGB = (40, 160, 60), (200, 40, 40)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Any:
    """The DejaVu Sans that ships with matplotlib (always there with the report's plots)."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def _fit(draw: Any, text: str, font: Any, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels (a prompt can be long)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def header(width: int, prompt: str, status: str, outcome: str, success: bool) -> np.ndarray:
    """A two-line bar: the prompt, then the status (left) and the outcome (right, coloured)."""
    from PIL import Image, ImageDraw

    size = max(11, width // 40)
    font, bold = _font(size), _font(size + 1)
    pad = size // 2
    img = Image.new("RGB", (width, 2 * (size + pad) + pad), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.text((pad, pad), _fit(draw, f'"{prompt}"', bold, width - 2 * pad), fill=(0, 0, 0),
              font=bold)
    y = size + 2 * pad
    out_w = int(draw.textlength(outcome, font=bold))
    draw.text((width - pad - out_w, y), outcome, fill=OK_RGB if success else FAIL_RGB,
              font=bold)
    draw.text((pad, y), _fit(draw, status, font, width - out_w - 3 * pad), fill=(60, 60, 60),
              font=font)
    return np.asarray(img)


def joint_strip(times: np.ndarray, commanded: np.ndarray, actual: np.ndarray,
                limits: np.ndarray, names: Sequence[str], width: int, height: int
                ) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Commanded (solid) and reached (dotted) positions over time, each scaled to its limits,
    with a legend naming the joints. Returns the image and, for a time cursor, the x range
    shown and the axes' left and right edges as fractions of the width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    lo, hi = limits[:, 0], limits[:, 1]
    cmd = (commanded[:, : len(lo)] - lo) / (hi - lo)
    act = (actual[:, : len(lo)] - lo) / (hi - lo) if len(actual) else actual
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    left, right = 0.09, 0.80  # the legend takes the right-hand column
    ax = fig.add_axes((left, 0.22, right - left, 0.64))
    for j in range(len(lo)):
        ax.plot(times, cmd[:, j], color=f"C{j}", lw=1.0, label=names[j] if j < len(names)
                else f"joint {j + 1}")
        if len(act):
            ax.plot(times[: len(act)], act[:, j], color=f"C{j}", lw=1.0, ls=":")
    ax.set_xlim(0, max(float(times[-1]), 1e-3) if len(times) else 1.0)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("time (s)", fontsize=7, labelpad=1)
    ax.set_ylabel("position in range", fontsize=7)
    ax.set_title("commanded (solid) vs reached (dotted), 0 = lower limit, 1 = upper",
                 fontsize=7)
    ax.tick_params(labelsize=6)
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="k", lw=1.0), Line2D([], [], color="k", lw=1.0, ls=":")]
    labels += ["commanded", "reached"]
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(right + 0.01, 0.54),
               fontsize=6, frameon=False, ncol=1 if len(labels) <= 12 else 2,
               handlelength=1.5, labelspacing=0.25)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img, ax.get_xlim(), (left, right)
