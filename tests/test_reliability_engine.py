"""``serve`` verifies an engine folder before use (issue #25): hashes and a passing parity
record, or one line naming ``cosmos-policy engine verify``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cosmos_policy.cli import main
from cosmos_policy.engine.export import export_engine
from cosmos_policy.engine.manifest import EngineRequest
from cosmos_policy.engine.testing import tiny_bundle

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def unverified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An engine exported without the parity check (what `engine build --no-verify` makes)."""
    tmp = tmp_path_factory.mktemp("engine")
    bundle = tiny_bundle(tmp / "bundle")
    export_engine(bundle, EngineRequest("franka"), tmp / "engine", progress=False)
    return tmp / "engine"


def _serve(engine: Path) -> list[str]:
    return ["serve", "--transport", "websocket", "--port", "0", "--model", str(engine),
            "--embodiment", "franka", "--duration", "0.1"]


def test_serve_refuses_an_engine_never_verified_until_engine_verify_records_it(
        unverified: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Path(shutil.copytree(unverified, tmp_path / "engine"))
    assert main(_serve(engine)) == 2
    err = capsys.readouterr().err
    assert "no parity record" in err
    assert f"cosmos-policy engine verify {engine}" in err
    assert len(err.strip().splitlines()) == 1
    # the named fix works: verify records a passing result, then serve starts
    assert main(["engine", "verify", str(engine), "--no-sim", "--samples", "1"]) == 0
    assert json.loads((engine / "manifest.json").read_text())["verification"]["passed"] is True
    capsys.readouterr()
    assert main(_serve(engine)) == 0
    assert "serving franka on ws://" in capsys.readouterr().out


def test_serve_refuses_a_tampered_or_failed_engine(unverified: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    engine = Path(shutil.copytree(unverified, tmp_path / "engine"))
    manifest = json.loads((engine / "manifest.json").read_text())
    manifest["verification"] = {"passed": True, "worst": None}
    (engine / "manifest.json").write_text(json.dumps(manifest))
    with (engine / "denoise.onnx").open("ab") as f:  # tampered after it was verified
        f.write(b"\0")
    assert main(_serve(engine)) == 2
    err = capsys.readouterr().err
    assert "denoise.onnx does not match its sha256" in err
    assert "cosmos-policy engine verify" in err
    # a recorded failure is refused too
    shutil.rmtree(engine)
    engine = Path(shutil.copytree(unverified, tmp_path / "engine"))
    manifest["verification"] = {"passed": False,
                                "worst": {"check": "denoise.v[0]", "rel_err": 0.3}}
    (engine / "manifest.json").write_text(json.dumps(manifest))
    assert main(_serve(engine)) == 2
    assert "failed its parity check" in capsys.readouterr().err
