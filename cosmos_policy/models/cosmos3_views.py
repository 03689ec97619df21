"""How Cosmos 3's DROID checkpoints see three cameras: one ``concat_view`` canvas.

NVIDIA's DROID post-training (and its RoboLab policy server) feeds the model a single image
per step, ``CANVAS_SIZE`` = 540 x 640 (H x W), laid out as::

    +-----------------------------+
    |         wrist view          |   top 2/3: the wrist camera at full width
    +--------------+--------------+
    |  exterior 1  |  exterior 2  |   bottom 1/3: both exterior cameras at half size
    +--------------+--------------+

and labels it with the viewpoint ``concat_view`` plus a sentence that says which part is
which. NVIDIA's server halves the exteriors relative to the wrist image and then resizes
the whole canvas; here each view is resized once, straight into its region, which is the
same layout with one resampling fewer. Pure numpy (bilinear), so the serving shell can
compose canvases without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

CANVAS_VIEWPOINT = "concat_view"
CANVAS_SIZE = (540, 640)  # (H, W) of the released DROID policy checkpoints
# Our wording of what the canvas shows (the model reads it as part of its caption).
CANVAS_DESCRIPTION = ("Top: the camera on the robot's wrist. Bottom: two third-person cameras "
                      "on opposite sides of the scene, side by side, with the robot in view.")


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one uint8 (H, W, 3) image to (h, w) = ``size`` (pixel centres
    aligned, as ``align_corners=False``); a copy-free no-op at the same size."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size: expected positive (h, w), got {size}")
    if img.shape[:2] == (h, w):
        return img

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0.0, n_in - 1)
        i0 = np.floor(x).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (x - i0)

    y0, y1, fy = axis(img.shape[0], h)
    x0, x1, fx = axis(img.shape[1], w)
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - fx)[None, :, None] + f[y0][:, x1] * fx[None, :, None]
    bot = f[y1][:, x0] * (1 - fx)[None, :, None] + f[y1][:, x1] * fx[None, :, None]
    out = top * (1 - fy)[:, None, None] + bot * fy[:, None, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def compose_canvas(wrist: np.ndarray, exterior_1: np.ndarray, exterior_2: np.ndarray,
                   size: tuple[int, int] = CANVAS_SIZE) -> np.ndarray:
    """The DROID canvas uint8 (H, W, 3) from three uint8 (h, w, 3) views of any size.

    The wrist view fills the top two thirds at full width; the exteriors fill the bottom
    third, each at half the width (exterior 1 on the left).
    """
    h, w = int(size[0]), int(size[1])
    top_h = round(h * 2 / 3)
    half_w = w // 2
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:top_h] = resize(wrist, (top_h, w))
    canvas[top_h:, :half_w] = resize(exterior_1, (h - top_h, half_w))
    canvas[top_h:, half_w:] = resize(exterior_2, (h - top_h, w - half_w))
    return canvas


def canvas_from_cameras(images: Mapping[str, np.ndarray], wrist: str,
                        exteriors: Sequence[str],
                        size: tuple[int, int] = CANVAS_SIZE) -> np.ndarray:
    """The canvas from an observation's camera images: ``wrist`` on top, the first two of
    ``exteriors`` below (one exterior camera fills both halves). A ready canvas under
    :data:`CANVAS_VIEWPOINT` is used as it is (resized to ``size``)."""
    if CANVAS_VIEWPOINT in images:
        return resize(images[CANVAS_VIEWPOINT], size)
    missing = [c for c in (wrist, *exteriors[:1]) if c not in images]
    if missing or not exteriors:
        raise ValueError(f"the {CANVAS_VIEWPOINT} canvas needs the wrist camera {wrist!r} and "
                         f"an exterior camera; the observation has {sorted(images)}")
    second = exteriors[1] if len(exteriors) > 1 and exteriors[1] in images else exteriors[0]
    return compose_canvas(images[wrist], images[exteriors[0]], images[second], size)


__all__ = ["CANVAS_DESCRIPTION", "CANVAS_SIZE", "CANVAS_VIEWPOINT", "canvas_from_cameras",
           "compose_canvas", "resize"]
