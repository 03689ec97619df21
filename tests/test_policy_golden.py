"""Golden numbers: the shipped default model's outputs for one fixed observation and seed.

tests/data/policy_golden.npz was written once by the code at commit 0145141, before the
inference wrappers and samplers were merged into :mod:`cosmos_policy.policy`; these tests
prove the merged wrapper gives the same numbers on the torch backend and on ONNX Runtime.
To regenerate (only when a change of the numbers is intended), run this file's
``_outputs`` functions and save their dicts with ``np.savez_compressed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest
from cosmos_policy.models.checkpoint import default_model_path
from cosmos_policy.policy import load_model
from cosmos_policy.policy.compact import EngineModel
from cosmos_policy.spec import Observation

GOLDEN = np.load(Path(__file__).parent / "data" / "policy_golden.npz")
#: Stored against recomputed actions (normalised units are ~1; float32 summation order on
#: another CPU may move the last bits, a changed sampler or transform moves them by >1e-3).
ATOL = 1e-5
#: torch eager against ONNX Runtime on the same seed: the graphs differ only in kernel
#: fusion, measured 2.4e-7 on the default model.
BACKEND_ATOL = 1e-5


def _obs() -> tuple[Observation, dict[str, np.ndarray]]:
    """The fixed observation (96 px frames, resized to the model's 64) and 9 frames t..t+8."""
    rng = np.random.default_rng(0)
    imgs = {c: rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for c in ("front", "wrist")}
    state = (rng.normal(size=8) * 0.3).astype(np.float32)
    frames = {c: rng.integers(0, 256, (9, 96, 96, 3), dtype=np.uint8)
              for c in ("front", "wrist")}
    return Observation(imgs, state, "push the red block to the green target", 1.5), frames


def _torch_outputs() -> dict[str, np.ndarray]:
    o, frames = _obs()
    # the full-scale sampler, whatever the shipped manifest's sampler.noise_scale is
    m = load_model(None, "franka", seed=0, return_future_frames=True, noise_scale=1.0)
    c1, c2 = m.policy(o), m.policy(o)
    out = {"torch_policy": c1.actions, "torch_policy_second": c2.actions,
           "torch_future_front": c1.future_frames["front"]}
    m.reset()
    out["torch_forward_front"] = m.forward_dynamics(o, c1.actions)["front"]
    m.reset()
    out["torch_inverse"] = m.inverse_dynamics(frames, o.state)
    quiet = load_model(None, "franka", seed=0, noise_scale=0.0)
    out["torch_policy_noise0"] = quiet.policy(o).actions
    return out


def _ort_outputs(engine: Path) -> dict[str, np.ndarray]:
    o, frames = _obs()
    e = EngineModel(engine, "onnxruntime-cpu", seed=0, return_future_frames=True,
                    noise_scale=1.0)
    c1, c2 = e.policy(o), e.policy(o)
    out = {"ort_policy": c1.actions, "ort_policy_second": c2.actions,
           "ort_future_front": c1.future_frames["front"]}
    e.reset()
    out["ort_inverse"] = e.inverse_dynamics(frames, o.state)
    return out


@pytest.fixture(scope="module")
def torch_out() -> dict[str, np.ndarray]:
    return _torch_outputs()


@pytest.fixture(scope="module")
def ort_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    root = tmp_path_factory.mktemp("golden") / "engine"
    export_engine(default_model_path(), EngineRequest("franka"), root, progress=False)
    return _ort_outputs(root)


def _check(out: dict[str, np.ndarray]) -> None:
    for key, got in out.items():
        want = GOLDEN[key]
        assert got.shape == want.shape, key
        assert got.dtype == want.dtype, key
        if want.dtype == np.uint8:  # decoded frames: at most one level off where rounding ties
            diff = np.abs(got.astype(int) - want.astype(int))
            assert diff.max() <= 1, key
            assert diff.mean() < 0.01, key
        else:
            np.testing.assert_allclose(got, want, rtol=0, atol=ATOL, err_msg=key)


def test_torch_backend_reproduces_the_stored_numbers(torch_out: dict[str, np.ndarray]) -> None:
    _check(torch_out)
    # The reference is not trivially matched: the second chunk continues the noise stream.
    assert np.abs(GOLDEN["torch_policy"] - GOLDEN["torch_policy_second"]).max() > 1e-2


def test_onnxruntime_reproduces_the_stored_numbers(ort_out: dict[str, np.ndarray]) -> None:
    _check(ort_out)


def test_torch_and_onnxruntime_agree(torch_out: dict[str, np.ndarray],
                                     ort_out: dict[str, np.ndarray]) -> None:
    for key in ("policy", "policy_second", "inverse"):
        np.testing.assert_allclose(torch_out[f"torch_{key}"], ort_out[f"ort_{key}"], rtol=0,
                                   atol=BACKEND_ATOL, err_msg=key)
    diff = np.abs(torch_out["torch_future_front"].astype(int)
                  - ort_out["ort_future_front"].astype(int))
    assert diff.max() <= 1
