"""The one policy wrapper: the same transforms and sampler over the torch backend and an
engine backend, batches that equal single calls, and the contract it declares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosmos_policy.engine.backends import NetBackend
from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest
from cosmos_policy.engine.testing import TINY, tiny_bundle
from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.checkpoint import load_bundle
from cosmos_policy.policy import CompactWAM, EngineModel, Policy, load_model
from cosmos_policy.policy.transforms import Normalizer, pad_rows
from cosmos_policy.spec import BatchedWorldActionModel, Observation


class FixedPrompts:
    """A prompt encoder without MiniLM: the prompt's length in a constant embedding."""

    def encode(self, prompts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        emb = np.zeros((len(prompts), TINY.max_prompt_tokens, TINY.text_dim), np.float32)
        mask = np.zeros((len(prompts), TINY.max_prompt_tokens), np.float32)
        for i, p in enumerate(prompts):
            emb[i, 0] = len(p) / 10.0
            mask[i, :2] = 1.0
        return emb, mask


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("policy") / "bundle")


def _obs(seed: int, side: int = 40) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation({c: rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
                        for c in TINY.cameras}, rng.normal(size=8).astype(np.float32),
                       "push the red block", float(seed))


def test_both_constructions_are_one_policy_with_the_whole_contract(bundle: Path,
                                                                   tmp_path: Path) -> None:
    torch_model = load_model(bundle, "franka", prompts=FixedPrompts())
    export_engine(bundle, EngineRequest("franka"), tmp_path / "e", progress=False)
    engine_model = EngineModel(tmp_path / "e", "onnxruntime-cpu", prompts=FixedPrompts())
    for m in (torch_model, engine_model):
        assert type(m).__mro__[1] is Policy
        assert isinstance(m, BatchedWorldActionModel)
        assert m.cameras == tuple(TINY.cameras)
        assert m.domain.name == "franka"
    assert isinstance(torch_model.backend, NetBackend)
    assert engine_model.backend.name == "onnxruntime-cpu"
    assert torch_model.batch is None
    assert engine_model.batch == 1
    # Same transforms, same seeded noise, same graphs: the same chunk to float32 rounding.
    a = torch_model.policy(_obs(0)).actions
    b = engine_model.policy(_obs(0)).actions
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * np.abs(a).max())


def test_a_batch_equals_its_rows_and_reset_replays_the_noise(bundle: Path) -> None:
    m = load_model(bundle, "franka", prompts=FixedPrompts(), noise_scale=0.0)
    batch = m.policy_batch([_obs(0), _obs(1), _obs(2)])
    for i, chunk in enumerate(batch):
        single = m.policy(_obs(i)).actions
        np.testing.assert_allclose(chunk.actions, single, rtol=0, atol=1e-5)
        assert chunk.timestamp == float(i)
    noisy = load_model(bundle, "franka", prompts=FixedPrompts(), seed=3)
    first, second = noisy.policy(_obs(0)).actions, noisy.policy(_obs(0)).actions
    assert not np.array_equal(first, second)  # the noise stream moves on
    noisy.reset()
    assert np.array_equal(noisy.policy(_obs(0)).actions, first)


def test_net_backend_runs_any_batch(bundle: Path) -> None:
    net, _, _ = load_bundle(bundle)
    backend = NetBackend(net, 0)
    for b in (1, 3):
        images = np.zeros((b, TINY.n_cameras, TINY.image_size, TINY.image_size, 3), np.uint8)
        lat = backend.run("encode_frames", {"images": images})["latents"]
        assert lat.shape == (b, TINY.n_cameras, TINY.latent_channels, TINY.latent_size,
                             TINY.latent_size)
        out = backend.run("decode_latents", {"latents": lat})["decoded"]
        assert out.shape == (b, TINY.n_cameras, 3, TINY.image_size, TINY.image_size)


def test_inputs_are_checked_with_errors_for_people(bundle: Path) -> None:
    m = load_model(bundle, "franka", prompts=FixedPrompts())
    o = _obs(0)
    with pytest.raises(SpecError, match="lacks cameras"):
        m.policy(Observation({"front": o.images["front"]}, o.state, o.prompt, 0.0))
    with pytest.raises(SpecError, match=r"state: expected \(8,\)"):
        m.policy(Observation(o.images, o.state[:7], o.prompt, 0.0))
    net, domains, _ = load_bundle(bundle)
    with pytest.raises(UserError, match="not a domain"):
        CompactWAM(net, domains, "kuka")
    with pytest.raises(UserError, match="steps must be"):
        load_model(bundle, "franka", steps=0)


def test_normalizer_round_trips_and_pads() -> None:
    n = Normalizer([1.0, -2.0], [0.5, 4.0], width=4, name="state")
    x = np.array([[2.0, 6.0]], np.float32)
    y = n.normalize(x)
    assert y.dtype == np.float32
    assert y.tolist() == [[2.0, 2.0, 0.0, 0.0]]
    assert n.denormalize(y).tolist() == x.tolist()
    with pytest.raises(SpecError, match="state"):
        n.normalize(np.zeros((1, 3)))
    rows = pad_rows(np.arange(2)[:, None], 4)
    assert rows[:, 0].tolist() == [0, 1, 1, 1]
    assert pad_rows(rows, None) is rows


class CountingBackend:
    """A backend that passes every call to ``inner`` and counts them per graph."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, {}

    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls[graph] = self.calls.get(graph, 0) + 1
        return self.inner.run(graph, feeds)


def test_guidance_extrapolates_from_the_unprompted_towards_the_prompted_velocity(
        bundle: Path) -> None:
    """One Euler step: the chunk is noise + velocity, so a guided chunk is the unprompted one
    plus w times its difference to the prompted one (the affine de-normalisation keeps that).
    Guidance 0 is the model without its prompt; 1 is the prompted model, one pass per step."""
    def chunk(w: float, prompt: str = "push the red block") -> np.ndarray:
        m = load_model(bundle, "franka", prompts=FixedPrompts(), steps=1, seed=5, guidance=w)
        m.backend = CountingBackend(m.backend)
        o = _obs(0)
        actions = m.policy(Observation(o.images, o.state, prompt, 0.0)).actions
        passes = 1 if w == 1.0 else 2
        assert m.backend.calls == {"context": passes, "denoise": passes}
        return actions

    prompted, bare, guided = chunk(1.0), chunk(0.0), chunk(3.0)
    assert np.abs(prompted - bare).max() > 1e-3  # the prompt matters to this network
    np.testing.assert_allclose(guided, bare + 3.0 * (prompted - bare), rtol=0, atol=1e-4)
    np.testing.assert_allclose(bare, chunk(1.0, prompt=""), rtol=0, atol=1e-5)


def test_guidance_is_checked_at_the_boundary(bundle: Path) -> None:
    from cosmos_policy.policy.registry import load_model as load_named

    for bad in (-0.5, 25.0, float("nan")):
        with pytest.raises(UserError, match="guidance must be in"):
            load_model(bundle, "franka", prompts=FixedPrompts(), guidance=bad)
    with pytest.raises(UserError, match="the compact model's"):
        load_named("random", "franka", guidance=2.0)
