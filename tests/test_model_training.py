"""Training of the compact WAM on a tiny in-memory dataset: bundles, resume, projector-only,
loud failures on mismatched bundles, and the CompactWAM contract on the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.checkpoint import load_bundle, sha256
from cosmos_policy.models.compact import CompactWAM, load_model
from cosmos_policy.models.config import WAMConfig
from cosmos_policy.models.training import TrainConfig, Trainer
from cosmos_policy.spec import Observation, WorldActionModel

TINY = WAMConfig(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2, image_size=32,
                 latent_channels=4, ae_downsample=4, ae_width=8, patch=2, chunk=4, horizon=4,
                 max_state_dim=8, max_action_dim=10, max_prompt_tokens=12)
FAST = TrainConfig(steps=6, batch=4, ae_steps=2, ae_batch=4, warmup=2, log_every=2,
                   ckpt_every=100, seed=3)


class FakeDataset:
    """A LeRobot-like dataset: a bright square moves with the first state dimension."""

    def __init__(self, robot_type: str, state_dim: int, n_episodes: int = 2, length: int = 10,
                 size: int = 48, seed: int = 0) -> None:
        self.info = {"robot_type": robot_type, "fps": 10}
        self.num_episodes, self.state_dim, self.length, self.size = n_episodes, state_dim, \
            length, size
        self.rng = np.random.default_rng(seed)
        self.root = f"fake://{robot_type}"

    def episode(self, i: int) -> dict[str, Any]:
        rng = np.random.default_rng(i)
        n, s = self.length, self.size
        state = np.cumsum(rng.normal(0, 0.1, (n, self.state_dim)), 0).astype(np.float32)
        action = np.concatenate([state[1:], state[-1:]])[:, :1].repeat(10, 1).astype(np.float32)
        frames = np.zeros((n, s, s, 3), np.uint8)
        for t in range(n):
            x = int(np.clip((state[t, 0] + 1) / 2 * (s - 8), 0, s - 8))
            frames[t, 10:18, x: x + 8] = (255, 80, 0)
        return {"observation.images.front": frames, "observation.images.wrist": 255 - frames,
                "observation.state": state, "action": action,
                "task": ["push the block", "slide the block"][i % 2]}


def _obs(state_dim: int = 8, seed: int = 0) -> Observation:
    rng = np.random.default_rng(seed)
    imgs = {c: rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for c in ("front", "wrist")}
    return Observation(images=imgs, state=rng.normal(size=state_dim).astype(np.float32),
                       prompt="push the block", timestamp=1.5)


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
    chunk = model.policy(_obs())
    assert chunk.actions.shape == (TINY.chunk, 10)
    assert chunk.actions.dtype == np.float32
    assert chunk.dt == pytest.approx(0.1)  # franka's control.rate_hz
    future = model.forward_dynamics(_obs(), chunk.actions)
    assert future["front"].shape == (1, 48, 48, 3)
    assert future["wrist"].dtype == np.uint8
    frames = {c: np.stack([_obs(seed=s).images[c] for s in range(TINY.horizon + 1)])
              for c in ("front", "wrist")}
    acts = model.inverse_dynamics(frames, _obs().state)
    assert acts.shape == (TINY.horizon, 10)
    batch = model.policy_batch([_obs(seed=1), _obs(seed=2)])
    assert len(batch) == 2
    with pytest.raises(SpecError, match="expected 5 frames"):
        model.inverse_dynamics({c: f[:3] for c, f in frames.items()}, _obs().state)
    with pytest.raises(SpecError, match="state"):
        model.policy(_obs(state_dim=5))


def test_save_load_round_trip_and_seeded_sampling(trained: Path, tmp_path: Path) -> None:
    from cosmos_policy.models.checkpoint import save_bundle

    net, domains, _ = load_bundle(trained)
    save_bundle(tmp_path / "copy", net, domains)
    a = CompactWAM(net, domains, "franka", steps=3, seed=5)
    b = load_model(tmp_path / "copy", "franka", steps=3, seed=5)
    first = a.policy(_obs()).actions
    np.testing.assert_array_equal(first, b.policy(_obs()).actions)
    assert not np.array_equal(first, a.policy(_obs()).actions)  # fresh noise on the next call
    a.reset()
    np.testing.assert_array_equal(first, a.policy(_obs()).actions)  # reset re-seeds


def test_resume_continues_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    straight = Trainer([FakeDataset("franka", 8)], tmp_path / "a", TINY, FAST).run()
    torch.manual_seed(0)
    Trainer([FakeDataset("franka", 8)], tmp_path / "b", TINY, FAST).run(until=4)
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
    assert model.policy(_obs(state_dim=7)).actions.shape == (TINY.chunk, 10)
    with pytest.raises(UserError, match="not a domain"):
        load_model(out, "nonexistent_robot")


def test_fine_tuning_with_finer_image_tokens(trained: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(steps=3, batch=4, warmup=1, log_every=1)
    out = Trainer([FakeDataset("franka", 8)], tmp_path / "p1", cfg=cfg, init=trained,
                  patch=1).run()
    net = load_bundle(out)[0]
    assert net.config.patch == 1
    assert net.config.tokens_per_camera == TINY.latent_size ** 2
    assert load_model(out, steps=2).policy(_obs()).actions.shape == (TINY.chunk, 10)
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
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--resume",
                 "--patch", "1"]) == 2
    assert "--resume keeps the run's own" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o"), "--init",
                 str(tmp_path), "--patch", "0"]) == 2
    assert "--patch must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_early_fraction_draws_examples_from_the_first_frames() -> None:
    from cosmos_policy.models.config import DomainSpec, WAMConfig
    from cosmos_policy.models.datacache import Episode, TrainingData

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


class ObjectDataset(FakeDataset):
    """FakeDataset with a colour in the prompt and the object state (12,): the named cube,
    then red, green, blue; the red cube is the moving square, green and blue stand still."""

    def episode(self, i: int) -> dict[str, Any]:
        ep = super().episode(i)
        x = ep["observation.state"][:, :1]
        cube = lambda v: np.concatenate([v, np.zeros_like(x), np.full_like(x, 0.02)], 1)
        red, green, blue = cube(x), cube(np.full_like(x, 0.5)), cube(np.full_like(x, -0.5))
        ep["observation.environment_state"] = np.concatenate([red, red, green, blue], 1)
        ep["task"] = f"push the red block{' now' * (i % 2)}"
        return ep


def test_object_head_learns_positions_and_stays_out_of_the_bundle(tmp_path: Path) -> None:
    cfg = TrainConfig(steps=160, batch=16, ae_steps=40, ae_batch=8, warmup=5, log_every=20,
                      ckpt_every=1000, seed=1, object_weight=1.0, lr=1e-3)
    trainer = Trainer([ObjectDataset("franka", 8, n_episodes=6, length=20)], tmp_path / "m",
                      TINY, cfg)
    trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "m/metrics.jsonl").read_text().splitlines()]
    losses = [r["objects"] for r in rows if "objects" in r]
    assert len(losses) >= 5
    assert losses[-1] < 0.5 * losses[0]
    # Train-time only: the head lives in train/, the bundle loads as a plain model.
    assert (tmp_path / "m/train/object_head.safetensors").is_file()
    net, _, _ = load_bundle(tmp_path / "m")
    assert not any("object" in name for name in net.state_dict())
    # A fine-tune from this run picks the head up where it stopped; without one, it starts anew.
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "m/train/object_head.safetensors"))
    data = [ObjectDataset("franka", 8, n_episodes=6, length=20)]
    tuned = Trainer(data, tmp_path / "f", None, cfg, init=tmp_path / "m")
    assert all(torch.equal(v, saved[k]) for k, v in tuned.object_head.state_dict().items())
    (tmp_path / "m/train/object_head.safetensors").unlink()
    fresh = Trainer(data, tmp_path / "g", None, cfg, init=tmp_path / "m")
    assert not torch.equal(fresh.object_head.state_dict()["0.weight"], saved["0.weight"])


def test_object_batch_asks_for_other_cubes_of_the_same_frame() -> None:
    trainer = Trainer.__new__(Trainer)
    trainer.rng = np.random.default_rng(0)
    objects = torch.arange(12, dtype=torch.float32).repeat(300, 1)  # target = red (0..2)
    objects[:, :3] = objects[:, 3:6]
    b = {"objects": objects, "objects_mask": torch.ones(300, 12),
         "prompts": ["reach the red cube"] * 299 + ["reach the cube"]}
    prompts, targets, mask = trainer.object_batch(b)
    seen = set()
    for p, t in zip(prompts[:299], targets[:299], strict=True):
        color = p.split()[2]
        seen.add(color)
        k = ("red", "green", "blue").index(color)
        assert t[:3].tolist() == objects[0, 3 + 3 * k: 6 + 3 * k].tolist()
        assert t[3:].tolist() == objects[0, 3:].tolist()
    assert seen == {"red", "green", "blue"}
    assert prompts[-1] == "reach the cube"
    assert mask[-1, :3].sum() == 0  # no colour word: no named-cube target
    assert mask[-1, 3:].sum() == 9
    assert mask[:299].min() == 1


class FixtureDataset(ObjectDataset):
    """ObjectDataset recorded with the fixtures too (18,): the region and the plate stand
    still at a place that differs per episode."""

    def episode(self, i: int) -> dict[str, Any]:
        ep = super().episode(i)
        n = len(ep["action"])
        fixtures = np.tile(np.array([0.1 * i, 0.3, 0.0, -0.2, 0.1 * i, 0.01], np.float32), (n, 1))
        ep["observation.environment_state"] = np.concatenate(
            [ep["observation.environment_state"], fixtures], 1)
        return ep


def _objects_data(datasets: list[Any]) -> Any:
    from cosmos_policy.models.datacache import TrainingData

    data = TrainingData.build(datasets, TINY)
    data.encode_latents(lambda x: torch.zeros(len(x), 2, 4, 8, 8))
    return data


def test_fixture_targets_are_masked_where_a_recording_lacks_them() -> None:
    from cosmos_policy.models.datacache import OBJECTS_DIM, _objects_of

    assert OBJECTS_DIM == 18
    cubes = np.ones((5, 12), np.float32)
    padded = _objects_of(cubes, 5)
    assert padded.shape == (5, 18)
    np.testing.assert_array_equal(padded[:, :12], cubes)
    assert np.isnan(padded[:, 12:]).all()
    assert _objects_of(np.ones((5, 18)), 5).shape == (5, 18)
    assert _objects_of(np.ones((5, 7)), 5) is None  # someone else's environment_state
    assert _objects_of(np.ones((4, 12)), 5) is None
    rng = np.random.default_rng(0)
    old = _objects_data([ObjectDataset("franka", 8, n_episodes=2, length=10)]).sample(rng, 64)
    assert old["objects_mask"][:, :12].min() == 1
    assert old["objects_mask"][:, 12:].max() == 0
    assert torch.isfinite(old["objects"]).all()
    assert old["objects"][:, 12:].abs().max() == 0
    new = _objects_data([FixtureDataset("franka", 8, n_episodes=2, length=10)]).sample(rng, 64)
    assert new["objects_mask"].min() == 1
    # Normalised like the action's xyz, per episode: two episodes, two region positions.
    assert len(torch.unique(new["objects"][:, 12])) == 2


def test_object_batch_keeps_the_recorded_mask() -> None:
    trainer = Trainer.__new__(Trainer)
    trainer.rng = np.random.default_rng(0)
    objects = torch.arange(18, dtype=torch.float32).repeat(200, 1)
    mask = torch.ones(200, 18)
    mask[100:, 12:] = 0.0  # a cubes-only recording
    b = {"objects": objects, "objects_mask": mask, "prompts": ["push the red cube"] * 200}
    _, targets, got = trainer.object_batch(b)
    assert got[:100].min() == 1
    assert got[100:, :12].min() == 1
    assert got[100:, 12:].max() == 0
    torch.testing.assert_close(targets[:, 12:], objects[:, 12:])


def test_a_cubes_only_object_head_loads_into_the_wider_one(tmp_path: Path) -> None:
    from safetensors.torch import save_file
    from torch import nn

    from cosmos_policy.models.training import load_object_head

    old = nn.Sequential(nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 12))
    save_file(old.state_dict(), str(tmp_path / "head.safetensors"))
    head = load_object_head(tmp_path / "head.safetensors", 32)
    x = torch.randn(5, 32)
    torch.testing.assert_close(head(x)[:, :12], old(x))
    assert head(x).shape == (5, 18)
    save_file({"0.weight": torch.zeros(16, 16)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="object head tensor 0.weight"):
        load_object_head(tmp_path / "bad.safetensors", 32)
    save_file({"zzz": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="not an object head"):
        load_object_head(tmp_path / "other.safetensors", 32)


def test_prompt_variants_rewrite_matching_prompts_only() -> None:
    from cosmos_policy.errors import ConfigError
    from cosmos_policy.models.training import PromptVariants

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


def test_plan_token_learns_positions_and_ships_in_the_bundle(tmp_path: Path) -> None:
    """--plan: the object head becomes the bundle's plan head, the generator reads its
    estimate, and the run's bundle loads and acts as any other."""
    cfg = TrainConfig(steps=120, batch=16, ae_steps=30, ae_batch=8, warmup=5, log_every=20,
                      ckpt_every=1000, seed=1, object_weight=1.0, lr=1e-3, plan_teacher=0.5)
    data = [FixtureDataset("franka", 8, n_episodes=6, length=20)]
    trainer = Trainer(data, tmp_path / "m", TINY, cfg, plan=True)
    assert trainer.object_head is None
    assert trainer.net.config.plan_dim == 18
    trainer.run()
    rows = [json.loads(line) for line in (tmp_path / "m/metrics.jsonl").read_text().splitlines()]
    losses = [r["objects"] for r in rows if "objects" in r]
    assert len(losses) >= 4
    assert losses[-1] < 0.5 * losses[0]
    assert not (tmp_path / "m/train/object_head.safetensors").exists()
    net, _, _ = load_bundle(tmp_path / "m")
    assert net.config.plan_dim == 18
    torch.testing.assert_close(net.plan_head[2].weight, trainer.net.plan_head[2].weight)
    model = load_model(tmp_path / "m", "franka", steps=3)
    chunk = model.policy(_obs())
    assert chunk.actions.shape == (TINY.chunk, 10)
    assert np.isfinite(chunk.actions).all()
    assert model.forward_dynamics(_obs(), chunk.actions)["front"].shape == (1, 48, 48, 3)
    # The diagnostic hook hands the generator true positions instead of the estimate.
    own = model._context([_obs().images], ["push the red block"], _obs().state[None])[0]
    model.plan_source = lambda: np.full(18, 0.3, np.float32)
    given = model._context([_obs().images], ["push the red block"], _obs().state[None])[0]
    torch.testing.assert_close(own[..., :-1, :], given[..., :-1, :])
    assert not torch.allclose(own[..., -1, :], given[..., -1, :])


