"""One resolver for ``--model`` / ``--backend``: every spelling means the same in every
command, mistakes end in the same one line, and the layers above policy/ stay above it."""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import shutil
from pathlib import Path

import pytest

from cosmos_policy import cli
from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.policy import registry
from cosmos_policy.policy.stand_ins import RandomWalkModel

PKG = Path(cli.__file__).resolve().parent

# every command that takes --model: its argv up to the shared options
MODEL_COMMANDS = {
    "eval": ["eval", "--task", "reach"],
    "eval-dynamics": ["eval-dynamics", "--mode", "forward", "--task", "reach"],
    "serve": ["serve"],
    "label": ["label", "IN", "--out", "OUT"],
    "bench": ["bench"],
    "engine build": ["engine", "build"],
    "engine verify": ["engine", "verify", "ENGINE"],
}
BACKEND_COMMANDS = [c for c in MODEL_COMMANDS if c != "bench"]  # bench times fixed backends


def parse(argv: list[str]) -> argparse.Namespace:
    """argv parsed by the command's own parser, as ``cli.main`` builds it."""
    parser = cli.build_parser()
    module = importlib.import_module(cli.COMMANDS[argv[0]][0])
    module.add_arguments(parser._subparsers._group_actions[0].choices[argv[0]])  # noqa: SLF001
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("registry")
    bundle = tiny_bundle(tmp / "bundle")  # domains franka and ur5e
    export_engine(bundle, EngineRequest("ur5e"), tmp / "engine", progress=False)
    return {"bundle": bundle, "engine": tmp / "engine"}


def spellings(folders: dict[str, Path]) -> dict[str, str]:
    """spelling -> the kind every command must read it as."""
    return {"random": "random", "oracle": "oracle", str(folders["bundle"]): "bundle",
            str(folders["engine"]): "engine", "default": "bundle"}


@pytest.mark.parametrize("command", list(MODEL_COMMANDS))
def test_every_spelling_resolves_the_same_in_every_command(command: str,
                                                           folders: dict[str, Path]) -> None:
    for spelling, kind in spellings(folders).items():
        args = parse([*MODEL_COMMANDS[command], "--model", spelling])
        assert args.model == spelling
        assert registry.find_model(args.model).kind == kind


@pytest.mark.parametrize("command", BACKEND_COMMANDS)
def test_every_backend_name_parses_in_every_command(command: str) -> None:
    for name in registry.BACKENDS:
        assert parse([*MODEL_COMMANDS[command], "--backend", name]).backend == name


@pytest.mark.parametrize("command", BACKEND_COMMANDS)
def test_an_unknown_backend_is_the_same_one_line_everywhere(
        command: str, folders: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("OUT", str(tmp_path / "o")) for a in MODEL_COMMANDS[command]]
    assert cli.main([*argv, "--model", str(folders["bundle"]), "--backend", "warp"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "error: --backend warp: not usable for " in err
    assert "; valid: auto, " in err


@pytest.mark.parametrize("command", list(MODEL_COMMANDS))
def test_an_unknown_model_is_the_same_one_line_everywhere(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("OUT", str(tmp_path / "o")) for a in MODEL_COMMANDS[command]]
    assert cli.main([*argv, "--model", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"error: --model {tmp_path / 'nothing'}: no such folder; valid: "
                        "default, random, oracle or a model bundle, engine or Cosmos 3 "
                        "checkpoint folder")
    assert "\n" not in err


def test_a_folder_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a model bundle, engine or Cosmos 3"):
        registry.find_model(tmp_path)
    with pytest.raises(UserError, match="is the random stand-in; this command takes a model "
                       "bundle"):
        registry.find_model("random", kinds=("bundle",))


def test_backends_that_cannot_apply_are_refused_listing_those_that_can() -> None:
    with pytest.raises(UserError, match=r"--backend onnxruntime: .*valid: auto, torch$"):
        registry.check_backend("onnxruntime", "cosmos3")
    with pytest.raises(UserError, match=r"--backend tensorrt: .*a model bundle"):
        registry.check_backend("tensorrt", "bundle")  # native TensorRT needs an engine folder
    assert registry.check_backend("torch", "bundle", runs_on=("torch",)) == "torch"
    with pytest.raises(UserError, match="valid: auto, torch$"):
        registry.check_backend("onnxruntime", "bundle", runs_on=("torch",))


def test_load_model_builds_each_kind(folders: dict[str, Path]) -> None:
    from cosmos_policy.policy.compact import CompactWAM, EngineModel

    assert isinstance(registry.load_model("random", "franka"), RandomWalkModel)
    torch_model = registry.load_model(folders["bundle"], "ur5e", backend="torch", steps=3)
    assert isinstance(torch_model, CompactWAM)
    assert torch_model.steps == 3
    auto_label = registry.load_model(folders["bundle"], "franka", runs_on=("torch",))
    assert isinstance(auto_label, CompactWAM)  # auto means the caller's first backend
    engine = registry.load_model(folders["engine"], "ur5e", backend="onnxruntime-cpu")
    assert isinstance(engine, EngineModel)
    assert engine.manifest.embodiment == "ur5e"


def test_oracle_comes_from_the_caller_never_from_policy() -> None:
    made = []

    def factory(emb: object, seed: int) -> RandomWalkModel:
        made.append((emb, seed))
        return RandomWalkModel(emb, seed=seed)  # type: ignore[arg-type]

    model = registry.load_model("oracle", "so100", seed=4, factories={"oracle": factory})
    assert isinstance(model, RandomWalkModel)
    assert made[0][1] == 4
    with pytest.raises(UserError, match="only `cosmos-policy eval` can run it"):
        registry.load_model("oracle", "franka")


def test_default_embodiment_is_the_single_domain_else_franka(folders: dict[str, Path],
                                                             tmp_path: Path) -> None:
    assert registry.default_embodiment(folders["bundle"]) == "franka"  # two domains
    assert registry.default_embodiment(folders["engine"]) == "ur5e"  # built for ur5e
    one = Path(shutil.copytree(folders["bundle"], tmp_path / "one"))
    table = json.loads((one / "domains.json").read_text())
    (one / "domains.json").write_text(json.dumps([d for d in table if d["name"] == "ur5e"]))
    assert registry.default_embodiment(one) == "ur5e"
    assert registry.default_embodiment("random") == "franka"


def _imports(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
    return names


def test_sim_no_longer_imports_serve() -> None:
    assert not [m for m in _imports(PKG / "sim") if m.startswith("cosmos_policy.serve")]


def test_policy_imports_nothing_above_it() -> None:
    above = ("cosmos_policy.sim", "cosmos_policy.serve", "cosmos_policy.label",
             "cosmos_policy.commands", "cosmos_policy.cli", "cosmos_policy.runtime")
    assert not [m for m in _imports(PKG / "policy") if m.startswith(above)]


def test_serve_models_is_gone() -> None:
    assert not (PKG / "serve" / "models.py").exists()
    assert importlib.util.find_spec("cosmos_policy.serve.models") is None
