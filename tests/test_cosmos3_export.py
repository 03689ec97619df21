"""One Cosmos 3 denoising step exported to ONNX and checked against torch (onnxruntime).

Tiny random checkpoint built locally; skips where diffusers with Cosmos 3 is absent. The
TensorRT build is marked ``tensorrt``/``gpu`` and skips here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos3_omni",
                    reason="diffusers >= 0.42 with Cosmos3OmniPipeline is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

from cosmos_policy.engine.cosmos3_export import (  # noqa: E402
    build_tensorrt,
    capture_step_inputs,
    export_denoise_step,
    step_example,
    torch_step,
)
from cosmos_policy.models.cosmos3 import Cosmos3WAM, load_cosmos3  # noqa: E402
from cosmos_policy.models.cosmos3_testing import tiny_checkpoint  # noqa: E402

SIZE = (64, 64)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Cosmos3WAM:
    root = tiny_checkpoint(tmp_path_factory.mktemp("cosmos3x") / "tiny")
    return load_cosmos3(root, "franka", domain="droid_lerobot", dtype="float32", device="cpu",
                        chunk_size=4, resolution_tier=256, steps=2)


@pytest.fixture(scope="module")
def exported(model: Cosmos3WAM, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_denoise_step(model, tmp_path_factory.mktemp("onnx"), "policy", SIZE)


def test_policy_step_matches_torch(model: Cosmos3WAM, exported: Path) -> None:
    manifest = json.loads(exported.with_suffix(".json").read_text())
    assert manifest["mode"] == "policy"
    assert manifest["inputs"]["action"]["shape"] == [4, model.pipe.transformer.config.action_dim]
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    packed = capture_step_inputs(model, "policy", SIZE)
    for seed, t in [(0, 900.0), (1, 120.0)]:  # inputs really flow: two feeds, two answers
        feeds = step_example(packed, seed=seed, timestep=t)
        got = session.run(None, feeds)
        want = torch_step(model, "policy", SIZE, feeds)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-3)
    assert not np.allclose(session.run(None, step_example(packed, 0))[1],
                           session.run(None, step_example(packed, 1))[1])


@pytest.mark.parametrize("mode", ["forward_dynamics", "inverse_dynamics"])
def test_other_modes_export_and_match(model: Cosmos3WAM, tmp_path: Path, mode: str) -> None:
    path = export_denoise_step(model, tmp_path, mode, SIZE)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = step_example(capture_step_inputs(model, mode, SIZE), seed=3)
    for g, w in zip(session.run(None, feeds), torch_step(model, mode, SIZE, feeds), strict=True):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-3)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_tensorrt_plan_builds(exported: Path, tmp_path: Path) -> None:
    plan = build_tensorrt(exported, tmp_path / "step_policy.plan", precision="fp16")
    assert plan.stat().st_size > 0
