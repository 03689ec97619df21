"""`cosmos-policy eval` on the external suites: the same runtime, report and safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cosmos_policy.cli import main
from cosmos_policy.errors import UserError
from cosmos_policy.sim.evaluate import EvalConfig, eval_embodiment, make_evaluator
from cosmos_policy.spec import ActionChunk


def _eval(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "report"
    rc = main(["eval", "--model", "oracle", "--lockstep", "--image-size", "32",
               "--out", str(out), *args])
    assert rc == 0
    return json.loads((out / "eval.json").read_text())


def test_unknown_task_lists_the_external_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--task", "fetch/Teleport", "--model", "oracle"]) != 0
    err = capsys.readouterr().err
    for name in ("fetch/Push", "robosuite/Lift", "reach"):
        assert name in err


def test_external_tasks_name_their_robot_and_model() -> None:
    with pytest.raises(UserError, match="--embodiment fetch"):
        eval_embodiment("fetch/Push", "franka")
    emb = eval_embodiment("robosuite/Lift", "franka")
    assert (emb.n_joints, emb.action_dim, emb.command_rate_hz) == (9, 10, 20)
    with pytest.raises(UserError, match="--model oracle"):
        make_evaluator(EvalConfig(task="robosuite/Lift", model="default", lockstep=True))


@pytest.mark.external
def test_fetch_reach_oracle_through_eval(tmp_path: Path) -> None:
    pytest.importorskip("gymnasium_robotics", reason="the sim extra is not installed")
    report = _eval(tmp_path, "--task", "fetch/Reach", "--embodiment", "fetch",
                   "--episodes", "2", "--videos", "1", "--max-steps", "20")
    assert report["per_task"]["fetch/Reach/fetch"]["successes"] == 2
    assert report["safety"]["limits"]["ok"]
    assert report["telemetry"]["inference"]["p50_ms"] == pytest.approx(50.0)
    assert all(e["steps"] < 20 for e in report["per_episode"])
    assert (tmp_path / "report" / "videos" / "seed0.mp4").stat().st_size > 1000


@pytest.mark.external
def test_robosuite_lift_runs_a_short_episode_through_eval(tmp_path: Path) -> None:
    pytest.importorskip("robosuite", reason="the sim extra is not installed")
    report = _eval(tmp_path, "--task", "robosuite/Lift", "--embodiment", "franka",
                   "--episodes", "1", "--videos", "0", "--max-steps", "6")
    (episode,) = report["per_episode"]
    assert (episode["steps"], episode["commands"]) == (6, 6)
    assert episode["chunks"] >= 2
    assert episode["prompt"] == "pick up the cube and lift it"
    assert report["safety"]["limits"]["ok"]


class _Dive:
    """Asks for the tool 30 cm below where it is: through the table."""

    def __init__(self, dt: float) -> None:
        self.dt = dt

    def reset(self) -> None:
        pass

    def policy(self, obs) -> ActionChunk:
        target = np.asarray(obs.state, np.float32).copy()
        target[2] -= 0.3
        return ActionChunk(np.tile(target, (8, 1)), obs.timestamp, self.dt)


@pytest.mark.external
def test_the_safety_layer_keeps_the_fetch_tool_above_the_table() -> None:
    pytest.importorskip("gymnasium_robotics", reason="the sim extra is not installed")
    from cosmos_policy.sim.eval_models import TimedModel

    ev = make_evaluator(EvalConfig(task="fetch/Push", embodiment="fetch", model="oracle",
                                   lockstep=True, image_size=32, max_steps=30))
    try:
        ev.model = TimedModel(_Dive(ev.dt))
        run = ev.run_episode(0)
    finally:
        ev.close()
    z = np.array(run.log.commanded)[:, 2]
    floor = ev.emb.position_limits[2, 0]
    assert z.min() >= floor - 1e-9
    assert z.min() < floor + 0.01  # it did go down to the floor
    assert run.log.reasons.get("position_limit", 0) > 0
