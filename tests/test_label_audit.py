"""benchmarks/label_audit.py: which labels it counts as giving up a grasp or a push."""

from __future__ import annotations

import numpy as np
from benchmark_modules import load_benchmark

audit = load_benchmark("label_audit")


def _grasp_episode(rise_before: bool, n: int = 40, lift_at: int = 25):
    tcp = np.zeros((n, 3))
    tcp[:, 2] = 0.02
    cube = np.zeros((n, 3))
    cube[:, 2] = 0.02
    cube[lift_at:, 2] = 0.06  # lifted from frame 25
    action = np.zeros((n, 10))
    action[:, 2] = tcp[:, 2] + (0.05 if rise_before else 0.0)
    action[:, -1] = 1.0  # closed
    return action, tcp, cube


def test_pick_window_counts_labels_that_rise_before_a_grasp_that_worked() -> None:
    a1, t1, c1 = _grasp_episode(rise_before=True)
    a2, t2, c2 = _grasp_episode(rise_before=False)
    a3, t3, c3 = _grasp_episode(rise_before=True, lift_at=10**6)  # never lifted: not counted
    ep = np.repeat([0, 1, 2], 40)
    row = audit.pick_window(np.concatenate([a1, a2, a3]), np.concatenate([t1, t2, t3]),
                            np.concatenate([c1, c2, c3]), ep)
    assert (row["episodes"], row["lifts"], row["frames"]) == (3, 2, 2 * audit.BEFORE)
    assert row["rise_share"] == 0.5
    assert row["open_share"] == 0.0
    assert row["give_up_share"] == 0.0  # rising closed is lifting, not giving up
    a1[:, -1] = 0.0  # the first episode's labels rise open
    row = audit.pick_window(np.concatenate([a1, a2, a3]), np.concatenate([t1, t2, t3]),
                            np.concatenate([c1, c2, c3]), ep)
    assert row["give_up_share"] == 0.5


def test_push_frames_are_the_steps_that_move_the_cube_towards_the_region() -> None:
    n = 20
    region = np.tile([0.3, 0.0, 0.0], (n, 1))
    cube = np.zeros((n, 3))
    cube[10:, 0] = 0.005 * np.arange(1, n - 9)  # a 5 mm step into every frame from 10
    tcp = np.zeros((n, 3))
    action = np.zeros((n, 10))
    action[:, 2] = np.where(np.arange(n) % 2 == 0, 0.05, 0.0)  # every other label lifts
    row = audit.push_frames(action, tcp, cube, region, np.zeros(n, int))
    assert row["frames"] == n - 10  # frames 9..18 precede a step of the cube
    assert row["rise_share"] == 0.5


def test_a_recording_without_a_task_is_refused_not_guessed_from_its_folder() -> None:
    from pathlib import Path

    import pytest

    from cosmos_policy.errors import UserError

    assert audit.task_of({"task": "push"}, Path("x/pick_place")) == "push"
    with pytest.raises(UserError, match="names no task"):
        audit.task_of({"source": "dagger"}, Path("data-push-franka"))
