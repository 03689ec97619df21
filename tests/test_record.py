"""`cosmos-policy record` end to end: expert episodes into a readable LeRobot v3 dataset."""

from __future__ import annotations

import numpy as np

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
    # Object state: the named cube first, then red, green, blue; a reach ends at the named one.
    objects = ep["observation.environment_state"]
    assert objects.shape == (len(ep["action"]), 12)
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
