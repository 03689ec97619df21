"""benchmarks/sampler_sweep.py: each setting reaches the evaluator, on validation seeds only,
and a sweep killed between cells resumes without running them again."""

from __future__ import annotations

import json

import pytest
from benchmark_modules import load_benchmark

from cosmos_policy.engine.testing import tiny_bundle


@pytest.fixture(scope="module")
def sweep():
    return load_benchmark("sampler_sweep")


def test_each_setting_reaches_the_evaluator_and_resume_skips_done_cells(sweep, tmp_path,
                                                                         monkeypatch):
    import cosmos_policy.sim.eval_runner as runner

    seen = []

    class Run:
        def __init__(self, success: bool) -> None:
            self.success = success

    def fake_run_episodes(config, workers=1, progress=True):
        seen.append(config)
        return [Run(i % 2 == 0) for i in range(config.episodes)]

    monkeypatch.setattr(runner, "run_episodes", fake_run_episodes)
    out = tmp_path / "sweep.json"
    args = ["--model", "m", "--tasks", "push", "--embodiments", "franka,ur5e", "--episodes",
            "3", "--settings", "rtc:1:10", "ensemble:0.5:4:2.5", "--out", str(out)]
    sweep.main(args)
    got = {(c.embodiment, c.blending, c.noise_scale, c.flow_steps, c.guidance) for c in seen}
    assert got == {("franka", "rtc", 1.0, 10, 1.0), ("ur5e", "rtc", 1.0, 10, 1.0),
                   ("franka", "ensemble", 0.5, 4, 2.5), ("ur5e", "ensemble", 0.5, 4, 2.5)}
    assert all(c.lockstep and c.seed == 0 and c.episodes == 3 and c.task == "push"
               for c in seen)
    cells = json.loads(out.read_text())["cells"]
    assert [c["success"] for c in cells] == [2, 2, 2, 2]
    assert {c["setting"] for c in cells} == {"rtc:1:10", "ensemble:0.5:4:2.5"}
    assert cells[0]["ci95"][0] < 2 / 3 < cells[0]["ci95"][1]

    # a sweep killed after its first cell: --resume runs the other three only
    kept = json.loads(out.read_text())
    kept["cells"] = kept["cells"][:1]
    out.write_text(json.dumps(kept))
    seen.clear()
    sweep.main([*args, "--resume"])
    assert len(seen) == 3
    assert len(json.loads(out.read_text())["cells"]) == 4
    with pytest.raises(SystemExit, match="holds model 'm'"):
        sweep.main([*args[2:], "--model", "other", "--resume"])


@pytest.mark.parametrize(("bad", "message"), [
    (["--settings", "rtc:1"], "BLENDING:NOISE_SCALE:STEPS"),
    (["--settings", "fast:1:10"], "blending must be one of"),
    (["--settings", "rtc:2:10"], "noise scale in"),
    (["--settings", "rtc:x:10"], "could not convert"),
    (["--settings", "rtc:1:10:-1"], "guidance in"),
    (["--settings", "rtc:1:10:2:5"], "STEPS\\[:GUIDANCE\\]"),
    (["--episodes", "5000"], "leaves the validation split"),
])
def test_bad_settings_are_refused_by_name(sweep, bad, message):
    with pytest.raises(SystemExit, match=message):
        sweep.main(bad)


def test_a_real_cell_on_a_tiny_model(sweep, tmp_path):
    bundle = tiny_bundle(tmp_path / "bundle")
    out = tmp_path / "s.json"
    sweep.main(["--model", str(bundle), "--tasks", "reach", "--embodiments", "franka",
                "--episodes", "1", "--workers", "1", "--max-steps", "4",
                "--settings", "rtc:1:2", "--out", str(out)])
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["setting"] == "rtc:1:2"
    assert cell["episodes"] == 1
    assert cell["success"] in (0, 1)
    assert cell["seconds"] > 0
