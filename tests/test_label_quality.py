"""R^2 and normalised error of inferred actions against true ones."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.label import testing as T
from cosmos_policy.label.pipeline import label
from cosmos_policy.label.quality import action_quality, compare_datasets


def test_perfect_mean_and_noisy_predictions():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(200, 3)).astype(np.float32)
    true[:, 2] = 1.0  # a constant dimension has no R^2
    perfect = action_quality(true, true, ["x", "y", "g"])
    assert perfect["dims"]["x"]["r2"] == 1.0
    assert perfect["dims"]["x"]["nmae"] == 0.0
    assert perfect["dims"]["g"]["r2"] is None
    mean = action_quality(np.tile(true.mean(0), (200, 1)), true)
    assert mean["dims"]["a0"]["r2"] == pytest.approx(0.0, abs=1e-6)
    noisy = action_quality(true + rng.normal(scale=0.5, size=true.shape), true)
    assert 0.5 < noisy["dims"]["a1"]["r2"] < 0.9
    with pytest.raises(UserError):
        action_quality(true[:, :2], true)


def test_compare_labelled_with_source(tmp_path):
    bundle = tiny_bundle(tmp_path / "bundle")
    src = T.lerobot_dataset(tmp_path / "src", episodes=2, length=9)
    label(src, tmp_path / "out", "franka", model=str(bundle), progress=False, cycle=False,
          samples=2)
    q = compare_datasets(tmp_path / "out", src)
    assert q["frames"] == 19
    assert len(q["dims"]) == 10
    assert q["mean_r2"] < 0.5  # a random model does not know the (random) true actions
    with pytest.raises(UserError, match="provenance"):
        compare_datasets(src, src)
