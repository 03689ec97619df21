"""Cosmos 3 adapter end to end on a tiny random checkpoint saved and loaded from a tmp folder.

Needs diffusers >= 0.42 (Cosmos3OmniPipeline); skips where it does not import. Nothing is
fetched from a hub (HF_HUB_OFFLINE=1, local_files_only).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos3_omni",
                    reason="diffusers >= 0.42 with Cosmos3OmniPipeline is not installed")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.errors import UserError  # noqa: E402
from cosmos_policy.kinematics import matrix_from_rot6d  # noqa: E402
from cosmos_policy.models.cosmos3 import Cosmos3WAM, load_cosmos3  # noqa: E402
from cosmos_policy.models.cosmos3_testing import tiny_checkpoint  # noqa: E402
from cosmos_policy.spec import WorldActionModel, fake_obs  # noqa: E402

SIZE = (64, 64)
OPTS = {"domain": "droid_lerobot", "dtype": "float32", "device": "cpu", "chunk_size": 4,
        "resolution_tier": 256, "steps": 2, "guidance_scale": 1.0}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("cosmos3") / "tiny-nano")


@pytest.fixture(scope="module")
def model(checkpoint: Path) -> Cosmos3WAM:
    return load_cosmos3(checkpoint, "franka", return_future_frames=True, **OPTS)


def _obs(seed: int = 0):
    spec = load_embodiment("franka").observation_spec(image_size=SIZE)
    obs = fake_obs(spec, seed=seed)
    emb = load_embodiment("franka")
    state = np.concatenate([emb.home, [0.2]]).astype(np.float32)
    return dataclasses.replace(obs, state=state)


def test_policy_returns_a_chunk_of_unified_actions_and_frames(model: Cosmos3WAM) -> None:
    assert isinstance(model, WorldActionModel)
    obs = _obs()
    chunk = model.policy(obs)
    assert chunk.actions.shape == (4, 10)
    assert chunk.actions.dtype == np.float32
    assert np.all(np.isfinite(chunk.actions))
    # one action row per model frame: DROID is sampled at 15 fps (NVIDIA's RoboLab server)
    assert chunk.dt == pytest.approx(1.0 / 15.0)
    rot = matrix_from_rot6d(chunk.actions[:, 3:9].astype(np.float64))  # valid rotations
    eye = np.broadcast_to(np.eye(3), rot.shape)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), eye, atol=1e-5)
    assert np.all((chunk.actions[:, 9] >= 0) & (chunk.actions[:, 9] <= 1))
    frames = chunk.future_frames["front"]
    assert frames.shape == (4, *SIZE, 3)
    assert frames.dtype == np.uint8
    model.reset()
    again = model.policy(obs)  # reset re-seeds: the same observation gives the same chunk
    np.testing.assert_allclose(again.actions, chunk.actions, atol=1e-5)


def test_forward_dynamics_returns_future_frames(model: Cosmos3WAM) -> None:
    obs = _obs(1)
    actions = np.tile(model._pose_at(obs.state), (4, 1)).astype(np.float32)
    frames = model.forward_dynamics(obs, actions)
    assert list(frames) == ["front"]
    assert frames["front"].shape == (4, *SIZE, 3)
    assert frames["front"].dtype == np.uint8


def test_inverse_dynamics_pads_to_the_vae_and_returns_k_actions(model: Cosmos3WAM) -> None:
    rng = np.random.default_rng(2)
    clip = rng.integers(0, 256, size=(4, *SIZE, 3), dtype=np.uint8)  # k = 3, padded to 4
    acts = model.inverse_dynamics({"front": clip}, _obs().state)
    assert acts.shape == (3, 10)
    assert acts.dtype == np.float32
    assert np.all(np.isfinite(acts))


def test_delta_statistics_are_chained_from_the_observed_pose(checkpoint: Path,
                                                              model: Cosmos3WAM) -> None:
    delta = load_cosmos3(checkpoint, "franka", stats=_stats(checkpoint, "delta"), **OPTS)
    obs = _obs()
    pose = delta._pose_at(obs.state)
    chunk = delta.policy(obs)
    # delta statistics bound translations to +-5 cm around the observed pose (plus slack
    # for an untrained model straying past the [-1, 1] range)
    assert np.all(np.abs(chunk.actions[:, :3] - pose[:3]) < 0.5)
    absolute = model.policy(obs).actions
    assert not np.allclose(absolute[:, :3], chunk.actions[:, :3], atol=1e-3)


def _stats(checkpoint: Path, representation: str) -> Path:
    data = json.loads((checkpoint / "action_statistics.json").read_text())
    entry = data["domains"]["droid_lerobot"]
    entry["representation"] = representation
    entry["q01"][:3], entry["q99"][:3] = [-0.05] * 3, [0.05] * 3
    path = checkpoint.parent / f"stats_{representation}.json"
    path.write_text(json.dumps(data))
    return path


def test_clear_errors_for_folder_component_domain(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such folder"):
        load_cosmos3(tmp_path / "absent", "franka", **OPTS)
    with pytest.raises(UserError, match="no model_index.json"):
        load_cosmos3(tmp_path, "franka", **OPTS)
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(UserError, match="component 'vae' is missing"):
        load_cosmos3(broken, "franka", **OPTS)
    nostats = tmp_path / "nostats"
    shutil.copytree(checkpoint, nostats)
    (nostats / "action_statistics.json").unlink()
    with pytest.raises(UserError, match="no action statistics"):
        load_cosmos3(nostats, "franka", **OPTS)
    opts = {k: v for k, v in OPTS.items() if k != "domain"}
    with pytest.raises(UserError, match="no statistics for Cosmos 3 domain 'robomind-franka'"):
        load_cosmos3(checkpoint, "franka", **opts)  # embodiment.yaml's domain; stats lack it
    wrong = dataclasses.replace(load_embodiment("franka"), cosmos3_domain="franka")
    with pytest.raises(UserError, match="'franka' .* is not a Cosmos 3 action domain"):
        load_cosmos3(checkpoint, wrong, **opts)
    bare = dataclasses.replace(load_embodiment("franka"), cosmos3_domain=None)
    with pytest.raises(UserError, match="has no Cosmos 3 domain"):
        load_cosmos3(checkpoint, bare, **opts)
    with pytest.raises(UserError, match="no statistics for Cosmos 3 domain 'fractal'"):
        load_cosmos3(checkpoint, "franka", **{**OPTS, "domain": "fractal"})
    with pytest.raises(UserError, match="action width 20"):
        load_cosmos3(checkpoint, "franka", **{**OPTS, "domain": "robomind-franka-dual"})
