"""A bundle names the noise scale its policy samples with (manifest ``sampler.noise_scale``,
chosen on validation): torch, its engines, eval's report and its fine-tunes all keep it, and
an explicit ``--noise-scale`` still wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_fakes import TINY, FakeDataset

from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import load_bundle, read_manifest
from cosmos_policy.policy.compact import EngineModel
from cosmos_policy.policy.registry import load_model, model_noise_scale
from cosmos_policy.sim.evaluate import EvalConfig, config_dict
from cosmos_policy.training.trainer import TrainConfig, Trainer


def with_sampler(bundle: Path, sampler: object) -> Path:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["sampler"] = sampler
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_sampler(tiny_bundle(tmp_path_factory.mktemp("m") / "b"), {"noise_scale": 0.7})


def test_the_bundles_noise_scale_unless_told_otherwise(bundle: Path) -> None:
    assert load_model(bundle, "franka", backend="torch").noise_scale == 0.7
    assert load_model(bundle, "franka", backend="torch", noise_scale=1.0).noise_scale == 1.0
    assert load_model(bundle, "franka", backend="torch", noise_scale=0.0).noise_scale == 0.0
    assert model_noise_scale(bundle) == 0.7
    report = config_dict(EvalConfig(model=str(bundle)))
    assert report["noise_scale"] == 0.7
    assert config_dict(EvalConfig(model=str(bundle), noise_scale=0.2))["noise_scale"] == 0.2


def test_a_bundle_without_a_sampler_samples_at_full_scale(tmp_path: Path) -> None:
    plain = tiny_bundle(tmp_path / "plain")
    assert load_model(plain, "franka", backend="torch").noise_scale == 1.0
    assert model_noise_scale(plain) == 1.0


def test_an_engine_keeps_the_bundles_noise_scale(bundle: Path, tmp_path: Path) -> None:
    manifest = export_engine(bundle, EngineRequest("franka"), tmp_path / "engine",
                             progress=False)
    assert manifest.noise_scale == 0.7
    assert EngineModel(tmp_path / "engine", "onnxruntime").noise_scale == 0.7
    assert EngineModel(tmp_path / "engine", "onnxruntime", noise_scale=1.0).noise_scale == 1.0
    assert model_noise_scale(tmp_path / "engine") == 0.7


@pytest.mark.parametrize("sampler", [{"noise_scale": 1.5}, {"noise_scale": "low"},
                                     {"noise_scale": True}, 0.5])
def test_a_bad_sampler_is_refused_naming_the_field(tmp_path: Path, sampler: object) -> None:
    bad = with_sampler(tiny_bundle(tmp_path / "bad"), sampler)
    with pytest.raises(UserError, match=r"manifest.json: field 'sampler"):
        load_model(bad, "franka", backend="torch")


def test_a_fine_tune_keeps_its_parents_sampler(bundle: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(steps=2, batch=2, warmup=1, log_every=1, ckpt_every=100)
    out = Trainer([FakeDataset("franka", 8)], tmp_path / "ft", TINY, cfg, init=bundle).run()
    assert read_manifest(out)["sampler"] == {"noise_scale": 0.7}
    assert load_bundle(out)[2]["training"]["step"] == 2
    assert load_model(out, "franka", backend="torch").noise_scale == 0.7
