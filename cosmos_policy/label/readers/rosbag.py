"""rosbag2 (sqlite3 or MCAP) and ROS 1 recordings, read with ``rosbags`` (no ROS install).

IN is one recording (a rosbag2 folder with ``metadata.yaml``, a ``.mcap``/``.db3``/``.bag``
file) or a folder of them; each recording is one episode. Cameras are the topics of type
``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage``, named by the topic without
``image_raw``/``compressed``/``image`` (``/camera/front/image_raw`` -> ``front``). The
first camera sets the clock: every other camera and ``/joint_states`` (positions) take the
message nearest in time. The task is the last ``std_msgs/msg/String`` on a topic ending in
``prompt`` or ``task``, if any.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.label.episode import Episode, fps_from_timestamps

NAME = "rosbag"
FILE_EXT = (".mcap", ".db3", ".bag")
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
JOINTS = "sensor_msgs/msg/JointState"
STRING = "std_msgs/msg/String"
_DROP = {"image_raw", "compressed", "image", "image_color", "image_rect", "image_rect_color"}


def _is_bag(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in FILE_EXT
    return path.is_dir() and (path / "metadata.yaml").is_file()


def _bags(path: Path) -> list[Path]:
    if _is_bag(path):
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if _is_bag(p))
    return []


def detect(path: Path) -> bool:
    return bool(_bags(path))


def list_episodes(path: Path) -> list[str]:
    bags = _bags(path)
    if _is_bag(path):
        return [path.name]
    return [b.name for b in bags]


def camera_name(topic: str) -> str:
    parts = [p for p in topic.split("/") if p]
    while len(parts) > 1 and parts[-1] in _DROP:
        parts.pop()
    return parts[-1] if parts else topic


def decode_image(msg: object, msgtype: str) -> np.ndarray:
    """A sensor_msgs Image or CompressedImage -> uint8 (H, W, 3) RGB."""
    if msgtype == COMPRESSED:
        from PIL import Image

        with Image.open(io.BytesIO(bytes(msg.data))) as im:  # type: ignore[attr-defined]
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    h, w, enc = int(msg.height), int(msg.width), str(msg.encoding).lower()  # type: ignore
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)  # type: ignore[attr-defined]
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}.get(enc)
    if channels is None:
        raise UserError(f"image encoding {enc!r} is not supported (rgb8, bgr8, rgba8, bgra8, "
                        "mono8)")
    step = int(msg.step) or w * channels  # type: ignore[attr-defined]
    img = data.reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if enc.startswith("bgr"):
        img = img[..., [2, 1, 0]]
    elif channels == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def _nearest(times: np.ndarray, query: np.ndarray) -> np.ndarray:
    idx = np.clip(np.searchsorted(times, query), 1, len(times) - 1)
    left = times[idx - 1]
    return np.where(np.abs(query - left) <= np.abs(times[idx] - query), idx - 1, idx)


def _expected(topic: str) -> tuple[str, ...] | None:
    """The message types a topic's name promises (None: a name we do not read by)."""
    parts = [p for p in topic.split("/") if p]
    if parts and parts[-1] == "joint_states":
        return (JOINTS,)
    if parts and parts[-1] in _DROP:
        return (IMAGE, COMPRESSED)
    if parts and parts[-1] in ("prompt", "task"):
        return (STRING,)
    return None


def _check_types(bag: Path, connections: list) -> None:  # noqa: ANN001 - rosbags Connection
    """A topic named like a camera, the joint states or the prompt but recorded with another
    type is refused with the topic and both types, rather than silently left out."""
    for conn in connections:
        want = _expected(conn.topic)
        if want is not None and conn.msgtype not in want:
            raise UserError(f"{bag.name}: topic {conn.topic} holds {conn.msgtype}, expected "
                            f"{' or '.join(want)}")


def load_episode(path: Path, key: str) -> Episode:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    bag = path if _is_bag(path) else path / key
    images: dict[str, list[tuple[int, np.ndarray]]] = {}
    joints: list[tuple[int, np.ndarray]] = []
    task = ""
    try:
        with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
            _check_types(bag, reader.connections)
            wanted = [c for c in reader.connections
                      if c.msgtype in (IMAGE, COMPRESSED)
                      or (c.msgtype == JOINTS and c.topic.endswith("joint_states"))
                      or (c.msgtype == STRING and c.topic.rstrip("/").endswith(("prompt",
                                                                                "task")))]
            for conn, stamp, raw in reader.messages(connections=wanted):
                try:
                    msg = reader.deserialize(raw, conn.msgtype)
                except Exception as exc:  # a payload that is not what the topic declares
                    raise UserError(f"{bag.name}: a message on {conn.topic} does not decode as "
                                    f"{conn.msgtype} ({type(exc).__name__}: {exc})") from exc
                if conn.msgtype in (IMAGE, COMPRESSED):
                    images.setdefault(camera_name(conn.topic), []).append(
                        (stamp, decode_image(msg, conn.msgtype)))
                elif conn.msgtype == JOINTS:
                    joints.append((stamp, np.asarray(msg.position, np.float32)))
                else:
                    task = str(msg.data)
    except UserError:
        raise
    except Exception as exc:  # rosbags raises many types for a damaged file
        raise UserError(f"{bag.name}: unreadable recording ({type(exc).__name__}: {exc})") \
            from exc
    if not images:
        raise UserError(f"{bag.name}: no sensor_msgs Image or CompressedImage topic")
    cams = sorted(images)
    ref = np.array([t for t, _ in images[cams[0]]], dtype=np.int64)
    frames = {}
    for cam in cams:
        times = np.array([t for t, _ in images[cam]], dtype=np.int64)
        pick = _nearest(times, ref) if len(times) > 1 else np.zeros(len(ref), int)
        frames[cam] = np.stack([images[cam][i][1] for i in pick])
    state = None
    if joints:
        jt = np.array([t for t, _ in joints], dtype=np.int64)
        pick = _nearest(jt, ref) if len(jt) > 1 else np.zeros(len(ref), int)
        state = np.stack([joints[i][1] for i in pick]).astype(np.float32)
    stamps = (ref - ref[0]) / 1e9
    return Episode(frames=frames, state=state, timestamps=stamps, task=task, source_id=key,
                   fps=fps_from_timestamps(stamps))
