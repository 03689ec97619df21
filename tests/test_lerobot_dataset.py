"""LeRobot v3.0 writer and reader: round trip, layout, crash safety, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cosmos_policy.data.lerobot import (
    LeRobotWriter,
    camera_feature,
    open_dataset,
    partial_path,
    vector_feature,
)
from cosmos_policy.errors import UserError

FPS = 10


def _features() -> dict:
    return {"observation.images.front": camera_feature(32, 48, FPS),
            "observation.state": vector_feature([f"j{i}" for i in range(4)]),
            "action": vector_feature([f"a{i}" for i in range(10)])}


def _episode(rng: np.random.Generator, length: int, shade: int) -> dict[str, np.ndarray]:
    images = np.zeros((length, 32, 48, 3), np.uint8)
    images[..., 0] = (np.arange(length) * 9 % 250)[:, None, None]
    images[..., 1] = shade
    return {"observation.images.front": images,
            "observation.state": rng.normal(size=(length, 4)).astype(np.float32),
            "action": rng.normal(size=(length, 10)).astype(np.float32)}


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, list[dict], list[str]]:
    rng = np.random.default_rng(0)
    root = tmp_path / "ds"
    episodes = [_episode(rng, 12 + 3 * i, 60 * i) for i in range(3)]
    tasks = ["reach the red cube", "reach the blue cube", "reach the red cube"]
    writer = LeRobotWriter(root, fps=FPS, robot_type="franka", features=_features())
    for ep, task in zip(episodes, tasks, strict=True):
        writer.add_episode(ep, task)
    writer.finalize()
    return root, episodes, tasks


def test_round_trip(written) -> None:
    root, episodes, tasks = written
    ds = open_dataset(root)
    assert ds.num_episodes == 3
    assert ds.fps == FPS
    for i, original in enumerate(episodes):
        ep = ds.episode(i)
        np.testing.assert_array_equal(ep["action"], original["action"])
        np.testing.assert_array_equal(ep["observation.state"], original["observation.state"])
        video = ep["observation.images.front"]
        assert video.shape == original["observation.images.front"].shape
        assert video.dtype == np.uint8
        assert np.abs(video.astype(int) - original["observation.images.front"]).mean() < 3.0
        n = len(original["action"])
        np.testing.assert_allclose(ep["timestamp"], np.arange(n) / FPS, atol=1e-6)
        np.testing.assert_array_equal(ep["frame_index"], np.arange(n))
        assert ep["task"] == tasks[i]


def test_layout_follows_v3(written) -> None:
    root, episodes, tasks = written
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["robot_type"] == "franka"
    assert info["total_episodes"] == 3
    assert info["total_frames"] == sum(len(e["action"]) for e in episodes)
    assert info["total_tasks"] == 2
    assert info["features"]["observation.images.front"]["dtype"] == "video"
    assert info["features"]["action"]["shape"] == [10]
    for rel in ("meta/stats.json", "meta/tasks.parquet",
                "meta/episodes/chunk-000/file-000.parquet", "data/chunk-000/file-000.parquet",
                "videos/observation.images.front/chunk-000/file-000.mp4"):
        assert (root / rel).is_file(), rel
    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [r["length"] for r in rows] == [len(e["action"]) for e in episodes]
    assert rows[1]["dataset_from_index"] == rows[0]["dataset_to_index"]
    key = "videos/observation.images.front"
    assert rows[1][f"{key}/from_timestamp"] == pytest.approx(rows[0][f"{key}/to_timestamp"])
    for row, ep in zip(rows, episodes, strict=True):
        n = len(ep["action"])
        assert row[f"{key}/to_timestamp"] - row[f"{key}/from_timestamp"] == pytest.approx(n / FPS)
        assert row["dataset_to_index"] - row["dataset_from_index"] == n
        np.testing.assert_allclose(row["stats/action/mean"], ep["action"].mean(0), atol=1e-6)
        assert row["stats/observation.images.front/mean"] is not None
    ds = open_dataset(root)
    assert ds.episode(2)["index"].tolist() == list(range(rows[2]["dataset_from_index"],
                                                        rows[2]["dataset_to_index"]))
    tasks_table = pq.read_table(root / "meta/tasks.parquet").to_pydict()
    assert sorted(tasks_table["task"]) == sorted(set(tasks))
    stats = json.loads((root / "meta/stats.json").read_text())
    all_actions = np.concatenate([e["action"] for e in episodes])
    np.testing.assert_allclose(stats["action"]["mean"], all_actions.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats["action"]["std"], all_actions.std(0), atol=1e-5)
    assert np.asarray(stats["observation.images.front"]["mean"]).shape == (3, 1, 1)


def test_frames_reads_columns_without_video(written) -> None:
    root, episodes, _ = written
    cols = open_dataset(root).frames(["action", "episode_index"])
    np.testing.assert_allclose(cols["action"], np.concatenate([e["action"] for e in episodes]))
    assert cols["episode_index"].tolist() == sum(
        ([i] * len(e["action"]) for i, e in enumerate(episodes)), [])


def test_interrupted_write_never_looks_complete(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = tmp_path / "ds"
    writer = LeRobotWriter(root, fps=FPS, robot_type="franka", features=_features())
    writer.add_episode(_episode(rng, 10, 0), "reach the red cube")
    # The process dies here: no finalize.
    assert not root.exists()
    assert partial_path(root).exists()
    with pytest.raises(UserError, match="unfinished"):
        open_dataset(root)


def test_exception_in_context_drops_partial(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    episode = _episode(np.random.default_rng(2), 8, 0)

    def crash_mid_recording() -> None:
        with LeRobotWriter(root, fps=FPS, robot_type="franka", features=_features()) as w:
            w.add_episode(episode, "reach the red cube")
            raise RuntimeError("simulator crashed")

    with pytest.raises(RuntimeError):
        crash_mid_recording()
    assert not root.exists()
    assert not partial_path(root).exists()


def test_refusals(tmp_path: Path, written) -> None:
    root, _, _ = written
    with pytest.raises(UserError, match="already exists"):
        LeRobotWriter(root, fps=FPS, robot_type="franka", features=_features())
    with pytest.raises(UserError, match="no dataset"):
        open_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="info.json"):
        open_dataset(tmp_path / "empty")
    writer = LeRobotWriter(tmp_path / "other", fps=FPS, robot_type="franka",
                           features=_features())
    bad = _episode(np.random.default_rng(3), 5, 0)
    bad["action"] = bad["action"][:, :7]
    with pytest.raises(UserError, match="action"):
        writer.add_episode(bad, "x")
    with pytest.raises(UserError, match="task"):
        writer.add_episode(_episode(np.random.default_rng(3), 5, 0), "  ")
    writer.abort()
    with pytest.raises(UserError, match="out of range"):
        open_dataset(root).episode(7)


def test_data_files_roll_over(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    writer = LeRobotWriter(tmp_path / "ds", fps=FPS, robot_type="franka",
                           features=_features(), data_file_mb=1e-4)
    originals = [_episode(rng, 6, 0) for _ in range(3)]
    for ep in originals:
        writer.add_episode(ep, "push the green cube")
    root = writer.finalize()
    assert len(list(root.glob("data/chunk-000/file-*.parquet"))) == 3
    ds = open_dataset(root)
    np.testing.assert_array_equal(ds.episode(2)["action"], originals[2]["action"])


def test_scalar_extra_feature_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    features = _features() | {"confidence": vector_feature(["confidence"])}
    writer = LeRobotWriter(tmp_path / "ds", fps=FPS, robot_type="franka", features=features)
    confidences = [rng.random(8).astype(np.float32), rng.random((9, 1)).astype(np.float32)]
    for conf in confidences:  # (T,) and (T, 1) are both a scalar per frame
        writer.add_episode(_episode(rng, len(conf), 0) | {"confidence": conf}, "push it")
    root = writer.finalize()
    schema = pq.read_schema(root / "data/chunk-000/file-000.parquet")
    assert str(schema.field("confidence").type) == "float"  # a scalar column, as LeRobot's
    assert str(schema.field("action").type).startswith("fixed_size_list")
    ds = open_dataset(root)
    for i, conf in enumerate(confidences):
        np.testing.assert_array_equal(ds.episode(i)["confidence"], conf.reshape(-1, 1))
    assert ds.stats["confidence"]["mean"].shape == (1,)


def test_stats_quantiles_and_index_stats(written) -> None:
    root, episodes, _ = written
    stats = open_dataset(root).stats
    actions = np.concatenate([e["action"] for e in episodes])
    for name in ("q01", "q10", "q50", "q90", "q99"):
        assert stats["action"][name].shape == (10,)
    assert np.all(stats["action"]["q01"] <= stats["action"]["q99"])
    assert np.all(stats["action"]["min"] <= stats["action"]["q01"])
    np.testing.assert_allclose(stats["action"]["min"], actions.min(0), atol=1e-6)
    assert int(stats["index"]["max"][0]) == len(actions) - 1
    assert int(stats["observation.images.front"]["count"][0]) == len(actions)
    image_mean = stats["observation.images.front"]["mean"].reshape(3)
    assert np.all((image_mean >= 0) & (image_mean <= 1))


def test_chunks_and_video_files_roll_over(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    writer = LeRobotWriter(tmp_path / "ds", fps=FPS, robot_type="franka",
                           features=_features(), data_file_mb=1e-4, video_file_mb=1e-4,
                           chunks_size=2)
    originals = [_episode(rng, 6, 80 * i) for i in range(3)]
    for ep in originals:
        writer.add_episode(ep, "push the green cube")
    root = writer.finalize()
    for rel in ("data/chunk-000/file-001.parquet", "data/chunk-001/file-000.parquet",
                "videos/observation.images.front/chunk-001/file-000.mp4"):
        assert (root / rel).is_file(), rel
    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    key = "videos/observation.images.front"
    assert [(r["data/chunk_index"], r["data/file_index"]) for r in rows] == [(0, 0), (0, 1),
                                                                             (1, 0)]
    assert rows[2][f"{key}/chunk_index"] == 1
    assert rows[2][f"{key}/from_timestamp"] == 0.0
    ds = open_dataset(root)
    for i, original in enumerate(originals):
        ep = ds.episode(i)
        np.testing.assert_array_equal(ep["action"], original["action"])
        video = ep["observation.images.front"].astype(int)
        assert np.abs(video - original["observation.images.front"]).mean() < 3.0
    np.testing.assert_array_equal(ds.frames(["index"])["index"], np.arange(18))


def test_bad_values_are_refused(tmp_path: Path) -> None:
    writer = LeRobotWriter(tmp_path / "ds", fps=FPS, robot_type="franka", features=_features())
    episode = _episode(np.random.default_rng(7), 5, 0)
    episode["action"][2, 3] = np.nan
    with pytest.raises(UserError, match="action: contains NaN"):
        writer.add_episode(episode, "x")
    episode = _episode(np.random.default_rng(7), 5, 0)
    episode["observation.images.front"] = episode["observation.images.front"].astype(np.float32)
    with pytest.raises(UserError, match="uint8"):
        writer.add_episode(episode, "x")
    with pytest.raises(UserError, match="no episode"):
        writer.finalize()
    assert not (tmp_path / "ds").exists()
    with pytest.raises(UserError, match="even height and width"):
        LeRobotWriter(tmp_path / "odd", fps=FPS, robot_type="franka",
                      features={"observation.images.x": camera_feature(33, 32, FPS)})


def test_overwrite_keeps_the_old_dataset_until_finalize(written) -> None:
    root, episodes, _ = written
    writer = LeRobotWriter(root, fps=FPS, robot_type="franka", features=_features(),
                           overwrite=True)
    writer.add_episode(_episode(np.random.default_rng(8), 4, 0), "reach the red cube")
    assert open_dataset(root).num_episodes == len(episodes)  # still the old one
    writer.finalize()
    assert open_dataset(root).num_episodes == 1
    assert not partial_path(root).exists()


def test_crash_inside_finalize_leaves_nothing_complete(tmp_path: Path, monkeypatch) -> None:
    from cosmos_policy.data import stats

    root = tmp_path / "ds"
    writer = LeRobotWriter(root, fps=FPS, robot_type="franka", features=_features())
    writer.add_episode(_episode(np.random.default_rng(9), 6, 0), "reach the red cube")

    def disk_full(*_args, **_kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(stats, "to_json", disk_full)  # after data, videos and tasks
    with pytest.raises(OSError, match="no space"):
        writer.finalize()
    assert not root.exists()
    partial = partial_path(root)
    assert (partial / "meta/tasks.parquet").is_file()
    assert not (partial / "meta/info.json").exists()
    with pytest.raises(UserError, match="unfinished write"):
        open_dataset(root)
    with pytest.raises(UserError, match="info.json is missing"):
        open_dataset(partial)
