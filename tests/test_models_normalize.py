"""The one affine normalisation step every model kind uses (compact mean/std, Cosmos 3
quantile and min/max ranges)."""

from __future__ import annotations

import numpy as np

from cosmos_policy.models.cosmos3_stats import ActionStatistics
from cosmos_policy.models.normalize import Normalizer


def test_a_range_maps_its_ends_to_minus_one_and_one_and_back() -> None:
    n = Normalizer.from_range([0.0, -2.0, 1.0], [1.0, 2.0, 1.0])  # last: a zero-width range
    y = n.normalize(np.array([[0.0, -2.0, 1.0], [1.0, 2.0, 1.0], [0.5, 0.0, 1.0]]))
    np.testing.assert_allclose(y[:2, :2], [[-1, -1], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(y[2, :2], [0, 0], atol=1e-6)
    assert np.all(np.isfinite(y))  # the zero-width channel is divided by eps, not by zero
    np.testing.assert_allclose(n.denormalize(np.array([[-1.0, 1.0, 0.0]])), [[0, 2, 1]],
                               atol=1e-6)


def test_channels_outside_the_mask_pass_through_both_ways() -> None:
    n = Normalizer([10.0, 10.0], [2.0, 2.0], mask=[True, False])
    np.testing.assert_allclose(n.normalize(np.array([12.0, 0.3])), [1.0, 0.3], atol=1e-6)
    np.testing.assert_allclose(n.denormalize(np.array([1.0, 0.3])), [12.0, 0.3], atol=1e-6)


def test_cosmos3_quantile_statistics_are_that_step() -> None:
    """q01 -> -1, q99 -> +1 (NVIDIA's quantile normalisation), the gripper channel unmasked."""
    stats = ActionStatistics("droid", "quantile", np.array([-0.1, 0.0]), np.array([0.3, 1.0]),
                             np.array([True, False]), "delta")
    np.testing.assert_allclose(stats.normalize(np.array([[-0.1, 0.7], [0.3, 0.2]])),
                               [[-1.0, 0.7], [1.0, 0.2]], atol=1e-6)
    assert isinstance(stats.normalizer, Normalizer)
    raw = np.array([[0.05, 0.4]])
    np.testing.assert_allclose(stats.denormalize(stats.normalize(raw)), raw, atol=1e-6)
