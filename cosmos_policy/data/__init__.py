"""Datasets: the LeRobotDataset v3.0 writer and reader (parquet + mp4 + ``meta/``).

``open_dataset(root)`` reads a v3.0 dataset (ours or one written by LeRobot);
``LeRobotWriter`` writes one, atomically. See :mod:`cosmos_policy.data.lerobot`.
"""

from cosmos_policy.data.lerobot import (
    LeRobotDataset,
    LeRobotWriter,
    camera_feature,
    open_dataset,
    partial_path,
    vector_feature,
)

__all__ = ["LeRobotDataset", "LeRobotWriter", "camera_feature", "open_dataset",
           "partial_path", "vector_feature"]
