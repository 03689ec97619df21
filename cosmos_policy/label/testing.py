"""Tiny inputs of every format, for tests and the throughput benchmark (made, never shipped).

Frames show a bright square that moves one pixel per step, so consecutive frames differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

CAMERAS = ("front", "wrist")


def moving_frames(length: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (T, size, size, 3): noise background + a square moving right."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    out = np.repeat(base[None], length, axis=0)
    for t in range(length):
        x = (2 + t) % (size - 8)
        out[t, 10:18, x:x + 8] = (230, 200, 40)
    return out


def write_mp4(path: Path, frames: np.ndarray, fps: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "10", "bf": "0"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def camera_videos(root: Path, episodes: int = 3, length: int = 10) -> Path:
    """``root/<camera>/ep<i>.mp4`` for both cameras, with tasks.json."""
    for e in range(episodes):
        for c, cam in enumerate(CAMERAS):
            write_mp4(root / cam / f"ep{e}.mp4", moving_frames(length + e, seed=10 * e + c))
    (root / "tasks.json").write_text(json.dumps({f"ep{e}": "push the cube"
                                                 for e in range(episodes)}))
    return root


def image_folders(root: Path, episodes: int = 2, length: int = 9) -> Path:
    """``root/ep<i>/<camera>/<t>.png``."""
    from PIL import Image

    for e in range(episodes):
        for c, cam in enumerate(CAMERAS):
            folder = root / f"ep{e}" / cam
            folder.mkdir(parents=True)
            for t, img in enumerate(moving_frames(length, seed=10 * e + c)):
                Image.fromarray(img).save(folder / f"{t:05d}.png")
    return root


def lerobot_dataset(root: Path, episodes: int = 3, length: int = 10, state_dim: int = 8) -> Path:
    from cosmos_policy.data.lerobot import LeRobotWriter, camera_feature, vector_feature

    feats = {f"observation.images.{c}": camera_feature(32, 32, 10) for c in CAMERAS}
    feats["observation.state"] = vector_feature([f"q{i}" for i in range(state_dim)])
    feats["action"] = vector_feature([f"a{i}" for i in range(10)])
    rng = np.random.default_rng(1)
    writer = LeRobotWriter(root, fps=10, robot_type="franka", features=feats)
    for e in range(episodes):
        n = length + e
        rows = {f"observation.images.{c}": moving_frames(n, seed=10 * e + i)
                for i, c in enumerate(CAMERAS)}
        rows["observation.state"] = rng.normal(size=(n, state_dim)).astype(np.float32)
        rows["action"] = rng.normal(size=(n, 10)).astype(np.float32)
        writer.add_episode(rows, "push the cube")
    return writer.finalize()


def hdf5_file(path: Path, episodes: int = 2, length: int = 9) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift",
                                             "env_kwargs": {"control_freq": 20}})
        for e in range(episodes):
            demo = data.create_group(f"demo_{e}")
            obs = demo.create_group("obs")
            for i, cam in enumerate(CAMERAS):
                obs[f"{cam}_image"] = moving_frames(length, seed=10 * e + i)
            obs["robot0_joint_pos"] = np.linspace(0, 1, length * 7, dtype=np.float32).reshape(
                length, 7)
            obs["robot0_gripper_qpos"] = np.tile([0.04, -0.04], (length, 1)).astype(np.float32)
            demo["actions"] = np.zeros((length, 7), np.float32)
    return path


def rosbag(path: Path, length: int = 9, storage: str = "sqlite3",
           compressed_wrist: bool = True) -> Path:
    """A rosbag2 folder: /camera/front/image_raw (Image, rgb8), /camera/wrist/image_raw/
    compressed (CompressedImage, PNG) or Image, /joint_states (8 positions), /prompt."""
    import io

    from PIL import Image
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    front, wrist = moving_frames(length, seed=0), moving_frames(length, seed=1)
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        c_front = writer.add_connection("/camera/front/image_raw", "sensor_msgs/msg/Image",
                                        typestore=ts)
        wrist_type = ("sensor_msgs/msg/CompressedImage" if compressed_wrist
                      else "sensor_msgs/msg/Image")
        c_wrist = writer.add_connection("/camera/wrist/image_raw" + (
            "/compressed" if compressed_wrist else ""), wrist_type, typestore=ts)
        c_joint = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState",
                                        typestore=ts)
        c_prompt = writer.add_connection("/prompt", "std_msgs/msg/String", typestore=ts)
        writer.write(c_prompt, 1, ts.serialize_cdr(T["std_msgs/msg/String"](data="stack it"),
                                                   "std_msgs/msg/String"))
        for t in range(length):
            ns = 1_000_000_000 + t * 100_000_000
            hdr = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](
                sec=ns // 10**9, nanosec=ns % 10**9), frame_id="cam")
            img = T["sensor_msgs/msg/Image"](header=hdr, height=32, width=32, encoding="rgb8",
                                             is_bigendian=0, step=96,
                                             data=front[t].reshape(-1).copy())
            writer.write(c_front, ns, ts.serialize_cdr(img, "sensor_msgs/msg/Image"))
            if compressed_wrist:
                buf = io.BytesIO()
                Image.fromarray(wrist[t]).save(buf, format="PNG")
                msg = T["sensor_msgs/msg/CompressedImage"](
                    header=hdr, format="png", data=np.frombuffer(buf.getvalue(), np.uint8))
            else:
                msg = T["sensor_msgs/msg/Image"](header=hdr, height=32, width=32,
                                                 encoding="bgr8", is_bigendian=0, step=96,
                                                 data=wrist[t][..., ::-1].reshape(-1).copy())
            writer.write(c_wrist, ns + 1000, ts.serialize_cdr(msg, wrist_type))
            js = T["sensor_msgs/msg/JointState"](
                header=hdr, name=[f"j{i}" for i in range(8)],
                position=np.full(8, 0.1 * t), velocity=np.zeros(0), effort=np.zeros(0))
            writer.write(c_joint, ns + 2000, ts.serialize_cdr(js, "sensor_msgs/msg/JointState"))
    return path
