"""verify_engine's observation sources: engine/ takes real observations as a parameter (it
sits below sim/), and the simulator's source gives observations the engine accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest, read_manifest
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.policy.verify import verify_engine
from cosmos_policy.sim.observations import verify_observations


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("engine")
    export_engine(tiny_bundle(tmp / "bundle"), EngineRequest("franka"), tmp / "engine",
                  progress=False)
    return tmp / "engine"


def test_simulator_observations_fit_the_engine_and_are_checked_as_their_own_set(
        engine: Path) -> None:
    manifest = read_manifest(engine)
    obs = verify_observations(manifest, 2, 0)
    size = manifest.config.image_size * 2  # not the model's size: resizing is checked too
    assert len(obs) == 2
    assert {k: v.shape for k, v in obs[0].images.items()} == {
        c: (size, size, 3) for c in manifest.config.cameras}
    assert obs[0].state.shape == (manifest.domain.state_dim,)
    report = verify_engine(engine, "onnxruntime-cpu", samples=1, seed=2,
                           sources={"sim": verify_observations})
    assert report.passed, report.table()
    names = [c.name for c in report.checks]
    assert "policy chunk (sim obs 0)" in names
    assert "policy chunk (random obs 0)" in names
    assert not report.notes


def test_a_failing_source_is_a_note_not_a_crash(engine: Path) -> None:
    def broken(manifest, n, seed):
        raise RuntimeError("no renderer")

    report = verify_engine(engine, "onnxruntime-cpu", samples=1, sources={"robot": broken})
    assert report.passed
    assert report.notes == ["no robot observations (RuntimeError: no renderer)"]
    assert not any("robot obs" in c.name for c in report.checks)
