"""Cosmos 3 action statistics: the three normalisations round-trip; missing pieces are errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cosmos_policy.errors import UserError
from cosmos_policy.models.cosmos3_stats import load_statistics, parse_statistics, write_statistics
from cosmos_policy.models.cosmos3_testing import tiny_statistics


@pytest.mark.parametrize("kind", ["quantile", "mean_std", "min_max"])
def test_round_trip_and_range(kind: str) -> None:
    stats = parse_statistics({"domains": {"droid_lerobot": tiny_statistics(kind)}}, "droid_lerobot")
    rng = np.random.default_rng(0)
    raw = rng.uniform(stats.a if kind != "mean_std" else -1, 1.0, size=(7, 10))
    np.testing.assert_allclose(stats.denormalize(stats.normalize(raw)), raw, atol=1e-5)
    if kind != "mean_std":  # the low/high statistics land on -1 and +1
        np.testing.assert_allclose(stats.normalize(stats.a[None]), -1.0, atol=1e-6)
        np.testing.assert_allclose(stats.normalize(stats.b[None]), 1.0, atol=1e-6)
    else:
        np.testing.assert_allclose(stats.normalize(stats.a[None]), 0.0, atol=1e-6)


def test_quantile_maps_known_values() -> None:
    entry = {"normalization": "quantile", "representation": "absolute",
             "q01": [0.0, -2.0], "q99": [4.0, 2.0], "mask": [True, False]}
    stats = parse_statistics({"domains": {"d": entry}}, "d")
    np.testing.assert_allclose(stats.denormalize(np.array([[0.5, 0.5]])), [[3.0, 0.5]])
    np.testing.assert_allclose(stats.normalize(np.array([[1.0, 7.0]])), [[-0.5, 7.0]])


def test_missing_file_domain_and_fields_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no action statistics"):
        load_statistics(tmp_path, "droid_lerobot")
    write_statistics(tmp_path, {"droid_lerobot": tiny_statistics()})
    assert load_statistics(tmp_path, "droid_lerobot").kind == "quantile"
    with pytest.raises(UserError, match="no statistics for Cosmos 3 domain 'fractal'"):
        load_statistics(tmp_path, "fractal")
    bad = tiny_statistics()
    del bad["q99"]
    (tmp_path / "b.json").write_text(json.dumps({"domains": {"d": bad}}))
    with pytest.raises(UserError, match="'q99' is missing"):
        load_statistics(tmp_path / "b.json", "d")
    for field, value in [("normalization", "zscore"), ("representation", None)]:
        entry = {**tiny_statistics(), field: value}
        with pytest.raises(UserError, match=field):
            parse_statistics({"domains": {"d": entry}}, "d")
