"""`cosmos-policy record` end to end: expert episodes into a readable LeRobot v3 dataset."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.cli import main
from cosmos_policy.data.lerobot import open_dataset
from cosmos_policy.embodiment import load_embodiment


def test_record_cli_writes_a_readable_dataset(tmp_path, capsys) -> None:
    out = tmp_path / "demos"
    rc = main(["record", str(out), "--task", "reach", "--embodiment", "ur5e",
               "--episodes", "2", "--image-size", "32"])
    assert rc == 0
    ds = open_dataset(out)
    emb = load_embodiment("ur5e")
    assert ds.num_episodes == 2
    assert ds.info["robot_type"] == "ur5e"
    assert ds.fps == emb.control_rate_hz
    ep = ds.episode(0)
    assert ep["observation.images.front"].shape[1:] == (32, 32, 3)
    assert ep["observation.state"].shape[1] == emb.state_dim
    assert ep["action"].shape[1] == 10
    assert "cube" in ep["task"]
    # The recorded actions are reachable end-effector targets near the recorded poses.
    assert np.abs(ep["action"][:, :3] - ep["observation.ee_pose"][:, :3]).max() < 0.2
    # Object state: the named cube first, then red, green, blue, then the region and the plate;
    # a reach ends at the named one.
    objects = ep["observation.environment_state"]
    assert objects.shape == (len(ep["action"]), 18)
    # The fixtures stand still on the table, and each episode draws its own layout.
    np.testing.assert_allclose(objects[:, 12:] - objects[0, 12:], 0.0, atol=1e-6)
    assert np.all(np.abs(objects[:, [14, 17]]) < 0.05)
    assert not np.allclose(objects[0, 12:], ds.episode(1)["observation.environment_state"][0, 12:])
    color = ep["task"].split()[-2]
    k = ("red", "green", "blue").index(color)
    np.testing.assert_array_equal(objects[:, :3], objects[:, 3 + 3 * k: 6 + 3 * k])
    assert np.linalg.norm(ep["observation.ee_pose"][-1, :3] - objects[-1, :3]) < 0.05
    assert "wrote 2 episodes" in capsys.readouterr().out
    provenance = ds.info["cosmos_policy"]
    assert provenance["task"] == "reach"
    assert len(provenance["seeds"]) == 2
    np.testing.assert_array_equal(ds.frames(["episode_index"])["episode_index"],
                                  np.repeat([0, 1], [len(ds.episode(0)["action"]),
                                                     len(ds.episode(1)["action"])]))


def test_record_refuses_to_overwrite(tmp_path, capsys) -> None:
    out = tmp_path / "demos"
    out.mkdir()
    assert main(["record", str(out), "--task", "reach", "--episodes", "1"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_record_refuses_bad_arguments_before_simulating(tmp_path, capsys) -> None:
    out = tmp_path / "demos"
    assert main(["record", str(out), "--task", "fly", "--episodes", "1"]) == 2
    assert "unknown task 'fly'" in capsys.readouterr().err
    assert main(["record", str(out), "--task", "reach", "--image-size", "33"]) == 2
    assert "--image-size" in capsys.readouterr().err
    assert main(["record", str(out), "--task", "reach", "--episodes", "0"]) == 2
    assert not out.exists()


def test_drift_noise_moves_only_the_position_with_the_stated_spread() -> None:
    from cosmos_policy.commands.record import _DriftNoise

    action = np.arange(10, dtype=np.float32)
    assert np.array_equal(_DriftNoise(0.0, 1).apply(action), action)
    noise = _DriftNoise(0.02, 1)
    offsets = np.stack([noise.apply(action) - action for _ in range(20000)])
    assert np.all(offsets[:, 3:] == 0)  # rotation and gripper untouched
    assert np.allclose(offsets[:, :3].std(0), 0.02, rtol=0.15)
    lag1 = np.corrcoef(offsets[1:, 0], offsets[:-1, 0])[0, 1]
    assert 0.85 < lag1 < 0.95  # a slow drift, not white noise
    again = _DriftNoise(0.02, 1)
    assert np.array_equal(again.apply(action), offsets[0] + action)  # seeded


def test_record_with_action_noise_keeps_the_expert_actions(tmp_path, capsys) -> None:
    out = tmp_path / "noisy"
    assert main(["record", str(out), "--task", "reach", "--embodiment", "franka",
                 "--episodes", "1", "--image-size", "32", "--action-noise", "0.03"]) == 0
    ds = open_dataset(out)
    assert ds.info["cosmos_policy"]["action_noise_m"] == 0.03
    ep = ds.episode(0)
    # The executed targets drifted off the recorded ones: the tcp lags them by more than the
    # controller alone would (this episode without noise: 0.011 m mean per axis; with: 0.029).
    lag = np.abs(ep["action"][:-1, :3] - ep["observation.ee_pose"][1:, :3]).mean()
    assert lag > 0.02
    capsys.readouterr()
    assert main(["record", str(tmp_path / "x"), "--task", "reach", "--action-noise", "0.5"]) == 2
    assert "--action-noise" in capsys.readouterr().err


def test_hold_steps_keep_the_expert_going_past_success(tmp_path, capsys) -> None:
    from cosmos_policy.sim.suite import load_suite

    runs = {}
    for hold in (0, 12):
        out = tmp_path / f"hold{hold}"
        assert main(["record", str(out), "--task", "reach", "--embodiment", "franka",
                     "--episodes", "1", "--seed", "7", "--image-size", "32",
                     "--hold-steps", str(hold)]) == 0
        ds = open_dataset(out)
        assert ds.info["cosmos_policy"]["hold_steps"] == hold
        runs[hold] = ds.episode(0)
    plain, held = runs[0], runs[12]
    n = len(plain["action"])
    assert len(held["action"]) == n + 12
    np.testing.assert_array_equal(held["observation.state"][:n], plain["observation.state"])
    # Without hold the demonstration ends where the success distance is first crossed; with
    # it, the expert carries on to the cube centre.
    dist = lambda ep: np.linalg.norm(ep["observation.ee_pose"][:, :3]  # noqa: E731
                                     - ep["observation.environment_state"][:, :3], axis=1)
    limit = load_suite().tasks["reach"].success_distance
    assert dist(plain)[-1] > 0.5 * limit
    assert dist(held)[-1] < 0.5 * dist(plain)[-1]
    capsys.readouterr()
    assert main(["record", str(tmp_path / "x"), "--task", "reach", "--hold-steps", "-1"]) == 2
    assert "--hold-steps" in capsys.readouterr().err


def test_record_drops_an_episode_the_simulator_aborts(tmp_path, monkeypatch, capsys) -> None:
    """A MuJoCo FatalError (e.g. too many contacts for a geom pair) costs that episode, not
    the recording: the next seed is tried and the aborted seed is kept in the provenance."""
    import mujoco

    from cosmos_policy.commands.record import record
    from cosmos_policy.sim.env import TabletopEnv

    step = TabletopEnv.step
    calls = {"n": 0}

    def flaky(self, action):
        calls["n"] += 1
        if calls["n"] == 5:  # inside the first episode
            raise mujoco.FatalError("mj_narrowphase: collision function returned 9 contacts")
        return step(self, action)

    monkeypatch.setattr(TabletopEnv, "step", flaky)
    out = tmp_path / "demos"
    result = record(out, "reach", "franka", 2, seed=0, image_size=16, progress=False)
    assert result == {"kept": 2, "dropped": 1, "sim_errors": 1}
    ds = open_dataset(out)
    assert ds.num_episodes == 2
    prov = ds.info["cosmos_policy"]
    assert prov["seeds"] == [1, 2]
    assert len(prov["sim_errors"]) == 1
    assert prov["sim_errors"][0].startswith("seed 0:")


def test_record_renders_offscreen_without_a_display_or_mujoco_gl(tmp_path) -> None:
    """A fresh shell (no MUJOCO_GL, no DISPLAY) must record: the command imports mujoco before
    the sim package, which used to leave MuJoCo on GLFW and abort at the first render."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY",
                                                            "PYOPENGL_PLATFORM")}
    out = tmp_path / "ds"
    run = subprocess.run([sys.executable, "-m", "cosmos_policy.cli", "record", str(out),
                          "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                          "--seed", "1000", "--image-size", "32"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "meta" / "info.json").is_file()


def test_record_with_state_feedback_records_the_experts_answers_from_each_state(tmp_path,
                                                                                capsys) -> None:
    """``--feedback state``: every recorded action is the state-feedback expert's answer from
    that frame's state, not the planning expert's command."""
    from cosmos_policy.sim import make_env, make_expert
    from cosmos_policy.sim.experts import ExpertConfig

    eps = {}
    for feedback in ("plan", "state"):
        out = tmp_path / feedback
        assert main(["record", str(out), "--task", "pick_place", "--embodiment", "franka",
                     "--episodes", "1", "--seed", "1003", "--image-size", "32",
                     "--feedback", feedback]) == 0
        ds = open_dataset(out)
        assert ds.info["cosmos_policy"]["feedback"] == feedback
        eps[feedback] = ds.episode(0)
    plan, state = eps["plan"], eps["state"]
    np.testing.assert_array_equal(plan["observation.state"][0], state["observation.state"][0])
    env = make_env("pick_place", "franka", cameras=())
    try:
        obs, _ = env.reset(seed=1003)
        answer = make_expert(env, ExpertConfig(feedback="state")).label(obs)
    finally:
        env.close()
    np.testing.assert_allclose(state["action"][0], answer, atol=1e-5)
    assert np.abs(plan["action"][0] - answer).max() > 1e-3  # the plan starts from rest
    from cosmos_policy.commands.record import record
    from cosmos_policy.errors import UserError

    with pytest.raises(UserError, match="--feedback"):
        record(tmp_path / "x", "reach", "franka", 1, feedback="bogus")
    assert not (tmp_path / "x.partial").exists()
