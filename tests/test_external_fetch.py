"""gymnasium-robotics Fetch behind our contract: observations, action mapping, experts."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.errors import UnknownNameError
from cosmos_policy.sim.external import make_external_env, make_external_expert  # noqa: E402
from cosmos_policy.sim.external.experts import run_expert_episode  # noqa: E402

pytestmark = pytest.mark.external


def _rot(ee_pose: np.ndarray) -> np.ndarray:
    a, b = ee_pose[3:6].astype(float), ee_pose[6:9].astype(float)
    return np.stack([a, b, np.cross(a, b)], axis=1)


def test_observation_contract_with_images() -> None:
    env = make_external_env("fetch/Push", image_size=(48, 64), cameras=("front", "wrist"))
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert set(obs["images"]) == {"front", "wrist"}
    for img in obs["images"].values():
        assert img.shape == (48, 64, 3)
        assert img.dtype == np.uint8
        assert img.std() > 5  # a rendered scene, not a blank buffer
    assert obs["state"].shape == (8,)
    assert obs["joint_vel"].shape == (7,)
    assert obs["prompt"] == "push the black block to the red target"
    R = _rot(obs["ee_pose"])
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-4)
    # ee_pose is the grip site in the base frame, the same point the expert steers.
    np.testing.assert_allclose(obs["ee_pose"][:3], env.privileged()["grip"], atol=1e-5)
    assert info["is_success"] is False
    env.close()


def test_unknown_camera_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="front"):
        make_external_env("fetch/Reach", cameras=("agentview",))


def test_action_mapping_saturates_and_maps_gripper() -> None:
    env = make_external_env("fetch/PickAndPlace", cameras=(), seed=1)
    obs, _ = env.reset(seed=1)
    far = np.append(obs["ee_pose"], 0.0)
    far[0] += 1.0  # one metre ahead along base x
    native = env.native_action(far)
    assert native[0] == pytest.approx(1.0)
    assert abs(native[1]) < 0.05
    assert native[3] == pytest.approx(1.0)  # 0 (open) -> Fetch +1 (open)
    close = far.copy()
    close[9] = 1.0
    assert env.native_action(close)[3] == pytest.approx(-1.0)


def test_hold_move_and_gripper_state() -> None:
    env = make_external_env("fetch/PickAndPlace", cameras=(), seed=2)
    obs, _ = env.reset(seed=2)
    hold = np.append(obs["ee_pose"], 0.0).astype(np.float32)
    for _ in range(10):
        obs, *_ = env.step(hold)
    np.testing.assert_allclose(obs["ee_pose"][:3], hold[:3], atol=0.01)
    assert obs["state"][-1] < 0.1  # commanded open
    target = hold.copy()
    target[2] += 0.08
    target[9] = 1.0
    for _ in range(10):
        obs, *_ = env.step(target)
    np.testing.assert_allclose(obs["ee_pose"][:3], target[:3], atol=0.01)
    assert obs["state"][-1] > 0.9  # commanded closed, nothing between the fingers


def test_seed_reproduces_and_varies_the_scene() -> None:
    env = make_external_env("fetch/Push", cameras=())
    env.reset(seed=3)
    a = env.privileged()
    env.reset(seed=3)
    b = env.privileged()
    env.reset(seed=4)
    c = env.privileged()
    np.testing.assert_allclose(a["object"], b["object"])
    np.testing.assert_allclose(a["goal"], b["goal"])
    assert not np.allclose(a["goal"], c["goal"])


@pytest.mark.parametrize("task", ["fetch/Reach", "fetch/Push", "fetch/PickAndPlace"])
def test_expert_succeeds(task: str) -> None:
    env = make_external_env(task, cameras=())
    expert = make_external_expert(env)
    results = [run_expert_episode(env, expert, seed)[0] for seed in (0, 1, 2)]
    assert all(results), results


def test_idle_policy_does_not_succeed_at_push() -> None:
    env = make_external_env("fetch/Push", cameras=())
    obs, _ = env.reset(seed=0)
    hold = np.append(obs["ee_pose"], 1.0).astype(np.float32)
    done, success = False, False
    while not done:
        obs, _, term, trunc, info = env.step(hold)
        success |= info["is_success"]
        done = term or trunc
    assert not success
