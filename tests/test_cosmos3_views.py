"""The DROID ``concat_view`` canvas, checked region by region with solid-colour views.

Layout from NVIDIA's published RoboLab server: the wrist image on top at full width, the two
exterior views side by side below at half size, 540 x 640 in all.
"""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.models.cosmos3_views import (
    CANVAS_SIZE,
    CANVAS_VIEWPOINT,
    canvas_from_cameras,
    compose_canvas,
    resize,
)

RED, GREEN, BLUE = (200, 10, 10), (10, 200, 10), (10, 10, 200)


def solid(colour: tuple[int, int, int], h: int = 180, w: int = 320) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (h, w, 3)).copy()


def test_canvas_is_540_by_640():
    canvas = compose_canvas(solid(RED), solid(GREEN), solid(BLUE))
    assert canvas.shape == (540, 640, 3)
    assert canvas.dtype == np.uint8
    assert CANVAS_SIZE == (540, 640)
    assert CANVAS_VIEWPOINT == "concat_view"


def test_wrist_on_top_at_full_width_exteriors_below_at_half_size():
    # DROID's ZED cameras are 16:9; the wrist view of a 360 x 640 recording fills the top
    # 360 rows exactly, each exterior a 180 x 320 quarter below
    canvas = compose_canvas(solid(RED, 360, 640), solid(GREEN), solid(BLUE))
    assert np.all(canvas[:360] == RED)  # the whole top, all 640 columns
    assert np.all(canvas[360:, :320] == GREEN)  # exterior 1: bottom left, half width
    assert np.all(canvas[360:, 320:] == BLUE)  # exterior 2: bottom right
    assert not np.any(np.all(canvas[360:] == RED, axis=-1))


def test_views_of_any_size_fill_their_regions():
    canvas = compose_canvas(solid(RED, 64, 64), solid(GREEN, 90, 40), solid(BLUE, 7, 300))
    np.testing.assert_array_equal(np.unique(canvas[:360].reshape(-1, 3), axis=0), [RED])
    np.testing.assert_array_equal(np.unique(canvas[360:, :320].reshape(-1, 3), axis=0),
                                  [GREEN])
    np.testing.assert_array_equal(np.unique(canvas[360:, 320:].reshape(-1, 3), axis=0), [BLUE])


def test_a_gradient_is_resampled_not_reordered():
    img = np.repeat(np.linspace(0, 255, 64, dtype=np.float32)[None, :, None], 3, axis=2)
    img = np.repeat(img, 8, axis=0).astype(np.uint8)
    out = resize(img, (4, 128))
    assert np.all(np.diff(out[0, :, 0].astype(int)) >= 0)  # still increasing left to right
    assert out[0, 0, 0] <= 2
    assert out[0, -1, 0] >= 253


def test_cameras_map_to_the_canvas_and_a_ready_canvas_passes_through():
    images = {"wrist": solid(RED), "left": solid(GREEN), "right": solid(BLUE)}
    canvas = canvas_from_cameras(images, "wrist", ["left", "right"])
    assert np.all(canvas[400:, :300] == GREEN)
    one = canvas_from_cameras({"wrist": solid(RED), "front": solid(GREEN)}, "wrist", ["front"])
    assert np.all(one[360:] == GREEN)  # one exterior camera fills both halves
    ready = solid(BLUE, 540, 640)
    assert np.array_equal(canvas_from_cameras({CANVAS_VIEWPOINT: ready}, "wrist", ["x"]), ready)
    with pytest.raises(ValueError, match="wrist"):
        canvas_from_cameras({"front": solid(RED)}, "wrist", ["front"])
