"""Tabletop envs: Gymnasium's checker, observation specs under a random policy, seeding,
registration, vector envs and the errors a user can make."""

from __future__ import annotations

import functools
import importlib.util
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cosmos_policy.embodiment import available_embodiments, load_embodiment
from cosmos_policy.errors import UserError
from cosmos_policy.sim import GYM_IDS, TASKS, make_env

EMBODIMENTS = available_embodiments()
HAVE_KINEMATICS = importlib.util.find_spec("cosmos_policy.kinematics") is not None
MODES = ["joint", "ee_pose"] if HAVE_KINEMATICS else ["joint"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("embodiment", EMBODIMENTS)
@pytest.mark.parametrize("task", list(TASKS))
def test_check_env(task: str, embodiment: str, mode: str) -> None:
    env = make_env(task, embodiment, image_size=16, action_mode=mode, render_mode="rgb_array")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # infinite Box bounds and the like are advisory
            check_env(env)
        frame = env.render()
        n_cams = len(load_embodiment(embodiment).cameras)
        assert frame.shape == (16, 16 * n_cams, 3)
        assert frame.dtype == np.uint8
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", EMBODIMENTS)
@pytest.mark.parametrize("task", list(TASKS))
def test_random_policy_observations_fit_spec(task: str, embodiment: str) -> None:
    emb = load_embodiment(embodiment)
    env = make_env(task, embodiment, image_size=(16, 24), action_mode="joint")
    spec = emb.observation_spec(image_size=(16, 24))
    env.action_space.seed(3)
    try:
        obs, info = env.reset(seed=3)
        for _ in range(8):
            assert env.observation_space.contains(obs)
            for cam, cam_spec in spec.images.items():
                cam_spec.check(cam, obs["images"][cam])
            spec.state.check("state", obs["state"])
            assert obs["joint_vel"].shape == (emb.n_joints,)
            assert np.all(np.isfinite(obs["joint_vel"]))
            assert obs["ee_pose"].shape == (9,)
            assert np.all(np.isfinite(obs["ee_pose"]))
            assert 0.0 <= obs["state"][-1] <= 1.0
            assert info["color"] in obs["prompt"]
            obs, reward, _, _, info = env.step(env.action_space.sample())
            assert np.isfinite(reward)
            assert isinstance(info["is_success"], bool)
    finally:
        env.close()


def test_reset_is_seeded_and_layout_varies() -> None:
    env = make_env("push", "franka", cameras=(), action_mode="joint")
    try:
        a, _ = env.reset(seed=11)
        pos_a = {c: env.scene.cube_pos(c) for c in ("red", "green", "blue")}
        b, _ = env.reset(seed=11)
        pos_b = {c: env.scene.cube_pos(c) for c in ("red", "green", "blue")}
        assert a["prompt"] == b["prompt"]
        for c in pos_a:
            np.testing.assert_array_equal(pos_a[c], pos_b[c])
        colors, prompts = set(), set()
        for seed in range(30):
            _, info = env.reset(seed=seed)
            colors.add(info["color"])
            prompts.add(env.scene.cube_pos("red").round(4).tobytes())
        assert colors == {"red", "green", "blue"}  # the target colour is random per episode
        assert len(prompts) == 30  # and so is the layout
    finally:
        env.close()


def test_episode_truncates_at_the_task_limit() -> None:
    env = make_env("reach", "franka", cameras=(), action_mode="joint", max_episode_steps=5)
    try:
        env.reset(seed=0)
        hold = np.append(load_embodiment("franka").home, 0.0).astype(np.float32)
        flags = [env.step(hold)[3] for _ in range(5)]
        assert flags == [False] * 4 + [True]
        assert make_env("pick_place", "franka", cameras=(),
                        action_mode="joint").max_episode_steps == 150
    finally:
        env.close()


def test_joint_action_is_tracked_within_one_step() -> None:
    emb = load_embodiment("franka")
    env = make_env("reach", "franka", cameras=(), action_mode="joint")
    try:
        env.reset(seed=0)
        target = emb.home + np.array([0.1, -0.1, 0.1, 0.1, -0.1, 0.1, 0.1])
        for _ in range(3):
            obs, *_ = env.step(np.append(target, 1.0).astype(np.float32))
        np.testing.assert_allclose(obs["state"][:-1], target, atol=0.02)
        assert obs["state"][-1] > 0.9  # gripper closed on nothing
    finally:
        env.close()


@pytest.mark.parametrize("gym_id", list(GYM_IDS))
def test_gymnasium_ids(gym_id: str) -> None:
    env = gym.make(gym_id, embodiment="franka", cameras=("front",), image_size=8,
                   action_mode="joint")
    try:
        obs, _ = env.reset(seed=0)
        assert env.unwrapped.task_name == GYM_IDS[gym_id]
        assert set(obs["images"]) == {"front"}
    finally:
        env.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_vector_envs(kind: str) -> None:
    # a picklable factory; AsyncVectorEnv must spawn, a forked child inherits a dead EGL context
    factory = functools.partial(make_env, "reach", "franka", image_size=16, action_mode="joint")
    if kind == "sync":
        venv = gym.vector.SyncVectorEnv([factory] * 2)
    else:
        venv = gym.vector.AsyncVectorEnv([factory] * 2, context="spawn")
    try:
        obs, _ = venv.reset(seed=[1, 2])
        assert obs["images"]["front"].shape == (2, 16, 16, 3)
        assert obs["state"].shape == (2, 8)
        assert len(obs["prompt"]) == 2
        venv.action_space.seed(0)
        obs, reward, term, trunc, info = venv.step(venv.action_space.sample())
        assert reward.shape == (2,)
        assert np.all(np.isfinite(reward))
        assert not np.array_equal(obs["images"]["front"][0], obs["images"]["front"][1])
    finally:
        venv.close()


def test_user_errors_name_the_fix() -> None:
    with pytest.raises(UserError, match="valid: pick_place, push, reach"):
        make_env("stack", "franka")
    with pytest.raises(UserError, match="valid: ee_pose, joint"):
        make_env("reach", "franka", action_mode="torque")
    with pytest.raises(UserError, match="prompt_style"):
        make_env("reach", "franka", prompt_style="poetic")
    with pytest.raises(UserError, match="unknown camera"):
        make_env("reach", "franka", cameras=("top",))
    env = make_env("reach", "franka", cameras=(), action_mode="joint")
    try:
        env.reset(seed=0)
        with pytest.raises(UserError, match="shape"):
            env.step(np.zeros(3, np.float32))
    finally:
        env.close()
