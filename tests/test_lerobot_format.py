"""The reader follows the v3.0 format, not only our writer: a dataset laid out the way LeRobot
writes one (AV1 video, several data and video files, embedded PNG images, scalar and
plain-list columns, a pandas-indexed tasks table) reads back exactly; bad metadata is refused
with the file and the field named."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cosmos_policy.data import open_dataset
from cosmos_policy.errors import ConfigError, UserError

FPS = 10
H, W = 48, 64
LENGTHS = [12, 15, 10]
# episode -> (data file, video file, video from_timestamp)
SPANS = [(0, 0, 0.0), (0, 0, 1.2), (1, 1, 0.0)]
TASKS = ["pick up the cube", "stack the cubes"]
EP_TASK = [0, 1, 0]


def _shade(ep: int, t: int) -> int:
    return 20 + 60 * ep + 5 * t


def _write_av1(path: Path, shades: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libsvtav1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": "2", "crf": "20", "preset": "12"}
        for i, shade in enumerate(shades):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), shade, np.uint8), "rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _lerobot_style(root: Path, rng: np.random.Generator) -> dict:
    starts = np.cumsum([0, *LENGTHS])
    truth: dict = {"state": [], "action": [], "reward": [], "wrist": []}
    data_rows: dict[int, list[dict]] = {0: [], 1: []}
    for ep, n in enumerate(LENGTHS):
        state = rng.normal(size=(n, 6)).astype(np.float32)
        action = rng.normal(size=(n, 7)).astype(np.float32)
        reward = rng.random(n).astype(np.float32)
        wrist = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
        for key, value in zip(truth, (state, action, reward, wrist), strict=True):
            truth[key].append(value)
        for t in range(n):
            data_rows[SPANS[ep][0]].append({
                "observation.state": state[t], "action": action[t].tolist(),
                "next.reward": reward[t],
                "observation.images.wrist": {"bytes": _png(wrist[t]), "path": None},
                "timestamp": np.float32(t / FPS), "frame_index": t, "episode_index": ep,
                "index": int(starts[ep] + t), "task_index": EP_TASK[ep]})
    schema = pa.schema([
        ("observation.state", pa.list_(pa.float32(), 6)), ("action", pa.list_(pa.float32())),
        ("next.reward", pa.float32()),
        ("observation.images.wrist", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("timestamp", pa.float32()), ("frame_index", pa.int64()), ("episode_index", pa.int64()),
        ("index", pa.int64()), ("task_index", pa.int64())])
    for file, rows in data_rows.items():
        path = root / f"data/chunk-000/file-{file:03d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    key = "observation.images.top"
    _write_av1(root / f"videos/{key}/chunk-000/file-000.mp4",
               [_shade(e, t) for e in (0, 1) for t in range(LENGTHS[e])])
    _write_av1(root / f"videos/{key}/chunk-000/file-001.mp4",
               [_shade(2, t) for t in range(LENGTHS[2])])
    episodes = []
    for ep, n in enumerate(LENGTHS):
        data_file, video_file, t0 = SPANS[ep]
        episodes.append({
            "episode_index": ep, "tasks": [TASKS[EP_TASK[ep]]], "length": n,
            "data/chunk_index": 0, "data/file_index": data_file,
            "dataset_from_index": int(starts[ep]), "dataset_to_index": int(starts[ep + 1]),
            f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": video_file,
            f"videos/{key}/from_timestamp": t0, f"videos/{key}/to_timestamp": t0 + n / FPS,
            "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
            "stats/action/mean": truth["action"][ep].mean(0).tolist()})
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(episodes),
                   root / "meta/episodes/chunk-000/file-000.parquet")
    # pandas.DataFrame(index=tasks).to_parquet() with an unnamed index
    pq.write_table(pa.table({"task_index": [1, 0], "__index_level_0__": TASKS[::-1]}),
                   root / "meta/tasks.parquet")
    video = {"dtype": "video", "shape": [H, W, 3], "names": ["height", "width", "channels"],
             "info": {"video.codec": "av1", "video.fps": FPS, "video.pix_fmt": "yuv420p"}}
    info = {"codebase_version": "v3.0", "robot_type": "so101_follower", "fps": FPS,
            "total_episodes": 3, "total_frames": int(starts[-1]), "total_tasks": 2,
            "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": {
                key: video,
                "observation.images.wrist": {"dtype": "image", "shape": [8, 8, 3],
                                             "names": ["height", "width", "channel"]},
                "observation.state": {"dtype": "float32", "shape": [6], "names": None},
                "action": {"dtype": "float32", "shape": [7], "names": None},
                "next.reward": {"dtype": "float32", "shape": [1], "names": None},
                "timestamp": {"dtype": "float32", "shape": [1], "names": None},
                "frame_index": {"dtype": "int64", "shape": [1], "names": None},
                "episode_index": {"dtype": "int64", "shape": [1], "names": None},
                "index": {"dtype": "int64", "shape": [1], "names": None},
                "task_index": {"dtype": "int64", "shape": [1], "names": None}}}
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    return truth


@pytest.fixture(scope="module")
def lerobot_style(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("lerobot") / "ds"
    return root, _lerobot_style(root, np.random.default_rng(0))


def test_reads_a_lerobot_written_layout(lerobot_style) -> None:
    root, truth = lerobot_style
    ds = open_dataset(root)
    assert ds.num_episodes == 3
    assert ds.video_keys == ["observation.images.top"]
    assert ds.image_keys == ["observation.images.wrist"]
    assert ds.tasks == TASKS
    for ep in (2, 0, 1):  # out of order: the data-file cache must not leak between files
        got = ds.episode(ep)
        n = LENGTHS[ep]
        np.testing.assert_array_equal(got["observation.state"], truth["state"][ep])
        np.testing.assert_array_equal(got["action"], truth["action"][ep])
        assert got["next.reward"].shape == (n, 1)
        np.testing.assert_array_equal(got["next.reward"][:, 0], truth["reward"][ep])
        np.testing.assert_array_equal(got["observation.images.wrist"], truth["wrist"][ep])
        np.testing.assert_array_equal(got["frame_index"], np.arange(n))
        video = got["observation.images.top"]
        assert video.shape == (n, H, W, 3)
        assert video.dtype == np.uint8
        shades = np.array([_shade(ep, t) for t in range(n)])
        assert np.abs(video.mean(axis=(1, 2, 3)) - shades).max() < 4.0
        assert got["task"] == TASKS[EP_TASK[ep]]


def test_frames_spans_data_files(lerobot_style) -> None:
    root, truth = lerobot_style
    cols = open_dataset(root).frames(["action", "index", "next.reward"])
    np.testing.assert_array_equal(cols["action"], np.concatenate(truth["action"]))
    np.testing.assert_array_equal(cols["index"], np.arange(sum(LENGTHS)))
    assert cols["next.reward"].shape == (sum(LENGTHS), 1)
    with pytest.raises(UserError, match="camera"):
        open_dataset(root).frames(["observation.images.top"])
    with pytest.raises(UserError, match="no feature 'nope'"):
        open_dataset(root).frames(["nope"])


def _copy_with_info(src: Path, dst: Path, **changes) -> Path:
    import shutil

    shutil.copytree(src, dst)
    info = json.loads((dst / "meta/info.json").read_text())
    for key, value in changes.items():
        if value is None:
            info.pop(key)
        else:
            info[key] = value
    (dst / "meta/info.json").write_text(json.dumps(info))
    return dst


@pytest.mark.parametrize(("changes", "field"), [
    ({"codebase_version": "v2.1"}, "codebase_version"),
    ({"fps": 0}, "fps"),
    ({"fps": None}, "fps"),
    ({"data_path": None}, "data_path"),
    ({"video_path": None}, "video_path"),
    ({"features": {"action": {"dtype": "float32"}}}, "features"),
    ({"features": {"action": {"dtype": "complex", "shape": [2]}}}, "features"),
])
def test_bad_info_names_file_and_field(lerobot_style, tmp_path: Path, changes, field) -> None:
    root = _copy_with_info(lerobot_style[0], tmp_path / "bad", **changes)
    with pytest.raises(ConfigError, match=rf"info\.json: field '{field}'") as err:
        open_dataset(root)
    if changes.get("codebase_version") == "v2.1":
        assert "convert" in str(err.value)


def test_inconsistent_episode_table_is_refused(lerobot_style, tmp_path: Path) -> None:
    root = _copy_with_info(lerobot_style[0], tmp_path / "bad", total_episodes=4)
    with pytest.raises(UserError, match="total_episodes is 4"):
        open_dataset(root).episode(0)
    root = _copy_with_info(lerobot_style[0], tmp_path / "bad2")
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["dataset_to_index"]), path)
    with pytest.raises(UserError, match="dataset_to_index"):
        open_dataset(root).episode(0)


def test_our_files_have_the_schema_lerobot_loads_them_with(tmp_path: Path) -> None:
    """LeRobot reads data parquet through Hugging Face ``datasets`` with features derived
    from info.json (shape [1] -> a scalar of that dtype, [D] -> a list of length D, in Arrow a
    fixed-size list) and the tasks table with pandas, indexed by the task text. Hugging Face
    ``datasets`` is not a dependency, so the Arrow schema is checked against that rule."""
    from cosmos_policy.data import LeRobotWriter, camera_feature, vector_feature

    rng = np.random.default_rng(3)
    features = {"observation.images.top": camera_feature(16, 16, FPS),
                "action": vector_feature([f"a{i}" for i in range(4)]),
                "confidence": vector_feature(["confidence"])}
    writer = LeRobotWriter(tmp_path / "ds", fps=FPS, robot_type="so101", features=features)
    action = rng.normal(size=(5, 4)).astype(np.float32)
    writer.add_episode({"observation.images.top": np.zeros((5, 16, 16, 3), np.uint8),
                        "action": action, "confidence": np.ones(5, np.float32)}, "wave")
    root = writer.finalize()
    info = json.loads((root / "meta/info.json").read_text())
    table = pq.read_table(root / "data/chunk-000/file-000.parquet")
    arrow = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(),
             "bool": pa.bool_()}
    checked = 0
    for name, ft in info["features"].items():
        if ft["dtype"] == "video":
            assert name not in table.column_names
            continue
        value = arrow[ft["dtype"]]
        want = value if ft["shape"] == [1] else pa.list_(value, ft["shape"][0])
        assert table.schema.field(name).type == want, name
        checked += 1
    assert checked == len(table.column_names) == 7
    np.testing.assert_array_equal(np.stack(table.column("action").to_pylist()), action)
    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.schema.pandas_metadata["index_columns"] == ["task"]
    assert tasks.to_pylist() == [{"task_index": 0, "task": "wave"}]
