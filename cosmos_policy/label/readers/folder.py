"""Folders of videos or image sequences.

Layouts (detected in this order):

* ``IN/<episode>.mp4`` - one video per episode, one camera named ``front``;
* ``IN/<camera>/<episode>.mp4`` - one subfolder per camera, the same episode names in each;
* ``IN/<episode>/<camera>/*.png|jpg`` - image sequences, one subfolder per camera, sorted
  by file name; ``IN/<episode>/*.png|jpg`` is one camera named ``front``.

Task text comes from ``IN/tasks.json`` (``{"<episode>": "task"}``) when present. Frame rate:
the video's, or ``IN/fps.txt`` for images (default 10).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.label.episode import Episode, uniform_timestamps

NAME = "folder"
VIDEO_EXT = (".mp4", ".mkv", ".avi", ".mov", ".webm")
IMAGE_EXT = (".png", ".jpg", ".jpeg")
DEFAULT_CAMERA = "front"


def _files(folder: Path, ext: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ext)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _layout(root: Path) -> str | None:
    if not root.is_dir():
        return None
    if _files(root, VIDEO_EXT):
        return "videos"
    subs = _subdirs(root)
    if subs and all(_files(s, VIDEO_EXT) for s in subs):
        return "camera_videos"
    if subs and all(_files(s, IMAGE_EXT) or any(_files(c, IMAGE_EXT) for c in _subdirs(s))
                    for s in subs):
        return "images"
    return None


def detect(path: Path) -> bool:
    return _layout(path) is not None


def list_episodes(path: Path) -> list[str]:
    layout = _layout(path)
    if layout == "videos":
        return [p.stem for p in _files(path, VIDEO_EXT)]
    if layout == "camera_videos":
        names: set[str] = set()
        for cam in _subdirs(path):
            names |= {p.stem for p in _files(cam, VIDEO_EXT)}
        return sorted(names)
    if layout == "images":
        return [p.name for p in _subdirs(path)]
    raise UserError(f"{path}: not a folder of videos or image sequences")


def read_video(path: Path) -> tuple[np.ndarray, float]:
    """Decode every frame of a video: uint8 (T, H, W, 3) and its frame rate."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 10)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise UserError(f"{path.name}: unreadable video ({exc})") from exc
    if not frames:
        raise UserError(f"{path.name}: the video holds no frame (truncated or corrupt)")
    return np.stack(frames), rate


def read_images(files: list[Path]) -> np.ndarray:
    from PIL import Image

    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except OSError as exc:
            raise UserError(f"{f.name}: unreadable image ({exc})") from exc
    if len({a.shape for a in out}) > 1:
        raise UserError(f"{files[0].parent}: images differ in size")
    return np.stack(out)


def _task(root: Path, key: str) -> str:
    tasks = root / "tasks.json"
    if tasks.is_file():
        return str(json.loads(tasks.read_text()).get(key, ""))
    return ""


def load_episode(path: Path, key: str) -> Episode:
    layout = _layout(path)
    frames: dict[str, np.ndarray] = {}
    if layout == "videos":
        video = next(p for p in _files(path, VIDEO_EXT) if p.stem == key)
        frames[DEFAULT_CAMERA], fps = read_video(video)
    elif layout == "camera_videos":
        fps = 10.0
        for cam in _subdirs(path):
            match = [p for p in _files(cam, VIDEO_EXT) if p.stem == key]
            if not match:
                raise UserError(f"camera {cam.name} has no video for episode {key}")
            frames[cam.name], fps = read_video(match[0])
        n = min(len(v) for v in frames.values())  # encoders may drop a trailing frame
        frames = {c: v[:n] for c, v in frames.items()}
    else:
        folder = path / key
        fps_file = path / "fps.txt"
        fps = float(fps_file.read_text().strip()) if fps_file.is_file() else 10.0
        if _files(folder, IMAGE_EXT):
            frames[DEFAULT_CAMERA] = read_images(_files(folder, IMAGE_EXT))
        for cam in _subdirs(folder):
            if _files(cam, IMAGE_EXT):
                frames[cam.name] = read_images(_files(cam, IMAGE_EXT))
    n = len(next(iter(frames.values())))
    return Episode(frames=frames, state=None, timestamps=uniform_timestamps(n, fps),
                   task=_task(path, key), source_id=key, fps=fps)
