"""Scripted experts: a handful of seeds per (task, embodiment) by default; 100 episodes each
(>= 95 % success) under the slow marker."""

from __future__ import annotations

import pytest

from cosmos_policy.embodiment import available_embodiments
from cosmos_policy.sim import TASKS, make_env, make_expert
from cosmos_policy.sim.rollout import expert_episodes

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


@pytest.mark.parametrize("embodiment", ["franka", "ur5e"])
def test_push_expert_pushes_on_towards_the_centre_and_then_holds(embodiment: str) -> None:
    """Demonstrations recorded with hold steps must not end at the edge of success: after the
    first success the expert pushes the cube on towards the region's centre, then holds."""
    import numpy as np

    env = make_env("push", embodiment, cameras=())
    try:
        expert = make_expert(env)
        at_success, at_end, held = [], [], 0
        for seed in range(1000, 1006):
            obs, info = env.reset(seed=seed)
            expert.reset()
            scene, task = env.unwrapped.scene, env.unwrapped.task
            first, commanded = None, []
            for t in range(env.max_episode_steps + 40):
                action = expert.act(obs)
                obs, _, _, _, info = env.step(action)
                commanded.append(action[:3])
                if first is None and info["is_success"]:
                    first = t
                    at_success.append(task.distance(scene))
                if first is not None and t - first >= 20:
                    break
            assert first is not None, f"seed {seed}: the expert did not push the cube in"
            assert info["is_success"], f"seed {seed}: the cube left the region after success"
            at_end.append(task.distance(scene))
            held += bool(np.ptp(np.asarray(commanded[-5:]), axis=0).max() < 1e-6)
        assert np.median(at_end) < np.median(at_success) - 0.008, (at_success, at_end)
        assert held >= 2, f"{held} of 6 episodes ended holding still (others re-align)"
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", ["franka", "ur5e"])
def test_push_expert_goes_over_the_cube_and_comes_down_behind_it(embodiment: str) -> None:
    """With push_over_cube, the way to the push start passes above the cube, then backs off
    along the line from the region through the cube; the tool comes down only there."""
    import numpy as np

    from cosmos_policy.sim.experts import ExpertConfig

    env = make_env("push", embodiment, cameras=())
    try:
        expert = make_expert(env, ExpertConfig(push_over_cube=True))
        for seed in range(1000, 1004):
            obs, _ = env.reset(seed=seed)
            expert.reset()
            scene, task = env.unwrapped.scene, env.unwrapped.task
            cube = scene.cube_pos(task.color)[:2].copy()
            line = scene.region_pos()[:2] - cube
            line /= np.linalg.norm(line)
            over = np.inf  # closest the tool came to above the cube's centre, high up
            for _ in range(env.max_episode_steps):
                obs, *_ = env.step(expert.act(obs))
                tcp = scene.tcp_pos()
                if tcp[2] < 0.045:  # down at the cube's height
                    break
                if tcp[2] > 0.08:
                    over = min(over, float(np.linalg.norm(tcp[:2] - cube)))
            along = float((tcp[:2] - cube) @ line)
            lateral = float(np.linalg.norm(tcp[:2] - cube - along * line))
            assert over < 0.025, f"seed {seed}: the tool never passed above the cube ({over:.3f} m)"
            assert along < -0.06, f"seed {seed}: came down {along:.3f} m along the line"
            assert lateral < 0.01, f"seed {seed}: came down {lateral:.3f} m off the line"
    finally:
        env.close()
