"""Videos and the rollout/demo commands."""

from __future__ import annotations

import json

import av
import numpy as np

from cosmos_policy.cli import main
from cosmos_policy.sim.video import write_video


def test_write_video_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frames = [np.full((30, 45, 3), v, np.uint8) for v in rng.integers(0, 255, size=7)]
    path = write_video(tmp_path / "v.mp4", frames, fps=10)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 7
    assert decoded[0].shape == (30 + 0, 46, 3)  # odd width padded by one for yuv420p
    for got, want in zip(decoded, frames, strict=True):
        assert abs(float(got[:, :45].mean()) - float(want.mean())) < 6


def test_rollout_command_writes_video_and_summary(tmp_path, capsys) -> None:
    rc = main(["rollout", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
               "--seed", "3", "--image-size", "32", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "rollout.json").read_text())
    assert summary["successes"] == 1
    video = tmp_path / "reach_franka_seed3.mp4"
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert frames[0].shape == (32, 64, 3)  # front and wrist side by side
    assert len(frames) == summary["episodes_detail"][0]["steps"] + 1
    assert "success 1/1" in capsys.readouterr().out


def test_rollout_command_rejects_an_unknown_task(tmp_path, capsys) -> None:
    rc = main(["rollout", "--task", "stack", "--out", str(tmp_path)])
    assert rc == 2
    assert "valid: pick_place, push, reach" in capsys.readouterr().err
