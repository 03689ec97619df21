"""Engine export: valid static ONNX graphs with a manifest, and ONNX Runtime parity with torch
for each graph and for whole chunks in all three modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.graphs import GRAPHS, random_feeds
from cosmos_policy.engine.manifest import EngineRequest, read_manifest
from cosmos_policy.engine.testing import TINY, tiny_bundle
from cosmos_policy.models.flow import Mode
from cosmos_policy.policy.compact import EngineModel, load_model
from cosmos_policy.policy.verify import verify_engine
from cosmos_policy.spec import Observation, WorldActionModel


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("engine")
    bundle = tiny_bundle(tmp / "bundle")
    export_engine(bundle, EngineRequest("franka"), tmp / "engine", progress=False)
    return bundle, tmp / "engine"


def _obs(seed: int = 0, side: int = 48) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation({c: rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
                        for c in TINY.cameras}, rng.normal(size=8).astype(np.float32),
                       "push the red block", 2.0)


def test_export_writes_valid_static_onnx_and_a_full_manifest(built: tuple[Path, Path]) -> None:
    bundle, engine = built
    data = json.loads((engine / "manifest.json").read_text())
    m = read_manifest(engine)
    assert set(m.graphs) == set(GRAPHS)
    for name, g in m.graphs.items():
        model = onnx.load(str(engine / g["file"]))
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == m.opset == 17
        assert [i.name for i in model.graph.input] == [s["name"] for s in g["inputs"]]
        for inp, spec in zip(model.graph.input, g["inputs"], strict=True):
            dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
            assert dims == spec["shape"], name  # static: every dim is a number
        assert len(g["sha256"]) == 64
    ctx = m.io("context")
    assert ctx.inputs[0].dtype == "uint8"
    assert ctx.inputs[0].shape == (1, 2, TINY.image_size, TINY.image_size, 3)
    assert ctx.outputs[0].shape == (TINY.n_layers, 2, 1, TINY.n_heads, TINY.reasoner_len,
                                    TINY.head_dim)
    assert data["embodiment"] == "franka"
    assert data["domain_index"] == 0
    assert data["domain"]["state_std"] == [0.5] * 8  # normalisation statistics travel along
    assert data["precision"] == "fp32"
    assert data["steps"] == 10
    assert data["batch"] == 1
    assert len(data["model"]["sha256"]) == 64
    assert "onnxruntime" in data["versions"]


def test_each_graph_matches_torch_on_fresh_random_inputs(built: tuple[Path, Path]) -> None:
    report = verify_engine(built[1], "onnxruntime-cpu", samples=2, seed=7)
    assert report.passed, report.table()
    graphs = {c.name.split(".")[0] for c in report.checks if "." in c.name}
    assert graphs == set(GRAPHS)
    # The comparison is not vacuous: a wrong seed for the reference would not pass.
    assert all(c.rel_err < 1e-4 for c in report.checks)


def test_engine_policy_chunk_equals_torch_model(built: tuple[Path, Path]) -> None:
    bundle, engine = built
    ref = load_model(bundle, "franka", return_future_frames=True)
    eng = EngineModel(engine, "onnxruntime-cpu", return_future_frames=True)
    assert isinstance(eng, WorldActionModel)
    for seed in (0, 1):
        ref.reset()
        eng.reset()
        a, b = ref.policy(_obs(seed)), eng.policy(_obs(seed))
        assert b.actions.shape == (TINY.chunk, 10)
        assert b.actions.dtype == np.float32
        scale = np.abs(a.actions).max()
        assert scale > 0.1
        assert np.abs(a.actions - b.actions).max() / scale <= 1e-4
        assert b.timestamp == 2.0
        assert b.dt == a.dt
        assert b.future_frames["front"].shape == (1, 48, 48, 3)
        assert np.abs(a.future_frames["front"].astype(int) - b.future_frames["front"]).max() <= 1
    # Sampling is seeded: a second call without reset draws new noise.
    assert not np.allclose(eng.policy(_obs(0)).actions, eng.policy(_obs(0)).actions)


def test_forward_and_inverse_dynamics_through_the_same_graphs(built: tuple[Path, Path]) -> None:
    bundle, engine = built
    ref, eng = load_model(bundle, "franka"), EngineModel(engine, "onnxruntime-cpu")
    obs = _obs(3)
    actions = np.random.default_rng(0).normal(size=(TINY.chunk, 10)).astype(np.float32)
    fa, fb = ref.forward_dynamics(obs, actions), eng.forward_dynamics(obs, actions)
    assert fb["wrist"].shape == (1, 48, 48, 3)
    assert np.abs(fa["wrist"].astype(int) - fb["wrist"]).max() <= 1
    rng = np.random.default_rng(1)
    frames = {c: rng.integers(0, 256, (TINY.horizon + 1, 48, 48, 3), dtype=np.uint8)
              for c in TINY.cameras}
    ref.reset()
    eng.reset()
    ia, ib = ref.inverse_dynamics(frames, obs.state), eng.inverse_dynamics(frames, obs.state)
    assert ib.shape == (TINY.chunk, 10)
    assert np.abs(ia - ib).max() / np.abs(ia).max() <= 1e-4


def test_reconstruct_is_the_autoencoder_round_trip_in_torch_and_the_engine(
        built: tuple[Path, Path]) -> None:
    """The autoencoder ceiling of forward dynamics: frames encoded and decoded, at the input
    resolution, the same through the torch model and the engine's graphs."""
    bundle, engine = built
    ref, eng = load_model(bundle, "franka"), EngineModel(engine, "onnxruntime-cpu")
    obs = _obs(4)
    ra, rb = ref.reconstruct(obs.images), eng.reconstruct(obs.images)
    for cam in TINY.cameras:
        assert ra[cam].shape == rb[cam].shape == (1, 48, 48, 3)
        assert np.abs(ra[cam].astype(int) - rb[cam]).max() <= 1
    # It is what forward dynamics decodes its latents with: frames of the decoder's range, not
    # the input (random noise does not survive an 8x downsampling autoencoder).
    assert not np.array_equal(ra["wrist"][0], obs.images["wrist"])


