"""Shared test set-up: headless rendering, seeded randomness, skip rules for optional stacks."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

_OPTIONAL = {
    "tensorrt": ("tensorrt", "the tensorrt package does not import here"),
}
# The wire tests' second ROS 2 peer (Kilted): .ci/setup makes this venv beside .venv.
_KILTED = Path(__file__).resolve().parents[1] / ".venv-kilted/bin/python"
if "COSMOS_POLICY_KILTED_PYTHON" not in os.environ and _KILTED.is_file():
    os.environ["COSMOS_POLICY_KILTED_PYTHON"] = str(_KILTED)


def _rclpy_missing() -> str | None:
    """Why rclpy cannot run here, or None. Imported for real: the ROS wheels' libraries
    are found through LD_LIBRARY_PATH, which ros_wheels_bootstrapper sets as Python starts
    (not under ``python -S``/``-I``), so finding the package is not enough."""
    if importlib.util.find_spec("rclpy") is None:
        return "rclpy (ROS 2) is not installed here: the ros extra installs Jazzy on CPython 3.11"
    try:
        import rclpy  # noqa: F401
        import rclpy.lifecycle  # noqa: F401
    except Exception as exc:  # a missing library is an ImportError or an OSError
        return f"rclpy does not import here: {exc}"
    return None


# The sim extra's suites: installed is not enough (robosuite breaks on some MuJoCo versions),
# so these are imported, once, and only when an `external` test was collected.
_EXTERNAL = ("robosuite", "gymnasium_robotics")


def _external_missing() -> str | None:
    """Why the `external` tests cannot run here, or None when both suites import."""
    for module in _EXTERNAL:
        try:
            importlib.import_module(module)
        except Exception as e:  # ImportError, or a suite failing inside its own import
            return f"{module} (sim extra) does not import here: {type(e).__name__}: {e}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, (module, reason) in _OPTIONAL.items():
        if importlib.util.find_spec(module) is None:
            for item in items:
                if marker in item.keywords:
                    item.add_marker(pytest.mark.skip(reason=reason))
    external = [item for item in items if "external" in item.keywords]
    why = _external_missing() if external else None
    if why is not None:
        for item in external:
            item.add_marker(pytest.mark.skip(reason=why))
    ros_items = [item for item in items if "ros" in item.keywords]
    reason = _rclpy_missing() if ros_items else None
    if reason is not None:
        for item in ros_items:
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


@pytest.fixture(scope="module")
def dds_env(tmp_path_factory: pytest.TempPathFactory):
    """A loopback-only Cyclone DDS for a module's tests (modules that use it skip first where
    cyclonedds is missing); yields a random domain id: a fixed one collides with parallel
    runs."""
    import random

    from cosmos_policy.transport.endpoints import write_loopback_config

    path = write_loopback_config(tmp_path_factory.mktemp("dds"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CYCLONEDDS_URI", path.as_uri())
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
        yield random.SystemRandom().randint(100, 230)
