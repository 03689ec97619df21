"""Training of the compact WAM on a tiny in-memory dataset: bundles, resume, projector-only,
loud failures on mismatched bundles, and the CompactWAM contract on the result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_fakes import FAST, TINY, FakeDataset, ObjectDataset, obs

from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.checkpoint import load_bundle, sha256
from cosmos_policy.models.config import WAMConfig
from cosmos_policy.policy.compact import CompactWAM, load_model
from cosmos_policy.spec import WorldActionModel
from cosmos_policy.training.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "model"
    torch.manual_seed(0)
    Trainer([FakeDataset("franka", 8)], out, TINY, FAST).run()
    return out


def test_training_writes_a_bundle_metrics_and_a_working_model(trained: Path) -> None:
    for name in ("model.safetensors", "config.json", "domains.json", "stats.json",
                 "manifest.json", "train/optimizer.safetensors", "train/state.json"):
        assert (trained / name).is_file(), name
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert rows[0]["phase"] == "ae"
    assert rows[-1]["phase"] == "wam"
    assert all(np.isfinite(r["loss"]) for r in rows)
    net, domains, _ = load_bundle(trained)
    assert [d.name for d in domains] == ["franka"]
    assert net.latent_std.min() > 0
    assert not torch.equal(net.latent_mean, torch.zeros_like(net.latent_mean))
    model = load_model(trained, "franka", steps=3)
    assert isinstance(model, WorldActionModel)
    chunk = model.policy(obs())
    assert chunk.actions.shape == (TINY.chunk, 10)
    assert chunk.actions.dtype == np.float32
    assert chunk.dt == pytest.approx(0.1)  # franka's control.rate_hz
    future = model.forward_dynamics(obs(), chunk.actions)
    assert future["front"].shape == (1, 48, 48, 3)
    assert future["wrist"].dtype == np.uint8
    frames = {c: np.stack([obs(seed=s).images[c] for s in range(TINY.horizon + 1)])
              for c in ("front", "wrist")}
    acts = model.inverse_dynamics(frames, obs().state)
    assert acts.shape == (TINY.horizon, 10)
    batch = model.policy_batch([obs(seed=1), obs(seed=2)])
    assert len(batch) == 2
    with pytest.raises(SpecError, match="expected 5 frames"):
        model.inverse_dynamics({c: f[:3] for c, f in frames.items()}, obs().state)
    with pytest.raises(SpecError, match="state"):
        model.policy(obs(state_dim=5))


def test_save_load_round_trip_and_seeded_sampling(trained: Path, tmp_path: Path) -> None:
    from cosmos_policy.models.checkpoint import save_bundle

    net, domains, _ = load_bundle(trained)
    save_bundle(tmp_path / "copy", net, domains)
    a = CompactWAM(net, domains, "franka", steps=3, seed=5)
    b = load_model(tmp_path / "copy", "franka", steps=3, seed=5)
    first = a.policy(obs()).actions
    np.testing.assert_array_equal(first, b.policy(obs()).actions)
    assert not np.array_equal(first, a.policy(obs()).actions)  # fresh noise on the next call
    a.reset()
    np.testing.assert_array_equal(first, a.policy(obs()).actions)  # reset re-seeds


def test_resume_continues_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    straight = Trainer([FakeDataset("franka", 8)], tmp_path / "a", TINY, FAST).run()
    torch.manual_seed(0)
    Trainer([FakeDataset("franka", 8)], tmp_path / "b", TINY, FAST).run(until=4)
    # A run saved while the plan token existed records its (unused) settings; it resumes.
    state_file = tmp_path / "b/train/state.json"
    state = json.loads(state_file.read_text())
    state["train_config"] |= {"plan_teacher": 0.0, "plan_noise": 0.15}
    state_file.write_text(json.dumps(state))
    resumed = Trainer([FakeDataset("franka", 8)], tmp_path / "b", TINY, FAST, resume=True)
    assert resumed.step == 4
    resumed.run()
    wa = load_bundle(straight)[0].state_dict()
    wb = load_bundle(tmp_path / "b")[0].state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0, msg=k)
    with pytest.raises(UserError, match="already holds a model"):
        Trainer([FakeDataset("franka", 8)], tmp_path / "b", TINY, FAST)


def test_projector_only_leaves_the_backbone_untouched(trained: Path, tmp_path: Path) -> None:
    before = load_bundle(trained)[0].state_dict()
    cfg = TrainConfig(steps=4, batch=4, warmup=1, log_every=2, projector_only=True, lr=1e-2)
    out = Trainer([FakeDataset("ur5e_like", 7)], tmp_path / "p", cfg=cfg, init=trained).run()
    net, domains, _ = load_bundle(out)
    assert [d.name for d in domains] == ["franka", "ur5e_like"]
    assert domains[1].state_dim == 7
    after = net.state_dict()
    projector = ("state_in.", "action_in.", "action_out.")
    for k, v in before.items():
        if k.startswith(projector):
            torch.testing.assert_close(after[k][:1], v, rtol=0, atol=0, msg=k)  # old domain
        else:
            torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=k)
    moved = [k for k in before if k.startswith(projector)
             and not torch.allclose(after[k][1], after[k][:1].mean(0))]
    assert moved  # the new domain's projectors did train
    model = load_model(out, "ur5e_like", steps=2)
    assert model.policy(obs(state_dim=7)).actions.shape == (TINY.chunk, 10)
    with pytest.raises(UserError, match="not a domain"):
        load_model(out, "nonexistent_robot")


def test_fine_tuning_with_finer_image_tokens(trained: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(steps=3, batch=4, warmup=1, log_every=1)
    out = Trainer([FakeDataset("franka", 8)], tmp_path / "p1", cfg=cfg, init=trained,
                  patch=1).run()
    net = load_bundle(out)[0]
    assert net.config.patch == 1
    assert net.config.tokens_per_camera == TINY.latent_size ** 2
    assert load_model(out, steps=2).policy(obs()).actions.shape == (TINY.chunk, 10)
    resumed = Trainer([FakeDataset("franka", 8)], tmp_path / "p1", cfg=cfg, resume=True)
    assert resumed.net.config.patch == 1
    assert resumed.step == 3
    with pytest.raises(UserError, match="pass a divisor"):
        Trainer([FakeDataset("franka", 8)], tmp_path / "p3", cfg=cfg, init=trained, patch=3)


def _rehash(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {n: sha256(root / n) for n in manifest["files"]}
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_mismatched_bundles_fail_loudly(trained: Path, tmp_path: Path) -> None:
    import shutil

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(trained, dst)
        return dst

    edited = copy("edited")
    stats = json.loads((edited / "stats.json").read_text())
    stats["franka"]["action_mean"][0] += 1.0
    (edited / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(UserError, match=r"stats.json does not match the hash"):
        load_bundle(edited)

    wrong_config = copy("config")
    cfg = json.loads((wrong_config / "config.json").read_text())
    cfg["d_model"] = 64
    (wrong_config / "config.json").write_text(json.dumps(cfg))
    _rehash(wrong_config)
    with pytest.raises(UserError, match="does not fit config.json"):
        load_bundle(wrong_config)

    short_stats = copy("stats")
    stats = json.loads((short_stats / "stats.json").read_text())
    stats["franka"]["state_std"] = stats["franka"]["state_std"][:3]
    (short_stats / "stats.json").write_text(json.dumps(stats))
    _rehash(short_stats)
    with pytest.raises(UserError, match="state_std"):
        load_bundle(short_stats)

    with pytest.raises(UserError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")


def test_prompt_encoder_caches_and_pads() -> None:
    from cosmos_policy.models.text import PromptEncoder

    enc = PromptEncoder(max_tokens=12)
    emb, mask = enc.encode(["push the block", "slide the block", "push the block", ""])
    assert emb.shape == (4, 12, 384)
    assert mask.sum(1).tolist() == [5.0, 5.0, 5.0, 2.0]  # [CLS] words [SEP]; "" -> 2
    torch.testing.assert_close(emb[0], emb[2], rtol=0, atol=0)
    assert float(emb[0, 6:].abs().sum()) == 0.0  # padding carries nothing
    assert len(enc._cache) == 3  # noqa: SLF001 - one encoding per distinct prompt
    # Paraphrases sit closer than unrelated tasks (mean of valid token states).
    e, m = enc.encode(["push the red block left", "shove the red cube to the left",
                       "open the drawer"])
    v = (e * m[..., None]).sum(1) / m.sum(1, keepdim=True)
    cos = torch.nn.functional.cosine_similarity
    assert cos(v[0], v[1], dim=0) > cos(v[0], v[2], dim=0)


def test_a_prompts_states_do_not_depend_on_the_prompts_encoded_with_it() -> None:
    """A resumed run meets its prompts in other batches than the straight run did; their
    states must be bit-identical all the same."""
    from cosmos_policy.models.text import PromptEncoder

    others = [f"reach the {c} cube {i}" for c in ("red", "green", "blue") for i in range(20)]
    alone = PromptEncoder(max_tokens=12).encode(["push the red block"])[0][0]
    crowd = PromptEncoder(max_tokens=12).encode([*others, "push the red block"])[0][-1]
    torch.testing.assert_close(alone, crowd, rtol=0, atol=0)


def test_train_command_refuses_bad_arguments(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from cosmos_policy.cli import main

    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--projector-only"]) == 2
    assert "--projector-only needs --init" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--until", "0"]) == 2
    assert "--until must be a positive step" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--object-weight", "-1"]) == 2
    assert "--object-weight must be >= 0" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--carry-fraction", "2"]) == 2
    assert "--carry-fraction must be in [0, 1]" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--resume",
                 "--patch", "1"]) == 2
    assert "--resume keeps the run's own" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--init",
                 str(tmp_path), "--patch", "0"]) == 2
    assert "--patch must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_early_fraction_draws_examples_from_the_first_frames() -> None:
    from cosmos_policy.models.config import DomainSpec
    from cosmos_policy.training.datacache import Episode, TrainingData

    cfg = WAMConfig(d_model=32, n_layers=1, n_heads=2, image_size=16, latent_channels=4,
                    ae_downsample=4, ae_width=8, patch=2, chunk=4, horizon=4, max_state_dim=4,
                    max_action_dim=4, n_domains=1, max_prompt_tokens=4, text_dim=16)
    dom = DomainSpec("arm", 2, 2, (0.0, 0.0), (1.0, 1.0), (0.0, 0.0), (1.0, 1.0))
    n = 100
    eps = []
    for _ in range(3):
        ep = Episode(np.zeros((n, 1, 16, 16, 3), np.uint8), np.zeros((n, 2), np.float32),
                     np.tile(np.arange(n, dtype=np.float32)[:, None], (1, 2)), "p", 0)
        ep.latents = np.zeros((n, 1, 4, 4, 4), np.float16)
        eps.append(ep)
    data = TrainingData(eps, [dom], cfg)
    rng = np.random.default_rng(0)
    first = lambda b: b["actions"][:, 0, 0].numpy()  # the action value is the frame index
    plain = first(data.sample(rng, 2000))
    early = first(data.sample(rng, 2000, early_fraction=0.5, early_steps=5))
    assert (plain < 5).mean() < 0.1
    assert 0.45 < (early < 5).mean() < 0.6  # half forced early, plus the few drawn there anyway
    assert early.max() > 50  # the rest still cover the whole episode


def test_carry_fraction_draws_examples_where_the_cube_is_carried() -> None:
    from cosmos_policy.models.config import DomainSpec
    from cosmos_policy.training.datacache import (
        CARRY_CENTRE_Z_M,
        Episode,
        TrainingData,
        carry_steps,
    )
    from cosmos_policy.training.layout import load_layout

    layout = load_layout()
    plate_at = layout.fixture_columns["plate"]
    cfg = WAMConfig(d_model=32, n_layers=1, n_heads=2, image_size=16, latent_channels=4,
                    ae_downsample=4, ae_width=8, patch=2, chunk=4, horizon=4, max_state_dim=4,
                    max_action_dim=4, n_domains=1, max_prompt_tokens=4, text_dim=16)
    dom = DomainSpec("arm", 2, 3, (0.0, 0.0), (1.0, 1.0), (0.0,) * 3, (1.0,) * 3)  # xyz actions
    n = 100
    objects = np.full((n, layout.objects_dim), np.nan, np.float32)
    objects[:, :3] = [0.4, 0.0, 0.02]  # resting
    objects[40:60, 2] = CARRY_CENTRE_Z_M + 0.03  # lifted for frames 40-59 ...
    objects[:, plate_at:plate_at + 3] = [0.6, 0.0, 0.0]
    objects[55:60, :2] = [0.59, 0.0]  # ... the last five over the plate: placing
    assert carry_steps(objects, plate_at).tolist() == list(range(40, 55))
    no_plate = objects.copy()
    no_plate[:, plate_at:] = np.nan
    assert len(carry_steps(no_plate, plate_at)) == 0

    def episode(objs):
        ep = Episode(np.zeros((n, 1, 16, 16, 3), np.uint8), np.zeros((n, 2), np.float32),
                     np.tile(np.arange(n, dtype=np.float32)[:, None], (1, 3)), "p", 0,
                     objects=objs)
        ep.latents = np.zeros((n, 1, 4, 4, 4), np.float16)
        return ep

    data = TrainingData([episode(objects), episode(None)], [dom], cfg, layout)
    assert len(data.carry_index) == 15
    rng = np.random.default_rng(0)
    first = lambda b: b["actions"][:, 0, 0].numpy()  # the action value is the frame index
    carried = lambda v: ((v >= 40) & (v < 55)).mean()  # noqa: E731
    assert carried(first(data.sample(rng, 2000))) < 0.15
    assert 0.5 < carried(first(data.sample(rng, 2000, carry_fraction=0.5))) < 0.65
    with pytest.raises(UserError, match="no frame carries a cube"):
        TrainingData([episode(None)], [dom], cfg, layout).sample(rng, 8, carry_fraction=0.5)
    from cosmos_policy.errors import ConfigError

    with pytest.raises(ConfigError, match="carry_fraction"):
        TrainConfig(carry_fraction=1.5)


def test_prompt_variants_rewrite_matching_prompts_only() -> None:
    from cosmos_policy.errors import ConfigError
    from cosmos_policy.training.trainer import PromptVariants

    v = PromptVariants({"reach the {color} cube": ("go to the {color} block", "near {color}"),
                        "push the {color} cube to the yellow square": ("shove {color}",)})
    rng = np.random.default_rng(0)
    got = {v("reach the green cube", rng) for _ in range(50)}
    assert got == {"go to the green block", "near green"}
    assert v("push the red cube to the yellow square", rng) == "shove red"
    assert v("reach the red cube now", rng) == "reach the red cube now"  # whole prompt only
    assert v("pick the red cube", rng) == "pick the red cube"
    for bad in ({"reach the cube": ("x {color}",)}, {"reach the {color} cube": ()},
                {"reach the {color} cube": ("{color} and {other}",)}):
        with pytest.raises(ConfigError, match="prompt_variants"):
            PromptVariants(bad)
    with pytest.raises(ConfigError, match="prompt_variants"):
        TrainConfig(paraphrase_prob=0.5)


def test_training_with_paraphrase_prob_draws_the_variants(tmp_path: Path) -> None:
    cfg = TrainConfig(steps=4, batch=64, ae_steps=1, ae_batch=4, warmup=1, log_every=1,
                      ckpt_every=100, seed=0, paraphrase_prob=0.5,
                      prompt_variants={"push the {color} block": ("shove the {color} thing",)})
    trainer = Trainer([ObjectDataset("franka", 8, n_episodes=4, length=12)], tmp_path / "m",
                      TINY, cfg)
    trainer.run()
    _, b = trainer._wam_batch()
    prompts = b["prompts"]
    # ObjectDataset: "push the red block" (even episodes) and "push the red block now" (odd).
    assert set(prompts) == {"shove the red thing", "push the red block", "push the red block now"}
    swapped = prompts.count("shove the red thing") / (
        prompts.count("shove the red thing") + prompts.count("push the red block"))
    assert 0.2 < swapped < 0.8
    # The setting is part of the run: resuming with other variants is refused.
    other = TrainConfig(**{**cfg.__dict__,
                           "prompt_variants": {"push the {color} block": ("x {color}",)}})
    with pytest.raises(UserError, match="prompt_variants"):
        Trainer([ObjectDataset("franka", 8, n_episodes=4, length=12)], tmp_path / "m", TINY,
                other, resume=True)
