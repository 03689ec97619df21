"""Scripted experts: a handful of seeds per (task, embodiment) by default; 100 episodes each
(>= 95 % success) under the slow marker."""

from __future__ import annotations

import pytest

from cosmos_policy.embodiment import available_embodiments
from cosmos_policy.sim import TASKS, make_env, make_expert
from cosmos_policy.sim.rollout import expert_episodes

pytest.importorskip("cosmos_policy.kinematics")

PAIRS = [(t, e) for e in available_embodiments() for t in TASKS]


@pytest.mark.parametrize(("task", "embodiment"), PAIRS)
def test_expert_succeeds_on_a_few_seeds(task: str, embodiment: str) -> None:
    results = list(expert_episodes(task, embodiment, episodes=3, seed=1000))
    assert [r.success for r in results] == [True] * 3, [r.seed for r in results if not r.success]
    for r in results:
        assert r.steps < TASKS[task]().max_episode_steps


@pytest.mark.slow  # 100 episodes x 9 pairs take a few minutes on 2 cores
@pytest.mark.parametrize(("task", "embodiment"), PAIRS)
def test_expert_success_rate_over_100_episodes(task: str, embodiment: str) -> None:
    ok = sum(r.success for r in expert_episodes(task, embodiment, episodes=100, seed=0))
    assert ok >= 95


def test_expert_acts_in_joint_mode_too() -> None:
    env = make_env("reach", "franka", cameras=(), action_mode="joint")
    try:
        expert = make_expert(env)
        obs, _ = env.reset(seed=5)
        for _ in range(env.max_episode_steps):
            action = expert.act(obs)
            assert action.shape == env.action_space.shape
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info["is_success"]
    finally:
        env.close()


def test_expert_reads_the_target_from_the_task() -> None:
    """The same layout with another target colour sends the expert to another cube."""
    env = make_env("reach", "franka", cameras=())
    try:
        expert = make_expert(env)
        obs, info = env.reset(seed=7)
        other = next(c for c in ("red", "green", "blue") if c != info["color"])
        env.unwrapped.task.color = other
        expert.reset()
        for _ in range(env.max_episode_steps):
            obs, *_ = env.step(expert.act(obs))
        tcp, cube = env.unwrapped.scene.tcp_pos(), env.unwrapped.scene.cube_pos(other)
        assert ((tcp - cube) ** 2).sum() ** 0.5 < 0.03
    finally:
        env.close()
