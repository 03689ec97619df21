"""Scripted experts: a handful of seeds per (task, embodiment) by default; 100 episodes each
(>= 95 % success) under the slow marker."""

from __future__ import annotations

import pytest
from benchmark_modules import load_benchmark

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


# --- answering from any state (DAgger labels) ---------------------------------------------

def _drive_with_labels(env, expert, seed: int, steps: int | None = None,
                       disturb=None) -> dict:  # noqa: ANN001 - env, expert, callback
    obs, info = env.reset(seed=seed)
    expert.reset()
    for t in range(steps or env.max_episode_steps):
        action = expert.label(obs)
        if disturb is not None:
            action = disturb(t, action)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return info


@pytest.mark.parametrize(("task", "embodiment"), PAIRS)
def test_expert_answering_from_the_state_alone_still_succeeds(task: str,
                                                               embodiment: str) -> None:
    """Labels read everything back from the simulator (commanded pose from the joint targets,
    phase from tool, cube and gripper): driven by its own labels the expert still succeeds."""
    env = make_env(task, embodiment, cameras=())
    try:
        expert = make_expert(env)
        wins = [bool(_drive_with_labels(env, expert, s).get("is_success"))
                for s in (1000, 1001)]
        assert wins == [True, True]
    finally:
        env.close()


@pytest.mark.parametrize(("task", "embodiment"),
                         [p for p in PAIRS if p != ("push", "so100")])
def test_state_feedback_expert_succeeds_driving_itself(task: str, embodiment: str) -> None:
    """``feedback="state"``: every step the expert starts from the measured pose, at its
    profile's speed for that distance, and so driven it still wins (what ``record --feedback
    state`` records). Not so100's push: the five-joint arm loses the push line and starts over
    (16/20 on seeds 1000-1019, 1000 and 1001 among the losses)."""
    from cosmos_policy.sim.experts import ExpertConfig

    env = make_env(task, embodiment, cameras=())
    try:
        expert = make_expert(env, ExpertConfig(feedback="state"))
        wins = [bool(_drive_with_labels(env, expert, s).get("is_success")) for s in (1000, 1001)]
        assert wins == [True, True]
    finally:
        env.close()


@pytest.mark.parametrize("task", ["pick_place", "push"])
def test_state_feedback_label_is_a_function_of_the_measured_state(task: str) -> None:
    """The last command (the env's joint targets) moves a ``command`` label and not a
    ``state`` one, whose position lies within one acceleration-limited step of the measured
    tool: a model that sees joint positions and no velocity can reproduce it."""
    import numpy as np

    from cosmos_policy.sim.experts import ExpertConfig, label_config

    env = make_env(task, "franka", cameras=())
    try:
        cfg = ExpertConfig(feedback="state")
        driver = make_expert(env, cfg)
        obs, _ = env.reset(seed=1005)
        driver.reset()
        base = env.unwrapped
        moved = {"state": 0, "command": 0}
        for step in range(45):
            label = driver.label(obs)
            lead = np.linalg.norm(label[:3] - base.scene.tcp_pos())
            assert lead <= cfg.fast * cfg.state_lead / base.embodiment.control_rate_hz + 2e-3, step
            if step % 5 == 4:
                saved = base._q_target.copy()  # noqa: SLF001
                answers = {}
                for feedback in ("state", "command"):
                    pair = []
                    for nudge in (0.0, 0.05):
                        base._q_target = saved + nudge  # noqa: SLF001 - a different last command
                        pair.append(make_expert(env, label_config("strict", feedback)).label(obs))
                    answers[feedback] = pair
                base._q_target = saved  # noqa: SLF001
                for feedback, (a, b) in answers.items():
                    moved[feedback] += float(np.abs(a[:3] - b[:3]).max() > 1e-3)
            obs, *_ = env.step(label)
        assert moved["state"] == 0
        assert moved["command"] >= 7  # of 9 comparisons
    finally:
        env.close()


def test_expert_feedback_is_checked() -> None:
    from cosmos_policy.errors import UnknownNameError
    from cosmos_policy.sim.experts import ExpertConfig, label_config

    with pytest.raises(UnknownNameError, match="feedback"):
        ExpertConfig(feedback="velocity")
    with pytest.raises(UnknownNameError, match="feedback"):
        label_config("strict", "plan")


