"""Tasks and the suite file: success criteria on hand-placed states, rewards that rise towards
success, layouts inside the task area, prompts and their styles, suite-file errors."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.embodiment import available_embodiments
from cosmos_policy.errors import ConfigError
from cosmos_policy.sim import make_env
from cosmos_policy.sim.scene import COLORS, CUBE_HALF, PLATE_TOP
from cosmos_policy.sim.suite import all_prompts, load_suite
from cosmos_policy.sim.tasks import CUBE_SPACING


def _env(task: str):
    env = make_env(task, "franka", cameras=(), action_mode="joint")
    env.reset(seed=0)
    return env, env.unwrapped.scene, env.unwrapped.task


def test_push_success_when_cube_in_region_only() -> None:
    env, scene, task = _env("push")
    try:
        region = scene.region_pos()
        assert not task.success(scene)
        before = task.reward(scene)
        scene.place_cube(task.color, region[:2] + [0.01, -0.01])
        scene.forward()
        assert task.success(scene)
        assert task.reward(scene) > before
        scene.place_cube(task.color, region[:2] + [0.06, 0.0])
        scene.forward()
        assert not task.success(scene)
    finally:
        env.close()


def test_pick_place_needs_the_cube_resting_on_the_plate() -> None:
    env, scene, task = _env("pick_place")
    try:
        plate = scene.plate_pos()
        adr = scene.cube_qadr[task.color]
        scene.place_cube(task.color, plate[:2])
        scene.data.qpos[adr + 2] = PLATE_TOP + CUBE_HALF
        scene.forward()
        assert task.success(scene)
        scene.data.qpos[adr + 2] = PLATE_TOP + CUBE_HALF + 0.05  # held above it
        scene.forward()
        assert not task.success(scene)
        other = next(c for c in COLORS if c != task.color)  # the wrong cube on the plate
        scene.place_cube(task.color, plate[:2] + [0.2, 0.0])
        scene.place_cube(other, plate[:2])
        scene.data.qpos[scene.cube_qadr[other] + 2] = PLATE_TOP + CUBE_HALF
        scene.forward()
        assert not task.success(scene)
    finally:
        env.close()


def test_reach_success_by_distance() -> None:
    env, scene, task = _env("reach")
    try:
        assert not task.success(scene)  # home is far from every cube
        scene.place_cube(task.color, scene.tcp_pos()[:2])
        adr = scene.cube_qadr[task.color]
        scene.data.qpos[adr + 2] = scene.tcp_pos()[2] - 0.02
        scene.forward()
        assert task.success(scene)
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", available_embodiments())
@pytest.mark.parametrize("task", ["reach", "push", "pick_place"])
def test_layouts_are_spaced_and_the_target_is_in_the_task_area(task: str, embodiment: str
                                                               ) -> None:
    env = make_env(task, embodiment, cameras=(), action_mode="joint")
    emb = env.unwrapped.embodiment
    try:
        for seed in range(20):
            _, info = env.reset(seed=seed)
            scene = env.unwrapped.scene
            cubes = [scene.cube_pos(c) for c in COLORS]
            for i in range(3):
                for j in range(i + 1, 3):
                    assert np.linalg.norm(cubes[i][:2] - cubes[j][:2]) >= CUBE_SPACING - 1e-9
            target = scene.cube_pos(info["color"])[:2]
            assert np.all(np.abs(target - emb.task_area_center)
                          <= emb.task_area_half_extent + 1e-9)
    finally:
        env.close()


@pytest.mark.parametrize("task", ["reach", "push", "pick_place"])
def test_prompt_styles(task: str) -> None:
    canonical, paraphrase = all_prompts(task, "canonical"), all_prompts(task, "paraphrase")
    assert not set(canonical) & set(paraphrase)
    assert set(all_prompts(task, "any")) == set(canonical) | set(paraphrase)
    env = make_env(task, "franka", cameras=(), action_mode="joint", prompt_style="paraphrase")
    try:
        seen = set()
        for seed in range(40):
            obs, info = env.reset(seed=seed)
            assert obs["prompt"] in paraphrase
            assert info["color"] in obs["prompt"]
            seen.add(obs["prompt"])
        assert len(seen) > 3
    finally:
        env.close()


def test_suite_file_errors_name_the_field(tmp_path) -> None:
    bad = tmp_path / "suite.yaml"
    bad.write_text("tasks:\n  reach:\n    max_episode_steps: -1\n    success_distance: 0.03\n")
    with pytest.raises(ConfigError, match="tasks.reach.max_episode_steps"):
        load_suite(str(bad))
    bad.write_text("tasks:\n  reach:\n    max_episode_steps: 5\n    success_distance: 0.03\n"
                   "    canonical: ['reach the {color} cube']\n"
                   "    paraphrase: ['reach the {color} cube']\n")
    with pytest.raises(ConfigError, match="paraphrase"):
        load_suite(str(bad))


def test_training_wordings_are_disjoint_from_evaluation_and_keep_the_colour(tmp_path) -> None:
    from cosmos_policy.sim.suite import training_variants
    from cosmos_policy.training.trainer import PromptVariants

    suite = load_suite()
    variants = training_variants(suite)
    rewrite, rng = PromptVariants(variants), np.random.default_rng(0)
    for task, cfg in suite.tasks.items():
        assert len(cfg.training) >= 5, task
        evaluation = set(all_prompts(task, "any"))
        for color in suite.colors:
            out = {rewrite(cfg.canonical[0].format(color=color), rng) for _ in range(200)}
            assert out == {t.format(color=color) for t in cfg.training}
            assert not out & evaluation  # evaluation's paraphrases stay unseen in training
    bad = tmp_path / "suite.yaml"
    bad.write_text("tasks:\n  reach:\n    max_episode_steps: 5\n    success_distance: 0.03\n"
                   "    canonical: ['reach the {color} cube']\n"
                   "    paraphrase: ['go to the {color} block']\n"
                   "    training: ['go to the {color} block']\n")
    with pytest.raises(ConfigError, match="tasks.reach.training"):
        load_suite(str(bad))
