"""Cosmos 3 policy checkpoints (joint positions + state row + canvas) on a tiny local folder.

Published behaviour (NVIDIA's RoboLab server for Cosmos3-*-Policy-DROID): 8-D absolute joint
actions (7 joints + gripper), the current state as the first action row, trimmed from the
reply; the DROID canvas; 15 fps.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos3_omni",
                    reason="diffusers with Cosmos 3 support")

from cosmos_policy.cli import main  # noqa: E402
from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.errors import UserError  # noqa: E402
from cosmos_policy.models.cosmos3_policy import (  # noqa: E402
    Cosmos3PolicyWAM,
    PolicyConfig,
    framework_only,
    is_policy_folder,
    load_policy,
)
from cosmos_policy.models.cosmos3_policy_testing import (  # noqa: E402
    TINY_POLICY,
    tiny_policy_checkpoint,
)
from cosmos_policy.models.cosmos3_use import Cosmos3Options  # noqa: E402
from cosmos_policy.policy.registry import find_model, load_model  # noqa: E402
from cosmos_policy.spec import Observation  # noqa: E402

pytestmark = pytest.mark.timeout(600)
CPU = Cosmos3Options(dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_policy_checkpoint(tmp_path_factory.mktemp("policy") / "tiny")


@pytest.fixture(scope="module")
def joint_franka():
    """Franka declaring joint targets as its action space (how a DROID arm is driven)."""
    return dataclasses.replace(load_embodiment("franka"), action_type="joint")


@pytest.fixture(scope="module")
def model(folder: Path, joint_franka) -> Cosmos3PolicyWAM:
    return load_policy(folder, joint_franka, CPU)


def observation(emb, gripper: float = 0.7, seed: int = 0, q=None) -> Observation:
    rng = np.random.default_rng(seed)
    images = {c.name: rng.integers(0, 255, (c.height, c.width, 3), dtype=np.uint8)
              for c in emb.cameras}
    q = emb.home if q is None else q
    return Observation(images=images, state=np.append(q, gripper).astype(np.float32),
                       prompt="put the marker in the cup", timestamp=2.0)


def test_the_folder_is_a_first_class_model_kind(folder: Path, tmp_path: Path) -> None:
    from cosmos_policy.models.cosmos3_testing import tiny_checkpoint

    assert is_policy_folder(folder)
    assert find_model(str(folder)).kind == "cosmos3-policy"
    base = tiny_checkpoint(tmp_path / "base")
    assert not is_policy_folder(base)
    assert find_model(str(base)).kind == "cosmos3"
    with pytest.raises(UserError, match="Cosmos 3 policy checkpoint; this command takes"):
        find_model(str(folder), kinds=("bundle", "cosmos3"))  # e.g. label


def test_state_row_is_the_first_action_row_and_trimmed(model: Cosmos3PolicyWAM,
                                                        joint_franka) -> None:
    obs = observation(joint_franka)
    model.reset()
    raw = model.raw_chunk(obs)
    assert raw.shape == (TINY_POLICY.chunk_size + 1, 8)  # chunk + the state row
    np.testing.assert_allclose(raw[0], obs.state, atol=1e-5)  # kept clean by the sampler
    model.reset()
    chunk = model.policy(obs)
    assert chunk.actions.shape == (TINY_POLICY.chunk_size, 8)  # joints + gripper, no state
    assert chunk.actions.dtype == np.float32
    expected = raw[1:].copy()
    expected[:, -1] = np.clip(expected[:, -1], 0, 1)
    np.testing.assert_allclose(chunk.actions, expected, atol=1e-5)
    assert chunk.dt == pytest.approx(1 / 15)  # the model's 15 fps, not the control rate
    assert chunk.timestamp == obs.timestamp


def test_the_state_row_conditions_the_prediction(model: Cosmos3PolicyWAM, joint_franka) -> None:
    model.reset()
    a = model.policy(observation(joint_franka, gripper=0.0)).actions
    model.reset()
    b = model.policy(observation(joint_franka, gripper=1.0)).actions
    assert not np.allclose(a, b, atol=1e-6)  # same noise, different state: different actions


def test_the_model_sees_the_canvas(model: Cosmos3PolicyWAM, joint_franka,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    real = model.runner.__call__

    def spy(prompt, condition, state_row, width, **kw):
        seen["image"], seen["view"], seen["width"] = condition.image, condition.view_point, width
        return real(prompt, condition, state_row, width, **kw)

    monkeypatch.setattr(model, "runner", spy)
    obs = observation(joint_franka)
    obs.images["wrist"][:] = (255, 0, 0)
    obs.images["front"][:] = (0, 0, 255)
    model.policy(obs)
    img = seen["image"]
    assert img.shape == (*TINY_POLICY.canvas, 3)
    assert seen["view"] == "concat_view"
    assert seen["width"] == 8
    assert np.all(img[:32] == (255, 0, 0))  # wrist on top: 2/3 of 48 rows
    assert np.all(img[32:] == (0, 0, 255))  # the one exterior camera fills the bottom


def test_an_end_effector_embodiment_gets_the_forward_kinematics(folder: Path) -> None:
    emb = load_embodiment("franka")  # ee_pose
    m = load_policy(folder, emb, CPU)
    chunk = m.policy(observation(emb))
    assert chunk.actions.shape == (TINY_POLICY.chunk_size, 10)
    m.reset()
    rows = m.raw_chunk(observation(emb))[1:]
    np.testing.assert_allclose(chunk.actions[0, :9],
                               m.projector.to_unified(rows[0, :7], 0.0)[:9], atol=1e-5)


def test_refusals_are_one_line(folder: Path, tmp_path: Path, model) -> None:
    with pytest.raises(UserError, match="7 joints"):
        load_policy(folder, "so100", CPU)
    export = tmp_path / "export" / "model"
    export.mkdir(parents=True)
    (export / "config.json").write_text("{}")
    (export / "model.safetensors").write_bytes(b"")
    assert framework_only(export.parent)
    with pytest.raises(UserError, match="cosmos-framework"):
        load_policy(export.parent, "franka", CPU)
    with pytest.raises(UserError, match="actions only"):
        model.forward_dynamics(observation(model.embodiment), np.zeros((4, 8)))
    with pytest.raises(UserError, match="joint_pos"):
        PolicyConfig(action_space="midtrain")


def test_registry_loads_the_policy_for_any_command(folder: Path) -> None:
    m = load_model(str(folder), "franka", cosmos3=CPU)
    assert isinstance(m, Cosmos3PolicyWAM)
    assert m.config == TINY_POLICY
    # a sampling option the command line changed reaches the policy; the rest is the folder's
    m = load_model(str(folder), "franka", cosmos3=dataclasses.replace(CPU, steps=3))
    assert m.config == dataclasses.replace(TINY_POLICY, steps=3)


def test_eval_cli_runs_a_policy_folder_through_the_runtime(folder: Path, tmp_path: Path) -> None:
    code = main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                 "--max-steps", "3", "--lockstep", "--videos", "0", "--image-size", "64",
                 "--model", str(folder), "--out", str(tmp_path / "rep"),
                 "--cosmos3-dtype", "float32", "--cosmos3-device", "cpu"])
    assert code == 0
    report = json.loads((tmp_path / "rep" / "eval.json").read_text())
    assert report["episodes"] == 1
    assert report["counters"].get("chunks", 0) >= 1  # its chunks reached the runtime
    assert report["safety"]["commands"] > 0
    assert report["safety"]["limits"]["position_excess_rad"] == 0