@pytest.mark.parametrize("embodiment", ["franka", "ur5e"])
def test_label_recovers_after_the_policy_drops_the_cube(embodiment: str) -> None:
    """A policy that opens the gripper mid-carry: the label from the state after the drop
    opens the gripper and goes back above the cube, and the episode is still won."""
    import numpy as np

    env = make_env("pick_place", embodiment, cameras=())
    try:
        expert = make_expert(env)
        scene = env.unwrapped.scene
        after_drop: list[np.ndarray] = []
        state = {"dropping": 0}

        def disturb(t: int, action: np.ndarray) -> np.ndarray:
            cube = scene.cube_pos(env.unwrapped.task.color)
            if state["dropping"] == 0 and cube[2] > 0.08:
                state["dropping"] = 1
            if 1 <= state["dropping"] <= 8:  # the policy opens for 8 steps
                state["dropping"] += 1
                action = action.copy()
                action[-1] = 0.0
            elif state["dropping"] == 9:
                after_drop.append(action.copy())
                state["dropping"] = 10
            return action

        info = _drive_with_labels(env, expert, 1003, steps=env.max_episode_steps, disturb=disturb)
        assert after_drop, "the carry never started"
        assert after_drop[0][-1] == 0.0  # open again, to grasp anew
        assert info["is_success"]
    finally:
        env.close()


@pytest.mark.parametrize("task", ["reach", "push", "pick_place"])
def test_a_fresh_expert_gives_the_same_label_from_a_mid_episode_state(task: str) -> None:
    """The label depends on the state, not on the expert's history: an expert created at a
    mid-episode state (restored into a second env) answers as the one that labelled along."""
    import mujoco
    import numpy as np

    env, twin = make_env(task, "franka", cameras=()), make_env(task, "franka", cameras=())
    try:
        expert = make_expert(env)
        obs, _ = env.reset(seed=1004)
        expert.reset()
        s, t = env.unwrapped.scene, twin.unwrapped.scene
        compared = 0
        for step in range(60):
            if step % 12 == 11:
                twin.reset(seed=1004)  # same layout and target colour
                t.data.qpos[:], t.data.qvel[:], t.data.ctrl[:] = s.data.qpos, s.data.qvel, \
                    s.data.ctrl
                twin.unwrapped._q_target = env.unwrapped._q_target.copy()  # noqa: SLF001
                mujoco.mj_forward(t.model, t.data)
                fresh = make_expert(twin).label(None)
                along = expert.label(obs)
                # the one history kept: pick_place waits a fixed count of steps for the jaws
                # to close (phase 2) or open (phase 6); a fresh expert cannot know the count
                if expert.phase not in (2, 6) or task != "pick_place":
                    np.testing.assert_allclose(fresh, along, atol=2e-4)
                    compared += 1
                obs, *_ = env.step(along)
            else:
                obs, *_ = env.step(expert.label(obs))
        assert compared >= 4
    finally:
        env.close()
        twin.close()


def test_label_from_mid_grasp_lifts_with_the_gripper_closed() -> None:
    """The state a policy leaves with the jaws closed around the cube at the table: the
    expert's answer is to keep them closed and lift, not to start the grasp over."""
    env = make_env("pick_place", "franka", cameras=())
    try:
        driver = make_expert(env)
        obs, _ = env.reset(seed=1002)
        driver.reset()
        for _ in range(env.max_episode_steps):  # until the jaws have closed for 6 steps
            obs, *_ = env.step(driver.act(obs))
            if driver.phase == 3:
                break
        assert driver.phase == 3
        z = env.unwrapped.scene.tcp_pos()[2]
        label = make_expert(env).label(obs)
        assert label[-1] == 1.0
        assert label[2] > z + 1e-3
    finally:
        env.close()


# --- label tolerance: a policy's state a little off the expert's own path ------------------

def _labels_off_the_path(task: str, offset: float, phase: int):  # noqa: ANN202
    """Drive beside the expert's path until the driver enters ``phase``; return the tool, the
    cube and the strict and tolerant experts' labels from that state."""
    from cosmos_policy.sim.experts import label_config

    env = make_env(task, "franka", cameras=())
    try:
        beside = load_benchmark("expert_tolerance").beside
        driver = beside(task, env, [offset, 0.0] if task == "pick_place" else offset)
        obs, _ = env.reset(seed=1006)
        driver.reset()
        for _ in range(env.max_episode_steps):
            obs, *_ = env.step(driver.act(obs))
            if driver.phase == phase:
                break
        assert driver.phase == phase, f"the driver never reached phase {phase}"
        scene = env.unwrapped.scene
        tcp, cube = scene.tcp_pos().copy(), scene.cube_pos(env.unwrapped.task.color).copy()
        region = scene.region_pos().copy() if task == "push" else None
        strict = make_expert(env, label_config("strict")).label(obs)
        tolerant = make_expert(env, label_config("tolerant")).label(obs)
        return tcp, cube, region, strict, tolerant
    finally:
        env.close()


