"""The compact WAM network: shapes, the MoT attention mask, the export split, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cosmos_policy.engine.testing import perturbed
from cosmos_policy.errors import ConfigError, UserError
from cosmos_policy.models.config import WAMConfig
from cosmos_policy.models.flow import FlowBatch, Mode, flow_loss
from cosmos_policy.models.network import WorldActionNet
from cosmos_policy.policy.sampler import draw_noise, euler_sample

TINY = WAMConfig(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2, image_size=32,
                 latent_channels=4, ae_downsample=4, ae_width=8, patch=2, chunk=4, horizon=4,
                 max_state_dim=8, max_action_dim=10, n_domains=2, max_prompt_tokens=6,
                 text_dim=16)


def _inputs(c: WAMConfig, b: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lat = (b, c.n_cameras, c.latent_channels, c.latent_size, c.latent_size)
    mask = torch.ones(b, c.max_prompt_tokens)
    mask[0, 3:] = 0  # a short prompt with padding
    return {
        "latents": torch.randn(lat, generator=g),
        "prompt_emb": torch.randn(b, c.max_prompt_tokens, c.text_dim, generator=g),
        "prompt_mask": mask,
        "state": torch.randn(b, c.max_state_dim, generator=g),
        "domain": torch.tensor([0, 1, 0][:b]),
        "noisy_actions": torch.randn(b, c.chunk, c.max_action_dim, generator=g),
        "noisy_latents": torch.randn(lat, generator=g),
        "t_actions": torch.rand(b, generator=g),
        "t_latents": torch.rand(b, generator=g),
    }


CTX = ("latents", "prompt_emb", "prompt_mask", "state", "domain")
GEN = ("noisy_actions", "noisy_latents", "t_actions", "t_latents", "domain")


@pytest.fixture(scope="module")
def net() -> WorldActionNet:
    torch.manual_seed(0)
    return perturbed(WorldActionNet(TINY))


def test_shapes_of_every_output(net: WorldActionNet) -> None:
    c, x = TINY, _inputs(TINY)
    kv, key_bias = net.encode_context(*(x[k] for k in CTX))
    assert kv.shape == (c.n_layers, 2, 3, c.n_heads, c.reasoner_len, c.head_dim)
    assert key_bias.shape == (3, c.reasoner_len)
    v_a, v_l = net.denoise_step(kv, key_bias, *(x[k] for k in GEN))
    assert v_a.shape == x["noisy_actions"].shape
    assert v_l.shape == x["noisy_latents"].shape
    images = torch.rand(3, c.n_cameras, 3, c.image_size, c.image_size)
    assert net.encode_frames(images).shape == x["latents"].shape
    assert net.decode_latents(x["latents"]).shape == images.shape
    assert torch.equal(net.unpatchify(net.patchify(x["latents"])), x["latents"])


def test_split_equals_full_forward(net: WorldActionNet) -> None:
    x = _inputs(TINY)
    kv, key_bias = net.encode_context(*(x[k] for k in CTX))
    v_a, v_l = net.denoise_step(kv, key_bias, *(x[k] for k in GEN))
    f_a, f_l, f_kv = net.forward_full(**x)
    torch.testing.assert_close(kv, f_kv, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v_a, f_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v_l, f_l, rtol=1e-5, atol=1e-5)
    assert v_a.abs().mean() > 1e-3  # a non-trivial output, so the comparison means something


def test_reasoner_never_sees_generator_tokens(net: WorldActionNet) -> None:
    x = _inputs(TINY)
    y = dict(x, noisy_actions=x["noisy_actions"] + 1.0, noisy_latents=-x["noisy_latents"],
             t_actions=1 - x["t_actions"])
    a1, _, kv1 = net.forward_full(**x)
    a2, _, kv2 = net.forward_full(**y)
    assert torch.equal(kv1, kv2)
    assert not torch.allclose(a1, a2)  # the generator did see its own changed inputs


def test_reasoner_is_causal_and_ignores_prompt_padding(net: WorldActionNet) -> None:
    x = _inputs(TINY)
    kv1, _ = net.encode_context(*(x[k] for k in CTX))
    # Changing the state (the last reasoner token) leaves every earlier token's K/V alone.
    y = dict(x, state=x["state"] + 1.0)
    kv2, _ = net.encode_context(*(y[k] for k in CTX))
    last = TINY.reasoner_len - 1
    torch.testing.assert_close(kv1[..., :last, :], kv2[..., :last, :], rtol=0, atol=1e-6)
    assert not torch.allclose(kv1[1, :, :, :, last], kv2[1, :, :, :, last])
    # Changing padded prompt positions of example 0 changes no valid token's output.
    emb = x["prompt_emb"].clone()
    emb[0, 3:] += 5.0
    z = dict(x, prompt_emb=emb)
    kv3, _ = net.encode_context(*(z[k] for k in CTX))
    v1 = net.denoise_step(kv1, *net.encode_context(*(x[k] for k in CTX))[1:],
                          *(x[k] for k in GEN))[0]
    v3 = net.denoise_step(kv3, *net.encode_context(*(z[k] for k in CTX))[1:],
                          *(z[k] for k in GEN))[0]
    torch.testing.assert_close(v1[0], v3[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kv1[1:, :, 0, :, 6:], kv3[1:, :, 0, :, 6:], rtol=1e-5, atol=1e-5)


def test_domain_selects_projectors(net: WorldActionNet) -> None:
    x = _inputs(TINY)
    y = dict(x, domain=1 - x["domain"])
    a1, _, _ = net.forward_full(**x)
    a2, _, _ = net.forward_full(**y)
    assert not torch.allclose(a1, a2)


def _sample(net: WorldActionNet, kv: torch.Tensor, kb: torch.Tensor, domain: torch.Tensor,
            mode: Mode, amask: torch.Tensor, steps: int, gen: torch.Generator,
            actions: torch.Tensor | None = None, future: torch.Tensor | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The policy sampler with this network's denoise step (what the torch backend runs)."""
    c, b, m = net.config, domain.shape[0], amask.numpy()
    lat = (b, c.n_cameras, c.latent_channels, c.latent_size, c.latent_size)
    x_a, x_l = draw_noise(gen, (b, c.chunk, c.max_action_dim), lat, m)

    def step(xa, xl, ta, tl):  # noqa: ANN001, ANN202
        with torch.no_grad():
            v = net.denoise_step(kv, kb, *(torch.from_numpy(x) for x in (xa, xl, ta, tl)),
                                 domain)
        return v[0].numpy(), v[1].numpy()

    return euler_sample(step, x_a, x_l, mode, m, steps,
                        None if actions is None else actions.numpy(),
                        None if future is None else future.numpy())


