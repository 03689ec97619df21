"""Corrupt inputs to ``label`` (issue #25): a truncated mp4, a broken parquet file, an HDF5
demo with a missing group, a rosbag (MCAP) with a topic of the wrong type. Each costs its
episode only: one line naming the file and the problem, the rest of the dataset labelled,
exit status 0 and a summary counting the skipped episode. A dataset whose episode table is
itself broken stops in one line (exit status 2).

(``tests/test_label_pipeline.py`` checks the truncated mp4 through the Python API; here every
format goes through the command, as a user meets it.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from cosmos_policy.cli import main
from cosmos_policy.data.lerobot import LeRobotWriter, camera_feature, open_dataset, vector_feature
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.label import testing as T

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "bundle")


def _mp4(root: Path) -> Path:
    src = T.camera_videos(root, episodes=3, length=9)
    bad = src / "wrist" / "ep1.mp4"
    bad.write_bytes(bad.read_bytes()[:200])
    return src


def _parquet_files(root: Path) -> Path:
    """A LeRobot dataset with one data file per episode (as large datasets have)."""
    feats = {f"observation.images.{c}": camera_feature(32, 32, 10) for c in ("front", "wrist")}
    feats["observation.state"] = vector_feature([f"q{i}" for i in range(8)])
    writer = LeRobotWriter(root, fps=10, robot_type="franka", features=feats,
                           data_file_mb=1e-6)
    for e in range(3):
        writer.add_episode({"observation.images.front": T.moving_frames(9, seed=e),
                            "observation.images.wrist": T.moving_frames(9, seed=e + 10),
                            "observation.state": np.zeros((9, 8), np.float32)}, "push it")
    return writer.finalize()


def _parquet(root: Path) -> Path:
    src = _parquet_files(root)
    bad = src / "data" / "chunk-000" / "file-001.parquet"
    bad.write_bytes(bad.read_bytes()[:100])
    return src


def _hdf5(root: Path) -> Path:
    root.mkdir()
    src = T.hdf5_file(root / "demos.hdf5", episodes=3)
    with h5py.File(src, "a") as f:
        del f["data/demo_1/obs"]
    return src


def _wrong_type_bag(path: Path) -> None:
    """A recording whose /joint_states carries std_msgs/String instead of JointState."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    image, string = "sensor_msgs/msg/Image", "std_msgs/msg/String"
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        cam = writer.add_connection("/camera/front/image_raw", image, typestore=ts)
        joints = writer.add_connection("/joint_states", string, typestore=ts)
        for t, frame in enumerate(T.moving_frames(9, seed=5)):
            ns = 1_000_000_000 + t * 100_000_000
            hdr = ts.types["std_msgs/msg/Header"](stamp=ts.types["builtin_interfaces/msg/Time"](
                sec=ns // 10**9, nanosec=ns % 10**9), frame_id="cam")
            msg = ts.types[image](header=hdr, height=32, width=32, encoding="rgb8",
                                  is_bigendian=0, step=96, data=frame.reshape(-1).copy())
            writer.write(cam, ns, ts.serialize_cdr(msg, image))
            writer.write(joints, ns, ts.serialize_cdr(ts.types[string](data="0.1"), string))


def _rosbag(root: Path) -> Path:
    root.mkdir()
    T.rosbag(root / "run0", length=9, storage="mcap")
    _wrong_type_bag(root / "run1")
    T.rosbag(root / "run2", length=9, storage="mcap")
    return root


CASES: dict[str, tuple[Callable[[Path], Path], str, tuple[str, ...]]] = {
    # format: (make the input, the bad episode, what its line must say)
    "mp4": (_mp4, "ep1", ("ep1.mp4", "unreadable video")),
    "parquet": (_parquet, "1", ("file-001.parquet", "broken parquet")),
    "hdf5": (_hdf5, "demo_1", ("demos.hdf5", "data/demo_1 has no 'obs'")),
    "rosbag": (_rosbag, "run1", ("run1", "topic /joint_states holds std_msgs/msg/String",
                                 "expected sensor_msgs/msg/JointState")),
}


def _label(src: Path, out: Path, bundle: Path) -> list[str]:
    return ["label", str(src), "--out", str(out), "--model", str(bundle), "--embodiment",
            "franka", "--steps", "2", "--no-cycle", "--samples", "2"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupt_episode_costs_only_itself(case: str, tmp_path: Path, bundle: Path,
                                             capsys) -> None:
    make, bad, says = CASES[case]
    src = make(tmp_path / "src")
    out = tmp_path / "out"
    assert main(_label(src, out, bundle)) == 0
    stdout = capsys.readouterr().out
    lines = [ln for ln in stdout.splitlines() if ln.startswith("skipped  ")]  # the summary's
    assert len(lines) == 1, stdout
    assert lines[0].startswith(f"skipped  {bad}: ")
    for text in says:
        assert text in lines[0], lines[0]
    assert "Traceback" not in stdout
    assert "2 labelled (0 from an earlier run), 1 skipped" in stdout
    assert open_dataset(out).num_episodes == 2


def test_a_broken_episode_table_stops_in_one_line(tmp_path: Path, bundle: Path,
                                                  capsys) -> None:
    src = _parquet_files(tmp_path / "src")
    table = src / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    table.write_bytes(table.read_bytes()[:100])
    assert main(_label(src, tmp_path / "out", bundle)) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    assert "meta/episodes/" in lines[0]
    assert "broken parquet" in lines[0]
    assert not (tmp_path / "out").exists()