def test_tolerant_label_pushes_on_from_a_push_begun_off_the_line() -> None:
    """2.5 cm off the line (the expert's own limit is 2): the strict label lifts to re-align,
    the tolerant one stays down and pushes towards the region."""
    import numpy as np

    tcp, cube, region, strict, tolerant = _labels_off_the_path("push", 0.025, 3)
    d = (region - cube)[:2] / np.linalg.norm((region - cube)[:2])
    along = float((tcp[:2] - cube[:2]) @ d)
    lateral = float(np.linalg.norm(tcp[:2] - cube[:2] - along * d))
    assert 0.02 < lateral < 0.03, f"the state is {lateral * 100:.1f} cm off the line"
    assert strict[2] > tcp[2] + 1e-3  # lift
    assert tolerant[2] < tcp[2] + 1e-3  # stays at pushing height
    assert float((tolerant[:2] - tcp[:2]) @ d) > 1e-3  # and moves the cube on


def test_tolerant_label_closes_on_a_cube_grasped_off_centre() -> None:
    """The jaws at the cube's height 1.65 cm beside its centre (the expert closes within 1.2,
    and its grasp survives 2): the strict label opens and goes back above, the tolerant one
    closes."""
    import numpy as np

    tcp, cube, _, strict, tolerant = _labels_off_the_path("pick_place", 0.0165, 2)
    xy = float(np.linalg.norm(tcp[:2] - cube[:2]))
    assert 0.015 < xy < 0.018, f"the state is {xy * 100:.2f} cm off the centre"
    assert strict[-1] == 0.0  # open,
    assert strict[2] > tcp[2] + 1e-3  # and back up
    assert tolerant[-1] == 1.0


@pytest.mark.parametrize("task", ["push", "pick_place"])
def test_tolerant_expert_driven_by_its_own_labels_still_succeeds(task: str) -> None:
    """On the expert's own path the tolerant labels lead to success as the strict ones do."""
    from cosmos_policy.sim.experts import label_config

    for embodiment in ("franka", "ur5e"):
        env = make_env(task, embodiment, cameras=())
        try:
            expert = make_expert(env, label_config("tolerant"))
            wins = [bool(_drive_with_labels(env, expert, s).get("is_success"))
                    for s in (1000, 1001)]
            assert wins == [True, True], embodiment
        finally:
            env.close()


def test_an_unknown_label_tolerance_is_refused_by_name() -> None:
    from cosmos_policy.errors import UserError
    from cosmos_policy.sim.experts import label_config

    with pytest.raises(UserError, match="label tolerance"):
        label_config("loose")


def test_the_tolerance_benchmark_finds_the_limits_of_a_grasp_and_a_push() -> None:
    """The trials behind ``TOLERANT`` can fail: a grasp 4 cm beside the cube misses where one
    at its centre lifts, and a push 3 cm off the line is lost under the strict expert's 2 cm
    re-align limit but won under the tolerant one's."""
    from cosmos_policy.sim.experts import TOLERANT

    bench = load_benchmark("expert_tolerance")
    assert bench.grasp_cell("franka", 0.0, 0.0, 2) == 2
    assert bench.grasp_cell("franka", 4.0, 0.3, 2) == 0
    assert bench.push_cell("franka", 3.0, 0.02, 2) == 0
    assert bench.push_cell("franka", 3.0, TOLERANT["push_lateral"], 2) == 2


def test_expert_episodes_drive_on_the_state_feedback_answers() -> None:
    """``expert_episodes(feedback="state")`` (benchmarks/expert_success.py --feedback state)
    drives on the answers from each measured state: other episodes than the plan's, still won;
    an unknown feedback is refused before a scene is built."""
    from cosmos_policy.errors import UnknownNameError

    plan = list(expert_episodes("reach", "franka", 2, seed=1000))
    state = list(expert_episodes("reach", "franka", 2, seed=1000, feedback="state"))
    assert all(r.success for r in plan + state)
    assert [r.steps for r in plan] != [r.steps for r in state]
    with pytest.raises(UnknownNameError, match="feedback"):
        next(expert_episodes("reach", "franka", 1, feedback="velocity"))