def test_sampler_is_deterministic_under_a_seed(net: WorldActionNet) -> None:
    x = _inputs(TINY)
    with torch.no_grad():
        kv, kb = net.encode_context(*(x[k] for k in CTX))
    amask = torch.ones(3, TINY.max_action_dim)
    runs = [_sample(net, kv, kb, x["domain"], Mode.POLICY, amask, 4,
                    torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])
    # Condition tokens come back unchanged in the dynamics modes.
    a, _ = _sample(net, kv, kb, x["domain"], Mode.FORWARD, amask, 3, torch.Generator(),
                   actions=x["noisy_actions"])
    assert np.array_equal(a, x["noisy_actions"].numpy())
    _, f = _sample(net, kv, kb, x["domain"], Mode.INVERSE, amask, 3, torch.Generator(),
                   future=x["noisy_latents"])
    assert np.array_equal(f, x["noisy_latents"].numpy())


@pytest.mark.parametrize("mode", list(Mode))
def test_each_mode_loss_falls_on_a_fixed_batch(mode: Mode) -> None:
    torch.manual_seed(0)
    net = WorldActionNet(TINY).train()
    x = _inputs(TINY, b=8, seed=3)
    amask = torch.zeros(8, TINY.max_action_dim)
    amask[:, :7] = 1
    batch = FlowBatch(latents=x["latents"], future=x["latents"] * 0.5 + 0.3,
                      prompt_emb=x["prompt_emb"], prompt_mask=torch.ones(8, 6),
                      state=x["state"], actions=torch.tanh(x["noisy_actions"]) * amask[:, None],
                      action_mask=amask, domain=torch.zeros(8, dtype=torch.long),
                      mode=torch.full((8,), int(mode)))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)

    def evaluate() -> float:
        with torch.no_grad():
            return float(flow_loss(net, batch, torch.Generator().manual_seed(99))[0])

    before = evaluate()
    g = torch.Generator().manual_seed(0)
    for _ in range(80):
        loss, metrics = flow_loss(net, batch, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(metrics) == {
        Mode.POLICY: {"policy/action", "policy/latent"}, Mode.FORWARD: {"forward/latent"},
        Mode.INVERSE: {"inverse/action"}}[mode]
    assert evaluate() < 0.7 * before


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="d_model"):
        WAMConfig(d_model=30, n_heads=4)
    with pytest.raises(ConfigError, match="patch"):
        WAMConfig(patch=3)