def test_teacher_forcing_feeds_recorded_positions_only_where_a_cube_is_named(
        tmp_path: Path) -> None:
    cfg = TrainConfig(steps=10, batch=64, ae_steps=0, seed=2, object_weight=1.0,
                      plan_teacher=0.5, plan_noise=0.0, prompt_dropout=0.3)
    trainer = Trainer([FixtureDataset("franka", 8, n_episodes=4, length=12)], tmp_path / "t",
                      TINY, cfg, plan=True)
    trainer.data.encode_latents(trainer.net.encode_frames)
    batch, examples = trainer._wam_batch()
    given = batch.plan_given.numpy() > 0
    named = (batch.prompt_mask.sum(1) > 2).numpy()  # more than [CLS] [SEP]: not dropped
    assert 0 < given.sum() < named.sum()  # about half of the named ones
    assert not (given & ~named).any()  # a dropped prompt names no cube: the model's estimate
    torch.testing.assert_close(batch.plan, examples["objects"])  # noise 0: the recording


def test_plan_added_to_a_trained_model_starts_from_its_object_head(tmp_path: Path) -> None:
    cfg = TrainConfig(steps=4, batch=4, ae_steps=2, ae_batch=4, warmup=1, log_every=2,
                      ckpt_every=100, seed=1, object_weight=1.0)
    data = [FixtureDataset("franka", 8, n_episodes=2, length=12)]
    Trainer(data, tmp_path / "m", TINY, cfg).run()
    from safetensors.torch import load_file

    head = load_file(str(tmp_path / "m/train/object_head.safetensors"))
    tuned = Trainer(data, tmp_path / "p", None, cfg, init=tmp_path / "m", plan=True)
    assert tuned.net.config.plan_dim == 18
    for k, v in tuned.net.plan_head.state_dict().items():
        assert torch.equal(v, head[k]), k
    with pytest.raises(UserError, match="--plan"):
        Trainer(data, tmp_path / "q", None, TrainConfig(plan_teacher=0.5), init=tmp_path / "m")
