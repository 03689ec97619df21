"""The labelling run: windows and confidence, resume, corrupt episodes, input untouched,
workers, Ray, the CLI."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from cosmos_policy.cli import main
from cosmos_policy.data import open_dataset
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.label import pipeline, shards
from cosmos_policy.label import testing as T
from cosmos_policy.label.infer import map_cameras, window_starts
from cosmos_policy.label.pipeline import label

# Two Euler steps instead of ten: these tests compare runs with each other (workers, Ray,
# resume, seeds), so the sampler's accuracy does not matter and its cost does.
FAST = {"steps": 2}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "bundle")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _actions(root: Path) -> list[np.ndarray]:
    ds = open_dataset(root)
    return [ds.episode(i)["action"] for i in range(ds.num_episodes)]


def test_windows_cover_every_transition():
    assert window_starts(9, 4) == [0, 4]
    assert window_starts(10, 4) == [0, 4, 8]  # the last window is padded
    assert window_starts(2, 4) == [0]


def test_camera_mapping():
    assert map_cameras(("front", "wrist"), ["wrist", "front"])[0] == {"front": "front",
                                                                       "wrist": "wrist"}
    mapped, notes = map_cameras(("front", "wrist"), ["agentview", "hand"])
    assert mapped == {"front": "agentview", "wrist": "hand"}
    assert notes
    with pytest.raises(UserError, match="--camera"):
        map_cameras(("front", "wrist"), ["only"])


def test_label_lerobot_with_provenance_and_input_untouched(tmp_path, bundle):
    src = T.lerobot_dataset(tmp_path / "src", episodes=2, length=10)
    before = _tree_hashes(src)
    summary = label(src, tmp_path / "out", "franka", model=str(bundle), progress=False, **FAST)
    assert _tree_hashes(src) == before
    assert not (tmp_path / "out.partial").exists()
    ds = open_dataset(tmp_path / "out")
    assert ds.num_episodes == 2
    ep = ds.episode(1)
    assert ep["action"].shape == (11, 10)
    conf = np.asarray(ep["action_confidence"]).reshape(-1)
    assert conf.shape == (11,)
    assert np.all((conf > 0) & (conf <= 1))
    assert conf.std() > 0  # from the spread of samples, not a constant
    prov = ds.info["cosmos_policy"]["label"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert prov["model"]["weights_sha256"] == manifest["files"]["model.safetensors"]
    assert prov["embodiment"] == "franka"
    assert prov["source_format"] == "lerobot"
    assert [e["source_id"] for e in prov["episodes"]] == ["0", "1"]
    cyc = prov["episodes"][0]["cycle"]
    assert cyc["windows"] >= 1
    assert cyc["ok"] == (cyc["psnr"] >= 20.0)
    assert len(summary["labelled"]) == 2
    assert summary["skipped"] == []
    assert (tmp_path / "out" / "meta" / "label_summary.json").is_file()


def test_labels_are_seeded(tmp_path, bundle):
    src = T.lerobot_dataset(tmp_path / "src", episodes=1, length=9)
    label(src, tmp_path / "a", "franka", model=str(bundle), progress=False, **FAST, cycle=False)
    label(src, tmp_path / "b", "franka", model=str(bundle), progress=False, **FAST, cycle=False)
    label(src, tmp_path / "c", "franka", model=str(bundle), progress=False, **FAST, cycle=False,
          seed=1)
    a, b, c = (_actions(tmp_path / n)[0] for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_corrupt_episode_is_skipped_and_reported(tmp_path, bundle):
    src = T.camera_videos(tmp_path / "vids", episodes=3, length=9)
    bad = src / "wrist" / "ep1.mp4"
    bad.write_bytes(bad.read_bytes()[:200])
    before = _tree_hashes(src)
    summary = label(src, tmp_path / "out", "franka", model=str(bundle), progress=False, **FAST,
                    cycle=False)
    assert _tree_hashes(src) == before
    assert [r["source_id"] for r in summary["labelled"]] == ["ep0", "ep2"]
    assert [s["key"] for s in summary["skipped"]] == ["ep1"]
    assert "ep1.mp4" in summary["skipped"][0]["reason"]
    assert open_dataset(tmp_path / "out").num_episodes == 2


def test_resume_skips_finished_episodes(tmp_path, bundle, monkeypatch):
    src = T.lerobot_dataset(tmp_path / "src", episodes=3, length=9)
    out = tmp_path / "out"
    real = shards.write_shard
    calls: list[str] = []

    def failing(work, result):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run dies after two finished episodes
        calls.append(result["key"])
        return real(work, result)

    monkeypatch.setattr(shards, "write_shard", failing)
    with pytest.raises(KeyboardInterrupt):
        label(src, out, "franka", model=str(bundle), progress=False, **FAST, cycle=False)
    assert not out.exists()
    assert shards.finished(tmp_path / "out.partial") == {"0", "1"}
    monkeypatch.setattr(shards, "write_shard", real)

    labelled: list[str] = []
    from cosmos_policy.label import worker

    run = worker.Labeller.run
    monkeypatch.setattr(worker.Labeller, "run",
                        lambda self, key: labelled.append(key) or run(self, key))
    summary = label(src, out, "franka", model=str(bundle), progress=False, **FAST, cycle=False)
    assert labelled == ["2"]
    assert summary["reused_shards"] == ["0", "1"]
    assert summary["resumed"] is True
    fresh = tmp_path / "fresh"
    label(src, fresh, "franka", model=str(bundle), progress=False, **FAST, cycle=False)
    for x, y in zip(_actions(out), _actions(fresh), strict=True):
        np.testing.assert_array_equal(x, y)


def test_resume_with_other_settings_is_refused(tmp_path, bundle):
    src = T.lerobot_dataset(tmp_path / "src", episodes=1, length=9)
    shards.check_run(tmp_path / "out.partial", {"seed": 99})
    with pytest.raises(UserError, match="--restart"):
        label(src, tmp_path / "out", "franka", model=str(bundle), progress=False, **FAST)


def test_out_inside_input_is_refused(tmp_path, bundle):
    src = T.lerobot_dataset(tmp_path / "src", episodes=1, length=9)
    with pytest.raises(UserError, match="outside IN"):
        label(src, src / "labels", "franka", model=str(bundle), progress=False, **FAST)


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, bundle) -> tuple[Path, list[np.ndarray]]:
    """A source and its labels from one process: what the parallel runs must reproduce."""
    root = tmp_path_factory.mktemp("one_worker")
    src = T.lerobot_dataset(root / "src", episodes=2, length=9)
    label(src, root / "w1", "franka", model=str(bundle), progress=False, **FAST, cycle=False)
    return src, _actions(root / "w1")


def test_two_workers_match_one(tmp_path, bundle, one_worker):
    src, reference = one_worker
    label(src, tmp_path / "w2", "franka", model=str(bundle), progress=False, **FAST, cycle=False,
          workers=2)
    for x, y in zip(reference, _actions(tmp_path / "w2"), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)


# Slow: it starts a local Ray cluster whose two actors each import torch and the prompt
# encoder, about 50 s on 2 cores, a sixth of the default run. test_two_workers_match_one
# covers parallel labelling in the default run; this one adds the Ray transport.
@pytest.mark.slow
def test_ray_local_matches_one_worker(tmp_path, bundle, one_worker):
    pytest.importorskip("ray", reason="Ray is the dist extra")
    src, reference = one_worker
    summary = label(src, tmp_path / "ray", "franka", model=str(bundle), progress=False, **FAST,
                    cycle=False, workers=2, ray_address="local")
    assert len(summary["labelled"]) == 2
    for x, y in zip(reference, _actions(tmp_path / "ray"), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_cli(tmp_path, bundle, capsys):
    src = T.hdf5_file(tmp_path / "demo.hdf5", episodes=2, length=9)
    rc = main(["label", str(src), str(tmp_path / "out"), "--embodiment", "franka", "--model",
               str(bundle), "--samples", "2", "--steps", "2", "--summary", str(tmp_path / "s.json"),
               "--cycle-min-psnr", "150"])
    assert rc == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "2 labelled" in text
    # PSNR is capped at 100 dB, so 150 fails every episode: each line says by how much.
    failed = [x for x in text.splitlines() if "CYCLE CHECK FAILED" in x]
    assert len(failed) == 2, text
    assert re.search(r"cycle PSNR \d+\.\d+ dB is below --cycle-min-psnr 150\.0 dB", failed[0])
    assert "2/2" in captured.err  # the progress bar knew its total: 2 episodes
    assert json.loads((tmp_path / "s.json").read_text())["labelled"][1]["source_id"] == "demo_1"
    rc = main(["label", str(src), str(tmp_path / "out"), "--embodiment", "franka", "--model",
               str(bundle)])
    assert rc == 2  # OUT exists
    assert "already exists" in capsys.readouterr().err
    assert pipeline.detect_format(src) == "hdf5"
