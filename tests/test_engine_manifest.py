"""Engines refuse, with one clear line, what does not match: hashes, embodiment, shapes,
precision, backend; backend selection; the engine CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from cosmos_policy.engine.backends import (
    BACKENDS,
    OnnxRuntimeBackend,
    available_backends,
    make_backend,
    select_backend,
)
from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest, read_manifest
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UnknownNameError, UserError
from cosmos_policy.policy.compact import EngineModel


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("engine")
    bundle = tiny_bundle(tmp / "bundle")
    export_engine(bundle, EngineRequest("franka"), tmp / "engine", progress=False)
    return bundle, tmp / "engine"


@pytest.fixture
def engine_copy(built: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(built[1], tmp_path / "engine"))


def test_tampered_file_is_refused(engine_copy: Path) -> None:
    with (engine_copy / "denoise.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(UserError, match=r"denoise.onnx does not match its sha256.*rebuild"):
        read_manifest(engine_copy)
    with pytest.raises(UserError, match="does not match its sha256"):
        EngineModel(engine_copy, "onnxruntime-cpu")
    (engine_copy / "denoise.onnx").unlink()
    with pytest.raises(UserError, match="denoise.onnx is missing"):
        read_manifest(engine_copy)


def test_wrong_embodiment_shapes_or_precision_are_refused(built: tuple[Path, Path]) -> None:
    engine = built[1]
    read_manifest(engine, EngineRequest("franka", cameras=("front", "wrist"), chunk=4))
    with pytest.raises(UserError, match="built for embodiment 'franka', not 'ur5e'"):
        EngineModel(engine, "onnxruntime-cpu", request=EngineRequest("ur5e"))
    with pytest.raises(UserError, match="static batch 1, the request needs 4"):
        read_manifest(engine, EngineRequest("franka", batch=4))
    with pytest.raises(UserError, match=r"takes cameras \['front', 'wrist'\]"):
        read_manifest(engine, EngineRequest("franka", cameras=("front",)))
    with pytest.raises(UserError, match="chunks of 4 actions, the request needs 8"):
        read_manifest(engine, EngineRequest("franka", chunk=8))
    with pytest.raises(UserError, match="is fp32, the request is fp16"):
        read_manifest(engine, EngineRequest("franka", precision="fp16"))
    with pytest.raises(UserError, match="no TensorRT plans"):
        read_manifest(engine, EngineRequest("franka", backend="tensorrt"))


def test_export_refuses_requests_the_model_cannot_serve(built: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    bundle = built[0]
    with pytest.raises(UserError, match="not a domain of this model"):
        export_engine(bundle, EngineRequest("spot"), tmp_path / "a", progress=False)
    with pytest.raises(UserError, match="pass --cameras front,wrist"):
        export_engine(bundle, EngineRequest("franka", cameras=("wrist", "front")),
                      tmp_path / "b", progress=False)
    with pytest.raises(UserError, match="needs the tensorrt backend"):
        export_engine(bundle, EngineRequest("franka", precision="fp8"), tmp_path / "c",
                      progress=False)
    with pytest.raises(UserError, match="unknown precision"):
        EngineRequest("franka", precision="int4")


def test_second_domain_exports_its_own_projector(built: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    m = export_engine(built[0], EngineRequest("ur5e"), tmp_path / "ur5e", progress=False)
    assert m.domain_index == 1
    assert m.domain.state_dim == 7
    assert m.io("context").inputs[3].shape == (1, 8)  # padded to max_state_dim


def test_missing_backends_are_refused_clearly(built: tuple[Path, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    engine = built[1]
    m = read_manifest(engine)
    if "tensorrt" not in available_backends():
        with pytest.raises(UserError, match=r"pip install 'cosmos-policy\[tensorrt\]'"):
            EngineModel(engine, "tensorrt")
    with pytest.raises(UnknownNameError, match="valid: .*onnxruntime-cpu"):
        select_backend("openvino", m)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    with pytest.raises(UserError, match="onnxruntime is not installed"):
        make_backend("onnxruntime-cpu", engine, m)


def test_backend_selection_here(built: tuple[Path, Path]) -> None:
    m = read_manifest(built[1])
    here = available_backends()
    assert {"torch", "onnxruntime", "onnxruntime-cpu"} <= set(here)
    assert set(here) <= set(BACKENDS)
    assert select_backend("auto", m) == "onnxruntime"  # no plans in an onnxruntime engine
    assert OnnxRuntimeBackend("auto").providers()[-1] == "CPUExecutionProvider"
    backend = make_backend("onnxruntime-cpu", built[1], m)
    assert backend.active == ["CPUExecutionProvider"]
    if "onnxruntime-cuda" not in here:
        with pytest.raises(UserError, match="has no CUDAExecutionProvider"):
            OnnxRuntimeBackend("cuda").providers()
    torch_backend = make_backend("torch", built[1], m)
    assert torch_backend.name == "torch"


def test_torch_reference_refuses_a_changed_source(built: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(built[0], tmp_path / "bundle"))
    m = export_engine(bundle, EngineRequest("franka"), tmp_path / "e", progress=False)
    tiny_bundle(bundle, seed=5)  # retrained in place
    with pytest.raises(UserError, match="changed since engine"):
        make_backend("torch", tmp_path / "e", m)


def test_engine_cli_build_info_verify(built: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from cosmos_policy.cli import main

    out = tmp_path / "cli_engine"
    assert main(["engine", "build", "--model", str(built[0]), "--embodiment", "franka",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "policy chunk" in text
    assert "engine written to" in text
    assert json.loads((out / "manifest.json").read_text())["verification"]["passed"] is True
    assert main(["engine", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "graph       denoise" in info
    assert "verified    passed" in info
    assert main(["engine", "verify", str(out), "--no-sim", "--samples", "1",
                 "--json", str(tmp_path / "v.json")]) == 0
    assert json.loads((tmp_path / "v.json").read_text())["passed"] is True
    # without --embodiment: the model's single domain, else franka (this bundle: franka, ur5e)
    assert main(["engine", "build", "--model", str(built[0]), "--out", str(tmp_path / "x"),
                 "--no-verify"]) == 0
    assert json.loads((tmp_path / "x" / "manifest.json").read_text())["embodiment"] == "franka"
    capsys.readouterr()
    assert main(["engine", "info", str(tmp_path / "nothing")]) == 2
    assert "is not an engine folder" in capsys.readouterr().err
