"""``--model PATH`` with a Cosmos 3 folder: serve, eval and label load it through the adapter.

A tiny random checkpoint is built in the test (nothing from a hub); these check the dispatch
and the labelling adapter, not the quality of a random model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos3_omni",
                    reason="diffusers >= 0.42 with Cosmos3OmniPipeline is not installed")

from cosmos_policy.cli import main  # noqa: E402
from cosmos_policy.data import open_dataset  # noqa: E402
from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.errors import UserError  # noqa: E402
from cosmos_policy.label import testing as T  # noqa: E402
from cosmos_policy.label.pipeline import label  # noqa: E402
from cosmos_policy.models.cosmos3 import Cosmos3WAM  # noqa: E402
from cosmos_policy.models.cosmos3_testing import tiny_checkpoint  # noqa: E402
from cosmos_policy.models.cosmos3_use import Cosmos3Options, is_cosmos3  # noqa: E402
from cosmos_policy.policy.registry import load_model  # noqa: E402

TINY = Cosmos3Options(dtype="float32", device="cpu", chunk_size=4, resolution_tier=256, steps=2,
                      guidance_scale=1.0)
CLI_TINY = ["--cosmos3-dtype", "float32", "--cosmos3-device", "cpu", "--cosmos3-chunk", "4",
            "--cosmos3-tier", "256", "--cosmos3-steps", "2", "--cosmos3-guidance", "1"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # robomind-franka: the domain embodiments/franka/embodiment.yaml names.
    return tiny_checkpoint(tmp_path_factory.mktemp("cosmos3") / "tiny", domain="robomind-franka")


def test_folders_are_told_apart(checkpoint: Path, tmp_path: Path) -> None:
    assert is_cosmos3(str(checkpoint))
    assert not is_cosmos3("default")
    assert not is_cosmos3(None)
    assert not is_cosmos3(tmp_path)


def test_serve_and_eval_load_a_cosmos3_folder_with_the_embodiment_domain(checkpoint: Path,
                                                                          ) -> None:
    emb = load_embodiment("franka")
    served = load_model(str(checkpoint), emb, cosmos3=TINY)
    assert isinstance(served, Cosmos3WAM)
    assert served.domain == "robomind-franka"
    assert served.chunk_size == 4
    evaluated = load_model(str(checkpoint), "franka", backend="auto", cosmos3=TINY)
    assert isinstance(evaluated, Cosmos3WAM)
    assert evaluated.steps == 2


def test_an_embodiment_without_a_domain_is_refused_with_the_fix(checkpoint: Path) -> None:
    with pytest.raises(UserError, match="no Cosmos 3 domain.*--cosmos3-domain"):
        load_model(str(checkpoint), load_embodiment("so100"), cosmos3=TINY)
    with pytest.raises(UserError, match="not a Cosmos 3 action domain"):
        load_model(str(checkpoint), load_embodiment("franka"),
                   cosmos3=Cosmos3Options(domain="franka", dtype="float32", device="cpu"))


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(UserError, match="--cosmos3-dtype"):
        Cosmos3Options(dtype="int8")
    with pytest.raises(UserError, match="--cosmos3-device"):
        Cosmos3Options(device="tpu")


def test_label_with_a_cosmos3_folder(checkpoint: Path, tmp_path: Path) -> None:
    src = T.lerobot_dataset(tmp_path / "src", episodes=1, length=7)
    summary = label(src, tmp_path / "out", "franka", model=str(checkpoint), samples=2,
                    cosmos3=TINY, camera_map={"front": "front"}, progress=False)
    assert summary["skipped"] == [], summary["skipped"]
    ds = open_dataset(tmp_path / "out")
    ep = ds.episode(0)
    assert ep["action"].shape == (7, 10)  # 10-D unified actions, one per frame
    assert np.all(np.isfinite(ep["action"]))
    conf = np.asarray(ep["action_confidence"]).reshape(-1)
    assert np.all((conf > 0) & (conf <= 1))
    prov = ds.info["cosmos_policy"]["label"]["model"]
    assert prov["kind"] == "cosmos3"
    index = (checkpoint / "model_index.json").read_bytes()
    assert prov["model_index_sha256"] == hashlib.sha256(index).hexdigest()
    cycle = ds.info["cosmos_policy"]["label"]["episodes"][0]["cycle"]
    assert cycle["windows"] >= 1
    assert cycle["psnr"] is not None


def test_eval_cli_runs_a_cosmos3_folder_through_the_runtime(checkpoint: Path,
                                                             tmp_path: Path) -> None:
    code = main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                 "--max-steps", "3", "--lockstep", "--videos", "0", "--image-size", "64",
                 "--model", str(checkpoint), "--out", str(tmp_path / "rep"), *CLI_TINY])
    assert code == 0
    report = json.loads((tmp_path / "rep" / "eval.json").read_text())
    assert report["config"]["cosmos3"]["chunk_size"] == 4
    assert report["episodes"] == 1
    assert report["safety"]["commands"] > 0  # its chunks became joint commands
    assert report["safety"]["limits"]["position_excess_rad"] == 0


def test_eval_takes_nvidia_flat_statistics_with_stats(checkpoint: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    flat = tmp_path / "droid_stats.json"  # NVIDIA's layout: per-frame delta quantiles
    flat.write_text(json.dumps({"q01": [-0.01] * 3 + [-1.0] * 6 + [0.0],
                                "q99": [0.01] * 3 + [1.0] * 6 + [1.0]}))
    code = main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                 "--max-steps", "2", "--lockstep", "--videos", "0", "--image-size", "64",
                 "--model", str(checkpoint), "--out", str(tmp_path / "rep"), "--stats",
                 str(flat), *CLI_TINY])
    assert code == 0
    report = json.loads((tmp_path / "rep" / "eval.json").read_text())
    assert report["config"]["cosmos3"]["stats"] == str(flat)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mean": [0.0] * 10}))
    capsys.readouterr()
    assert main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                 "--model", str(checkpoint), "--out", str(tmp_path / "rep2"), "--stats",
                 str(bad), *CLI_TINY]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "bad.json: not a statistics file" in err[-1]


@pytest.mark.parametrize("mode", ["forward", "inverse"])
def test_eval_dynamics_runs_a_cosmos3_folder(checkpoint: Path, tmp_path: Path,
                                             mode: str) -> None:
    code = main(["eval-dynamics", "--mode", mode, "--task", "reach", "--embodiment", "franka",
                 "--episodes", "1", "--max-steps", "5", "--stride", "8", "--image-size", "64",
                 "--model", str(checkpoint), "--out", str(tmp_path), *CLI_TINY])
    assert code == 0
    result = json.loads((tmp_path / f"{mode}_dynamics.json").read_text())
    assert result["windows"] == 1
    assert result["horizon"] == 4
    if mode == "forward":
        assert list(result["per_camera"]) == ["front"]  # the camera the model sees
        assert result["psnr_db"] is not None
    else:
        assert "mean_r2" in result


def test_engine_build_exports_the_cosmos3_step(checkpoint: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    out = tmp_path / "engine"
    code = main(["engine", "build", "--model", str(checkpoint), "--embodiment", "franka",
                 "--out", str(out), *CLI_TINY])
    assert code == 0
    report = json.loads((out / "cosmos3_engine.json").read_text())
    assert report["domain"] == "robomind-franka"
    assert report["passed"] is True
    assert report["graphs"]["policy"]["ok"] is True
    assert (out / "step_policy.onnx").is_file()
    capsys.readouterr()
    assert main(["engine", "build", "--model", str(checkpoint), "--out", str(out),
                 "--cosmos3-modes", "dreaming", *CLI_TINY]) != 0
    assert "--cosmos3-modes dreaming" in capsys.readouterr().err
