"""What a first `label` run tells its user: why the cycle check failed, how far the run is,
and what a failed run leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.label import shards
from cosmos_policy.label import testing as T
from cosmos_policy.label.cycle import explain_failure
from cosmos_policy.label.pipeline import label


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "bundle")


def test_explain_failure_names_the_value_the_threshold_and_the_option() -> None:
    line = explain_failure({"psnr": 14.25, "baseline_psnr": 18.5, "ok": False,
                            "min_psnr": 20.0})
    assert "14.25 dB" in line
    assert "--cycle-min-psnr 20.0 dB" in line
    assert "18.5 dB" in line
    assert "--no-cycle" in line


def test_a_run_that_labelled_nothing_leaves_no_partial_folder(tmp_path, bundle) -> None:
    src = T.camera_videos(tmp_path / "vids", episodes=2, length=9)
    for ep in ("ep0", "ep1"):
        video = src / "wrist" / f"{ep}.mp4"
        video.write_bytes(video.read_bytes()[:200])
    with pytest.raises(UserError, match="no episode"):
        label(src, tmp_path / "out", "franka", model=str(bundle), progress=False,
              cycle=False, steps=2)
    assert not (tmp_path / "out.partial").exists()


def test_a_failed_run_keeps_its_finished_episodes_and_says_how_to_resume(
        tmp_path, bundle, monkeypatch) -> None:
    src = T.lerobot_dataset(tmp_path / "src", episodes=2, length=9)
    real = shards.write_shard

    def second_fails(work, result):
        if shards.finished(work):
            raise UserError("disk full")
        return real(work, result)

    monkeypatch.setattr(shards, "write_shard", second_fails)
    with pytest.raises(UserError, match="rerun the same command to resume") as err:
        label(src, tmp_path / "out", "franka", model=str(bundle), progress=False,
              cycle=False, steps=2)
    assert str(err.value).startswith("disk full; 1 labelled episode(s) are kept in ")
    assert shards.finished(tmp_path / "out.partial") == {"0"}