def test_repatched_net_splits_each_token_into_copies_of_itself() -> None:
    # 12x12 latents: 2x2 tokens of side 6 become 6x6 tokens of side 2 (r = 3 sub-tokens a
    # side, unequal to the new side, so a transposed sub-cell order cannot pass).
    cfg = replace(TINY, image_size=48)
    torch.manual_seed(0)
    coarse = perturbed(WorldActionNet(replace(cfg, patch=6)))
    fine = coarse.repatched(2)
    assert fine.config == replace(cfg, patch=2)
    x = _inputs(cfg, b=2)
    b, v, ch, g, r, p = 2, cfg.n_cameras, cfg.latent_channels, 2, 3, 2
    # Latents whose r x r fine tokens inside each coarse token hold the same values.
    base = torch.randn(b, v, ch, g, 1, p, g, 1, p)
    lat = base.expand(b, v, ch, g, r, p, g, r, p).reshape(b, v, ch, g * r * p, g * r * p)
    x["latents"] = x["noisy_latents"] = lat

    def split(tokens: torch.Tensor) -> torch.Tensor:  # (B, V*g*g, d) -> (B, V*G*G, d)
        grid = tokens.reshape(b, v, g, g, -1)
        return grid.repeat_interleave(r, 2).repeat_interleave(r, 3).reshape(b, -1, grid.shape[-1])

    n_img = v * g * g
    xc = coarse._reasoner_input(*(x[k] for k in CTX))[0]
    xf = fine._reasoner_input(*(x[k] for k in CTX))[0]
    pt = TINY.max_prompt_tokens
    torch.testing.assert_close(xf[:, :pt], xc[:, :pt])
    torch.testing.assert_close(xf[:, pt:-1], split(xc[:, pt:pt + n_img]))
    torch.testing.assert_close(xf[:, -1], xc[:, -1])
    args = [x[k] for k in ("noisy_actions", "noisy_latents", "t_actions", "t_latents",
                           "domain")]
    yc, yf = coarse._generator_input(*args)[0], fine._generator_input(*args)[0]
    torch.testing.assert_close(yf[:, :TINY.chunk], yc[:, :TINY.chunk])
    torch.testing.assert_close(yf[:, TINY.chunk:], split(yc[:, TINY.chunk:]))
    # A fine token predicts the mean of the sub-cells its coarse token predicted.
    h = torch.randn(5, TINY.d_model)
    want = coarse.future_out(h).reshape(5, ch, r, p, r, p).mean((2, 4)).reshape(5, -1)
    torch.testing.assert_close(fine.future_out(h), want)
    # Everything else is the same weights, and the fine net runs every mode's shapes.
    for k, w in coarse.state_dict().items():
        if k.startswith(("reasoner.", "generator.", "ae.", "action_", "state_in", "text_in")):
            torch.testing.assert_close(fine.state_dict()[k], w, rtol=0, atol=0, msg=k)
    kv, key_bias = fine.encode_context(*(x[k] for k in CTX))
    assert kv.shape[-2] == fine.config.reasoner_len == pt + v * (g * r) ** 2 + 1
    va, vl = fine.denoise_step(kv, key_bias, *args)
    assert vl.shape == lat.shape
    assert va.shape == x["noisy_actions"].shape
    with pytest.raises(ValueError, match="divide"):
        fine.repatched(4)


