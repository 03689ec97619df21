"""Readers of unlabelled demonstrations, one module per format, all returning an Episode.

Each reader module has ``NAME``, ``detect(path) -> bool``, ``list_episodes(path) ->
list[str]`` and ``load_episode(path, key) -> Episode``. Episode keys are strings, so a
worker process can load an episode from (format, path, key) alone.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from cosmos_policy.errors import UnknownNameError, UserError
from cosmos_policy.label.episode import Episode
from cosmos_policy.label.readers import folder, hdf5, lerobot, rosbag

#: format name -> reader module, in detection order (the most specific first).
READERS: dict[str, ModuleType] = {
    lerobot.NAME: lerobot,
    hdf5.NAME: hdf5,
    rosbag.NAME: rosbag,
    folder.NAME: folder,
}


def reader(name: str) -> ModuleType:
    if name not in READERS:
        raise UnknownNameError("input format", name, list(READERS))
    return READERS[name]


def detect_format(path: Path) -> str:
    """The format of ``path``; a UserError lists what each format looks like otherwise."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    for name, module in READERS.items():
        if module.detect(path):
            return name
    raise UserError(
        f"{path}: unknown input format; expected a LeRobot v3 dataset (meta/info.json), a "
        "robomimic HDF5 file (.hdf5/.h5), a rosbag2 folder / .mcap / .db3 / .bag (or a folder "
        "of them), or a folder of videos (<ep>.mp4, <camera>/<ep>.mp4) or image sequences "
        "(<ep>/<camera>/*.png)")


def list_episodes(fmt: str, path: Path) -> list[str]:
    keys = reader(fmt).list_episodes(Path(path))
    if not keys:
        raise UserError(f"{path}: no episode found ({fmt})")
    return keys


def load_episode(fmt: str, path: Path, key: str) -> Episode:
    return reader(fmt).load_episode(Path(path), key)


__all__ = ["READERS", "Episode", "detect_format", "list_episodes", "load_episode", "reader"]
