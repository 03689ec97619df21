"""The object head: counterfactual targets, fixtures, and what ships in the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_fakes import TINY, FixtureDataset, ObjectDataset, objects_data

from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import load_bundle
from cosmos_policy.training.layout import load_layout
from cosmos_policy.training.trainer import TrainConfig, Trainer


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
    trainer.layout = load_layout()
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


def test_fixture_targets_are_masked_where_a_recording_lacks_them() -> None:
    from cosmos_policy.training.datacache import _objects_of

    layout = load_layout()
    assert layout.objects_dim == 18
    cubes = np.ones((5, 12), np.float32)
    padded = _objects_of(cubes, 5, layout)
    assert padded.shape == (5, 18)
    np.testing.assert_array_equal(padded[:, :12], cubes)
    assert np.isnan(padded[:, 12:]).all()
    assert _objects_of(np.ones((5, 18)), 5, layout).shape == (5, 18)
    assert _objects_of(np.ones((5, 7)), 5, layout) is None  # someone else's environment_state
    assert _objects_of(np.ones((4, 12)), 5, layout) is None
    rng = np.random.default_rng(0)
    old = objects_data([ObjectDataset("franka", 8, n_episodes=2, length=10)]).sample(rng, 64)
    assert old["objects_mask"][:, :12].min() == 1
    assert old["objects_mask"][:, 12:].max() == 0
    assert torch.isfinite(old["objects"]).all()
    assert old["objects"][:, 12:].abs().max() == 0
    new = objects_data([FixtureDataset("franka", 8, n_episodes=2, length=10)]).sample(rng, 64)
    assert new["objects_mask"].min() == 1
    # Normalised like the action's xyz, per episode: two episodes, two region positions.
    assert len(torch.unique(new["objects"][:, 12])) == 2


def test_object_batch_keeps_the_recorded_mask() -> None:
    trainer = Trainer.__new__(Trainer)
    trainer.rng = np.random.default_rng(0)
    trainer.layout = load_layout()
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

    from cosmos_policy.training.objects import load_object_head

    old = nn.Sequential(nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 12))
    save_file(old.state_dict(), str(tmp_path / "head.safetensors"))
    head = load_object_head(tmp_path / "head.safetensors", 32, 18)
    x = torch.randn(5, 32)
    torch.testing.assert_close(head(x)[:, :12], old(x))
    assert head(x).shape == (5, 18)
    save_file({"0.weight": torch.zeros(16, 16)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="object head tensor 0.weight"):
        load_object_head(tmp_path / "bad.safetensors", 32, 18)
    save_file({"zzz": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="not an object head"):
        load_object_head(tmp_path / "other.safetensors", 32, 18)