def test_export_seams_run_in_onnxruntime(net: WorldActionNet, tmp_path) -> None:
    """encode_context and denoise_step export as static ONNX graphs (opset 17) that match."""
    import warnings

    ort = pytest.importorskip("onnxruntime")

    class Seam(torch.nn.Module):
        def __init__(self, fn) -> None:
            super().__init__()
            self.net, self.fn = net, fn

        def forward(self, *args: torch.Tensor):
            return getattr(self.net, self.fn)(*args)

    x = _inputs(TINY, b=1)
    ctx_args = tuple(x[k] for k in CTX)
    with torch.no_grad():
        kv, kb = net.encode_context(*ctx_args)
        gen_args = (kv, kb, *(x[k] for k in GEN))
        expected = net.denoise_step(*gen_args)
    for name, args, want in (("encode_context", ctx_args, (kv, kb)),
                             ("denoise_step", gen_args, expected)):
        path = tmp_path / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Seam(name), args, str(path), opset_version=17, dynamo=False)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args, strict=True)}
        for got, ref in zip(sess.run(None, feeds), want, strict=True):
            np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-5)


def test_autoencoder_loss_weights_small_coloured_objects() -> None:
    from cosmos_policy.models.autoencoder import FrameAutoencoder, saliency_weights

    floor = torch.full((1, 3, 16, 16), 0.5)
    floor[:, 0] = 0.6  # brownish, saturation 0.1: weight 1
    img = floor.clone()
    img[:, :, 4:6, 4:6] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]  # a red cube
    w = saliency_weights(img)
    assert w.shape == (1, 1, 16, 16)
    assert torch.allclose(w[0, 0, 0, 0], torch.tensor(1.0))
    assert w[0, 0, 4, 4] > 5 * w[0, 0, 0, 0]
    # the same error costs more on the cube than on the floor
    ae = FrameAutoencoder(4, 4, 8)
    ae.decode = lambda z: img_rec  # type: ignore[method-assign]
    img_rec = img.clone()
    img_rec[:, :, 4:6, 4:6] = floor[:, :, 4:6, 4:6]  # cube erased
    with torch.no_grad():
        cube_lost = float(ae.loss(img))
    img_rec = img.clone()
    img_rec[:, :, 10:12, 10:12] += 0.4  # the same area of floor wrong by about as much
    with torch.no_grad():
        floor_wrong = float(ae.loss(img))
    assert cube_lost > 3 * floor_wrong


# Bundles from the plan-token experiment ---------------------------------------------------
def test_a_legacy_zero_plan_dim_loads_and_a_real_plan_token_is_refused() -> None:
    """config.json files written while the plan token existed carry "plan_dim": 0 (the shipped
    default among them): they load as before. A non-zero one held weights this network lacks."""
    legacy = TINY.to_dict() | {"plan_dim": 0}
    assert WAMConfig.from_dict(legacy) == TINY
    assert "plan_dim" not in TINY.to_dict()
    with pytest.raises(UserError, match="plan token") as err:
        WAMConfig.from_dict(TINY.to_dict() | {"plan_dim": 18}, "m/config.json")
    assert str(err.value).startswith("m/config.json: ")
    assert "\n" not in str(err.value)
