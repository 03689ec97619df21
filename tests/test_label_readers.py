"""Each reader on tiny data made here: format detection, frames, state, task, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.errors import UserError
from cosmos_policy.label import testing as T
from cosmos_policy.label.readers import detect_format, list_episodes, load_episode
from cosmos_policy.label.readers.rosbag import camera_name


def _square_x(frames: np.ndarray) -> np.ndarray:
    """Left edge of the bright square in each frame (robust to lossy video)."""
    return np.argmax(frames[:, 14, :, 0] > 150, axis=1)


def test_camera_videos_folder(tmp_path):
    root = T.camera_videos(tmp_path / "vids", episodes=2, length=10)
    assert detect_format(root) == "folder"
    assert list_episodes("folder", root) == ["ep0", "ep1"]
    ep = load_episode("folder", root, "ep1")
    assert sorted(ep.frames) == ["front", "wrist"]
    assert ep.length == 11
    assert ep.task == "push the cube"
    assert ep.fps == pytest.approx(10)
    np.testing.assert_array_equal(_square_x(ep.frames["front"]),
                                  _square_x(T.moving_frames(11, seed=10)))  # lossy h264


def test_flat_videos_one_camera(tmp_path):
    T.write_mp4(tmp_path / "in" / "a.mp4", T.moving_frames(7))
    ep = load_episode(detect_format(tmp_path / "in"), tmp_path / "in", "a")
    assert list(ep.frames) == ["front"]
    assert ep.frames["front"].shape == (7, 32, 32, 3)


def test_image_folders(tmp_path):
    root = T.image_folders(tmp_path / "imgs", episodes=2, length=9)
    assert detect_format(root) == "folder"
    ep = load_episode("folder", root, "ep0")
    np.testing.assert_array_equal(ep.frames["wrist"], T.moving_frames(9, seed=1))  # lossless
    assert ep.state is None


def test_lerobot(tmp_path):
    root = T.lerobot_dataset(tmp_path / "ds", episodes=2, length=10)
    assert detect_format(root) == "lerobot"
    assert list_episodes("lerobot", root) == ["0", "1"]
    ep = load_episode("lerobot", root, "1")
    assert ep.length == 11
    assert ep.state.shape == (11, 8)
    assert ep.task == "push the cube"
    assert ep.extra["true_action"].shape == (11, 10)


def test_hdf5(tmp_path):
    path = T.hdf5_file(tmp_path / "demo.hdf5", episodes=3, length=9)
    assert detect_format(path) == "hdf5"
    assert list_episodes("hdf5", path) == ["demo_0", "demo_1", "demo_2"]
    ep = load_episode("hdf5", path, "demo_2")
    np.testing.assert_array_equal(ep.frames["front"], T.moving_frames(9, seed=20))
    assert ep.state.shape == (9, 8)  # 7 joints + gripper
    assert ep.task == "Lift"
    assert ep.fps == 20


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_rosbag2(tmp_path, storage):
    bag = T.rosbag(tmp_path / "bag", length=9, storage=storage)
    assert detect_format(bag) == "rosbag"
    ep = load_episode("rosbag", bag, list_episodes("rosbag", bag)[0])
    assert sorted(ep.frames) == ["front", "wrist"]
    np.testing.assert_array_equal(ep.frames["front"], T.moving_frames(9, seed=0))
    np.testing.assert_array_equal(ep.frames["wrist"], T.moving_frames(9, seed=1))  # PNG
    np.testing.assert_allclose(ep.state[:, 0], 0.1 * np.arange(9), atol=1e-6)
    assert ep.task == "stack it"
    assert ep.fps == pytest.approx(10, rel=1e-3)


def test_rosbag_bgr_image_and_folder_of_bags(tmp_path):
    T.rosbag(tmp_path / "bags" / "run1", length=5, compressed_wrist=False)
    assert detect_format(tmp_path / "bags") == "rosbag"
    assert list_episodes("rosbag", tmp_path / "bags") == ["run1"]
    ep = load_episode("rosbag", tmp_path / "bags", "run1")
    np.testing.assert_array_equal(ep.frames["wrist"], T.moving_frames(5, seed=1))


def test_camera_names_from_topics():
    assert camera_name("/camera/front/image_raw") == "front"
    assert camera_name("/camera/wrist/image_raw/compressed") == "wrist"
    assert camera_name("/agentview") == "agentview"


def test_unknown_format_is_a_user_error(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(UserError, match="unknown input format"):
        detect_format(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        detect_format(tmp_path / "missing")


def test_truncated_video_is_a_user_error(tmp_path):
    path = T.write_mp4(tmp_path / "in" / "a.mp4", T.moving_frames(10))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match="a.mp4"):
        load_episode("folder", tmp_path / "in", "a")
