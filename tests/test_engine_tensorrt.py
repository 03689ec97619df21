"""Native TensorRT engines: build plans, parity with torch, CUDA-graph denoising loop.

Marked ``tensorrt`` and ``gpu``: they skip where the tensorrt package or a CUDA GPU is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest, read_manifest
from cosmos_policy.engine.testing import tiny_bundle

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("trt") / "bundle")


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_tensorrt_plans_match_torch(bundle: Path, tmp_path: Path, precision: str) -> None:
    from cosmos_policy.policy.verify import verify_engine

    m = export_engine(bundle, EngineRequest("franka", precision=precision, backend="tensorrt"),
                      tmp_path / precision, progress=False)
    assert set(m.plans) == set(m.graphs)
    assert m.target["compute_capability"]
    report = verify_engine(tmp_path / precision, "tensorrt")
    assert report.passed, report.table()


def test_cuda_graph_loop_equals_the_numpy_loop(bundle: Path, tmp_path: Path) -> None:
    from cosmos_policy.policy.compact import EngineModel
    from cosmos_policy.spec import Observation

    export_engine(bundle, EngineRequest("franka", backend="tensorrt"), tmp_path / "e",
                  progress=False)
    rng = np.random.default_rng(0)
    obs = Observation({c: rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
                       for c in ("front", "wrist")}, np.zeros(8, np.float32), "push", 0.0)
    graph_loop = EngineModel(tmp_path / "e", "tensorrt")
    numpy_loop = EngineModel(tmp_path / "e", "tensorrt")
    numpy_loop.backend.denoise_loop = None  # force the per-step numpy loop
    a, b = graph_loop.policy(obs).actions, numpy_loop.policy(obs).actions
    assert np.abs(a - b).max() / np.abs(b).max() <= 1e-4
    assert not np.array_equal(graph_loop.policy(obs).actions, graph_loop.policy(obs).actions)


def test_plans_from_another_gpu_are_refused(bundle: Path, tmp_path: Path) -> None:
    import json

    from cosmos_policy.errors import UserError
    from cosmos_policy.policy.compact import EngineModel

    export_engine(bundle, EngineRequest("franka", backend="tensorrt"), tmp_path / "e",
                  progress=False)
    data = json.loads((tmp_path / "e" / "manifest.json").read_text())
    data["target"]["compute_capability"] = "1.0"
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(data))
    assert read_manifest(tmp_path / "e").plans
    with pytest.raises(UserError, match="plans do not travel"):
        EngineModel(tmp_path / "e", "tensorrt")
