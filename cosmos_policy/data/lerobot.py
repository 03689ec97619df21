"""LeRobotDataset v3.0: the writer and the reader (see docs/CONTRACTS.md)."""

from cosmos_policy.data.layout import (
    POSE9_NAMES,
    camera_feature,
    partial_path,
    vector_feature,
)
from cosmos_policy.data.lerobot_reader import LeRobotDataset, open_dataset
from cosmos_policy.data.lerobot_writer import LeRobotWriter

__all__ = ["POSE9_NAMES", "LeRobotDataset", "LeRobotWriter", "camera_feature", "open_dataset",
           "partial_path", "vector_feature"]
