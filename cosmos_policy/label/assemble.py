"""Turn finished shards into the final LeRobot v3 dataset (frames re-read from the source).

Every episode must share the first one's cameras, image size and state width; one that
differs is skipped with the reason. The dataset is written by :class:`LeRobotWriter` under
``OUT.partial/dataset`` and moved to ``OUT`` only when complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data.lerobot import LeRobotWriter, camera_feature, vector_feature
from cosmos_policy.errors import UserError
from cosmos_policy.label.readers import load_episode
from cosmos_policy.label.shards import read_shard

ACTION_NAMES = ["x", "y", "z", "r11", "r21", "r31", "r12", "r22", "r32", "gripper"]


def _features(episode, shard: dict[str, Any], fps: int) -> dict[str, dict]:  # noqa: ANN001
    feats = {f"observation.images.{c}": camera_feature(v.shape[1], v.shape[2], fps)
             for c, v in episode.frames.items()}
    s = shard["state"].shape[1]
    feats["observation.state"] = vector_feature([f"s{i}" for i in range(s)])
    a = shard["action"].shape[1]
    feats["action"] = vector_feature(ACTION_NAMES if a == len(ACTION_NAMES)
                                     else [f"a{i}" for i in range(a)])
    feats["action_confidence"] = vector_feature(["confidence"])
    return feats


def assemble(work: Path, out: Path, keys: list[str], *, fmt: str, source: Path,
             robot_type: str, provenance: dict[str, Any],
             skipped: list[dict[str, Any]]) -> tuple[Path, list[dict[str, Any]]]:
    """Write the dataset for ``keys`` (finished shards, in source order) and move it to
    ``out``. Returns its path and one record per written episode; appends to ``skipped``."""
    writer: LeRobotWriter | None = None
    features: dict[str, dict] = {}
    records: list[dict[str, Any]] = []
    target = work / "dataset"
    shutil.rmtree(target, ignore_errors=True)
    try:
        for key in keys:
            shard = read_shard(work, key)
            try:
                episode = load_episode(fmt, source, key)
            except UserError as exc:
                skipped.append({"key": key, "reason": f"re-reading for assembly: {exc}"})
                continue
            if writer is None:
                fps = max(1, round(episode.fps))
                features = _features(episode, shard, fps)
                writer = LeRobotWriter(target, fps=fps, robot_type=robot_type,
                                       features=features, extra_info=provenance)
            rows = {f"observation.images.{c}": v for c, v in episode.frames.items()}
            rows |= {"observation.state": shard["state"], "action": shard["action"],
                     "action_confidence": shard["confidence"][:, None]}
            try:
                index = writer.add_episode(rows, episode.task or "unlabelled task")
            except UserError as exc:
                skipped.append({"key": key, "reason": f"differs from the first episode: {exc}"})
                continue
            records.append({"episode_index": index, "source_id": key,
                            "frames": int(episode.length),
                            "mean_confidence": round(float(np.mean(shard["confidence"])), 4),
                            "cycle": shard.get("cycle"), "notes": shard.get("notes", [])})
        if writer is None:
            raise UserError("no episode could be labelled; see the reasons above")
        provenance["cosmos_policy"]["label"]["episodes"] = records
        writer.finalize()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(target, out)
    return out, records
