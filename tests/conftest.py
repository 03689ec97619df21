"""Shared test set-up: headless rendering, seeded randomness, skip rules for optional stacks."""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

_OPTIONAL = {
    "tensorrt": ("tensorrt", "the tensorrt package does not import here"),
    "ros": ("rclpy", "rclpy (ROS 2) is not installed here"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, (module, reason) in _OPTIONAL.items():
        if importlib.util.find_spec(module) is None:
            for item in items:
                if marker in item.keywords:
                    item.add_marker(pytest.mark.skip(reason=reason))
    gpu = False
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        pass
    if not gpu:
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="no CUDA GPU here"))