def test_batched_engine_pads_and_splits(tmp_path: Path, built: tuple[Path, Path]) -> None:
    bundle, _ = built
    export_engine(bundle, EngineRequest("franka", batch=2), tmp_path / "b2", progress=False)
    eng = EngineModel(tmp_path / "b2", "onnxruntime-cpu")
    ref = load_model(bundle, "franka")
    chunks = eng.policy_batch([_obs(0), _obs(1), _obs(2)])  # one full batch + one padded
    assert len(chunks) == 3
    assert all(c.actions.shape == (TINY.chunk, 10) for c in chunks)
    # Deterministic denoising given the same noise: the torch sampler at batch 2.
    ref.reset()
    eng.reset()
    first_two = ref.policy_batch([_obs(0), _obs(1)])
    again = eng.policy_batch([_obs(0), _obs(1)])
    for a, b in zip(first_two, again, strict=True):
        assert np.abs(a.actions - b.actions).max() / np.abs(a.actions).max() <= 1e-4


def test_sampler_matches_the_torch_schedule() -> None:
    """The one Euler loop follows the schedule: seeded noise, float32 t = i / steps, masked
    action updates, condition tokens held (checked on a linear velocity field)."""
    import torch

    from cosmos_policy.policy.sampler import draw_noise, euler_sample

    mask = np.zeros((1, 10), np.float32)
    mask[:, :7] = 1
    x_a, x_l = draw_noise(torch.Generator().manual_seed(3), (1, 4, 10), (1, 2, 4, 8, 8), mask)
    g = torch.Generator().manual_seed(3)
    ref_a = torch.randn((1, 4, 10), generator=g) * torch.from_numpy(mask)[:, None]
    assert np.array_equal(x_a, ref_a.numpy())
    assert not x_a[..., 7:].any()
    times = []

    def step(xa, xl, ta, tl):  # noqa: ANN001, ANN202
        times.append((float(ta[0]), float(tl[0])))
        return np.ones_like(xa), -xl

    a, lat = euler_sample(step, x_a, x_l, Mode.INVERSE, mask, 5, future=x_l)
    assert times == [(float(np.float32(i / 5)), 1.0) for i in range(5)]  # float32 t
    assert np.allclose(a[..., :7], x_a[..., :7] + 1.0, atol=1e-6)
    assert not a[..., 7:].any()
    assert np.array_equal(lat, x_l)  # the clean condition never moves


def test_random_feeds_respect_input_meaning() -> None:
    from cosmos_policy.engine.graphs import graph_io

    feeds = random_feeds(graph_io(TINY, 2)["context"], seed=0)
    mask = feeds["prompt_mask"]
    assert mask[:, 0].all()
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert not feeds["prompt_emb"][mask == 0].any()
    assert feeds["images"].dtype == np.uint8


def test_noise_scale_zero_is_deterministic_and_the_same_in_both(built: tuple[Path, Path]) -> None:
    bundle, engine = built
    from cosmos_policy.errors import UserError

    ref = load_model(bundle, "franka", noise_scale=0.0)
    eng = EngineModel(engine, "onnxruntime-cpu", noise_scale=0.0)
    a, b = ref.policy(_obs(0)).actions, eng.policy(_obs(0)).actions
    assert np.abs(a - b).max() / np.abs(a).max() <= 1e-4
    # No noise: the same chunk on every call, whatever the generator's state.
    assert np.array_equal(eng.policy(_obs(0)).actions, eng.policy(_obs(0)).actions)
    half = EngineModel(engine, "onnxruntime-cpu", noise_scale=0.5)
    full = EngineModel(engine, "onnxruntime-cpu")
    d_half = np.abs(half.policy(_obs(0)).actions - b).max()
    d_full = np.abs(full.policy(_obs(0)).actions - b).max()
    assert 0 < d_half < d_full  # same draws, scaled: half the noise lands nearer the mean
    for bad in (-0.1, 1.5):
        with pytest.raises(UserError, match="noise_scale"):
            EngineModel(engine, "onnxruntime-cpu", noise_scale=bad)
        with pytest.raises(UserError, match="noise_scale"):
            load_model(bundle, "franka", noise_scale=bad)
