"""The shared CLI vocabulary: one spelling per option, old spellings still working, serve
starting disabled, and user mistakes ending in one line before any work is done."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cosmos_policy import cli


def parse(argv: list[str]) -> argparse.Namespace:
    parser = cli.build_parser()
    module = importlib.import_module(cli.COMMANDS[argv[0]][0])
    module.add_arguments(parser._subparsers._group_actions[0].choices[argv[0]])  # noqa: SLF001
    return parser.parse_args(argv)


def one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert "Traceback" not in err
    assert err.startswith(f"cosmos-policy {command}: error: ")
    return err


def test_engine_build_of_a_missing_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["engine", "build", "--model", "/nonexistent"]) == 2
    assert "--model /nonexistent: no such folder" in one_line_error(capsys, "engine")


@pytest.mark.parametrize(("model", "says"), [("random", "this command takes a model bundle"),
                                             ("oracle", "the oracle only acts")])
def test_eval_dynamics_refuses_models_that_only_act(model: str, says: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval-dynamics", "--mode", "forward", "--task", "reach", "--model", model]
    assert cli.main(argv) == 2
    assert says in one_line_error(capsys, "eval-dynamics")


def test_bench_of_a_missing_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--model", "/nonexistent"]) == 2
    assert "--model /nonexistent: no such folder" in one_line_error(capsys, "bench")


def test_eval_out_on_a_file_fails_before_any_episode(tmp_path: Path, monkeypatch: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import cosmos_policy.sim.eval_runner as runner

    def no_episodes(*_a: object, **_k: object) -> None:
        raise AssertionError("episodes ran before --out was checked")

    monkeypatch.setattr(runner, "run_episodes", no_episodes)
    existing = tmp_path / "eval.json"
    existing.write_text("{}")
    assert cli.main(["eval", "--task", "reach", "--model", "oracle", "--episodes", "1",
                     "--out", str(existing)]) == 2
    assert f"--out {existing}: {existing} is a file" in one_line_error(capsys, "eval")
    assert cli.main(["eval", "--task", "reach", "--model", "oracle", "--episodes", "1",
                     "--out", str(existing / "sub")]) == 2
    assert "is a file" in one_line_error(capsys, "eval")


def test_demo_reports_its_own_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--episodes", "0"]) == 2
    assert "--episodes must be at least 1" in one_line_error(capsys, "demo")


def test_demo_help_names_the_model_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("demo"))
    assert "closed loop" in line
    assert "expert videos" not in line


def test_embodiment_is_optional_with_one_default_everywhere() -> None:
    from cosmos_policy.commands import options

    for argv in (["eval", "--task", "reach"], ["serve"], ["bench"], ["engine", "build"],
                 ["label", "IN", "--out", "O"], ["record", "--out", "O", "--task", "reach"],
                 ["rollout", "--task", "reach", "--out", "O"], ["sim-robot"],
                 ["eval-dynamics", "--mode", "forward", "--task", "reach"]):
        args = parse(argv)
        assert args.embodiment is None, argv
        assert options.embodiment(args) == "franka", argv  # the shipped model: franka + ur5e


def test_steps_means_euler_steps_and_old_spellings_still_work(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(["eval", "--task", "reach", "--steps", "4"]).steps == 4
    assert parse(["eval", "--task", "reach", "--flow-steps", "5"]).steps == 5
    assert "--flow-steps is now spelled --steps" in capsys.readouterr().err
    for argv in (["bench"], ["engine", "build"], ["label", "IN", "--out", "O"]):
        assert parse([*argv, "--steps", "3"]).steps == 3
    train = parse(["train", "D", "--out", "O", "--train-steps", "7", "--model-image-size", "32"])
    assert (train.train_steps, train.model_image_size) == (7, 32)
    old = parse(["train", "D", "--out", "O", "--steps", "9", "--image-size", "48"])
    assert (old.train_steps, old.model_image_size) == (9, 48)
    assert not hasattr(old, "steps")


def test_out_is_the_one_output_spelling() -> None:
    from cosmos_policy.commands import options

    assert parse(["bench", "--out", "r.json"]).out == Path("r.json")
    assert parse(["bench", "--json", "r.json"]).out == Path("r.json")
    assert parse(["engine", "verify", "E", "--json", "v.json"]).out == Path("v.json")
    for command in ("record", "label"):
        extra = ["--task", "reach"] if command == "record" else []
        new = parse([command, *(["IN"] if command == "label" else []), "--out", "D", *extra])
        old = parse([command, *(["IN"] if command == "label" else []), "D", *extra])
        assert options.one_out(new) == options.one_out(old) == Path("D")


def test_eval_table_survives_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    from cosmos_policy.sim.report import print_table

    report = {"telemetry": {"model_wall": {"p50_ms": 12.34, "p99_ms": 56.78},
                            "tick": {"p99_ms": 1.5}},
              "per_task": {"reach-franka": {"episodes": 5, "success_rate": 0.8,
                                            "ci95": [0.57, 1.0]}},
              "deadline_misses": 0, "dropped_frames": 3}
    print_table(report)
    out = capsys.readouterr().out
    for cell in ("success", "model ms p50/p99", "[0.57, 1.00]", "12.3/56.8", "80%", "dropped"):
        assert cell in out
    assert "…" not in out


class _FakeServer:
    seen: dict[str, Any] = {}

    def __init__(self, emb: object, model: object, tconfig: object, config: Any,
                 projector: object = None) -> None:
        _FakeServer.seen["start_enabled"] = config.start_enabled
        self.transport = SimpleNamespace(topics=[])
        self.core = None

    def start(self) -> _FakeServer:
        return self

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("flags", "enabled"), [([], False), (["--enabled"], True)])
def test_serve_starts_disabled_like_the_ros_node(flags: list[str], enabled: bool,
                                                 monkeypatch: Any) -> None:
    import cosmos_policy.serve.dds_server as dds

    monkeypatch.setattr(dds, "DdsPolicyServer", _FakeServer)
    assert cli.main(["serve", "--model", "random", "--duration", "0.01", *flags]) == 0
    assert _FakeServer.seen["start_enabled"] is enabled


def test_demo_evaluates_on_the_test_split(tmp_path: Path, monkeypatch: Any) -> None:
    """The demo's figures come from seeds nothing was chosen on (the suite's test split)."""
    from cosmos_policy.commands import demo
    from cosmos_policy.commands import eval as eval_command
    from cosmos_policy.sim.suite import load_suite

    seen: list[Any] = []
    monkeypatch.setattr(eval_command, "run", lambda args: seen.append(args) or 0)
    assert demo.run_model_eval(tmp_path, 128, 3) == 0
    assert seen[0].split == "test"
    test = load_suite().split("test")
    assert load_suite().seed_report(test.first, 3).split == "test"
