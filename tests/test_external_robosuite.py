"""robosuite Panda Lift/Stack behind our contract: observations, absolute OSC mapping, experts."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.sim.external import _common as C  # noqa: E402
from cosmos_policy.sim.external import make_external_env, make_external_expert  # noqa: E402
from cosmos_policy.sim.external.experts import run_expert_episode  # noqa: E402

pytestmark = pytest.mark.external


def _rot(ee_pose: np.ndarray) -> np.ndarray:
    return C.rot_from_6d(ee_pose[3:9])


@pytest.fixture(scope="module")
def lift():
    env = make_external_env("robosuite/Lift", image_size=(48, 64))
    yield env
    env.close()


def test_observation_contract_with_both_cameras(lift) -> None:
    obs, info = lift.reset(seed=0)
    assert lift.observation_space.contains(obs)
    assert set(obs["images"]) == {"agentview", "robot0_eye_in_hand"}
    for img in obs["images"].values():
        assert img.shape == (48, 64, 3)
        assert img.dtype == np.uint8
        assert img.std() > 5
    # Upright: agentview looks down at the table, so the top rows (background, robot) differ
    # from the bottom rows (the bright table top in front of the camera).
    agent = obs["images"]["agentview"].astype(float)
    assert agent[-8:].mean() > agent[:8].mean()
    assert obs["state"].shape == (8,)
    assert 0.0 <= obs["state"][-1] <= 1.0
    assert obs["prompt"] == "pick up the cube and lift it"
    priv = lift.privileged()
    np.testing.assert_allclose(obs["ee_pose"][:3], priv["grip"], atol=1e-5)
    np.testing.assert_allclose(_rot(obs["ee_pose"]), priv["grip_rot"], atol=1e-5)
    assert info["is_success"] is False


def test_absolute_pose_tracking_and_gripper(lift) -> None:
    obs, _ = lift.reset(seed=1)
    hold = np.append(obs["ee_pose"], 0.0).astype(np.float32)
    for _ in range(10):
        obs, *_ = lift.step(hold)
    np.testing.assert_allclose(obs["ee_pose"][:3], hold[:3], atol=0.005)
    assert obs["state"][-1] < 0.1  # commanded open
    # 5 cm up and 30 degrees about the vertical, gripper closed: an absolute target.
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    R_goal = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ _rot(hold)
    target = np.append(C.pose9(hold[:3] + [0, 0, 0.05], R_goal), 1.0).astype(np.float32)
    for _ in range(30):
        obs, *_ = lift.step(target)
    np.testing.assert_allclose(obs["ee_pose"][:3], target[:3], atol=0.01)
    err = np.degrees(np.linalg.norm(C.rotvec_from_matrix(_rot(obs["ee_pose"]).T @ R_goal)))
    assert err < 5.0
    assert obs["state"][-1] > 0.8  # closed on nothing


def test_native_action_layout() -> None:
    from cosmos_policy.sim.external.robosuite_env import RobosuiteAdapter

    a = np.append(C.pose9(np.array([0.5, 0.0, 0.1]), np.eye(3)), 1.0)
    native = RobosuiteAdapter.native_action(a)
    np.testing.assert_allclose(native, [0.5, 0.0, 0.1, 0, 0, 0, 1.0], atol=1e-12)
    a[9] = 0.0
    assert RobosuiteAdapter.native_action(a)[6] == -1.0


def test_seed_reproduces_and_varies_the_cube(lift) -> None:
    lift.reset(seed=5)
    a = lift.privileged()["cube"]
    lift.reset(seed=5)
    b = lift.privileged()["cube"]
    lift.reset(seed=6)
    c = lift.privileged()["cube"]
    np.testing.assert_allclose(a, b)
    assert not np.allclose(a, c)


def test_lift_expert_succeeds() -> None:
    # No cameras: the expert reads the simulator, and robosuite's renderer costs ~85 ms per
    # camera per step on a CPU (its shadows and reflections), 94 s of this test with two.
    env = make_external_env("robosuite/Lift", cameras=())
    try:
        expert = make_external_expert(env)
        results = [run_expert_episode(env, expert, seed)[0] for seed in (0, 1)]
    finally:
        env.close()
    assert all(results), results


def test_stack_expert_succeeds_and_idle_fails() -> None:
    env = make_external_env("robosuite/Stack", cameras=(), max_episode_steps=220)
    expert = make_external_expert(env)
    assert run_expert_episode(env, expert, 0)[0]
    obs, _ = env.reset(seed=0)
    hold = np.append(obs["ee_pose"], 0.0).astype(np.float32)
    assert not any(env.step(hold)[4]["is_success"] for _ in range(20))
    env.close()
