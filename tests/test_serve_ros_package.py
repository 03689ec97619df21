"""The ament_python package without ROS: launch arguments (parsed with ast) agree with the
node's declared parameters; parameter files name known parameters with the right types; the
rclpy node itself is tested where rclpy exists (marked ros)."""

from __future__ import annotations

import ast
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

PKG = Path(__file__).resolve().parents[1] / "ros2_ws/src/cosmos_policy_ros"
spec = importlib.util.spec_from_file_location("cp_ros_params", PKG / "cosmos_policy_ros/params.py")
params = importlib.util.module_from_spec(spec)
spec.loader.exec_module(params)
PARAMETERS = params.PARAMETERS


def _launch_arguments() -> list[tuple[str, str, str]]:
    tree = ast.parse((PKG / "launch/policy.launch.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return ast.literal_eval(node.value)
    raise AssertionError("no ARGUMENTS table in policy.launch.py")


def test_launch_arguments_name_every_parameter_and_leave_the_file_in_charge():
    args = _launch_arguments()
    assert {a[0] for a in args} == set(PARAMETERS)
    for name, default, doc in args:
        assert doc, f"{name} has no description"
        # Unset (empty) unless it selects the params file: a default here would override
        # config/<embodiment>.yaml, and launch_ros reads "" as null (a TypeError).
        expected = PARAMETERS["embodiment"][0] if name == "embodiment" else params.UNSET
        assert default == expected, name


def test_launch_passes_the_params_file_before_the_arguments():
    tree = ast.parse((PKG / "launch/policy.launch.py").read_text())
    lists = [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "parameters"]
    assert len(lists) == 1
    assert isinstance(lists[0], ast.List)
    first, second = lists[0].elts
    assert isinstance(first, ast.Name)
    assert first.id == "params_file"
    assert isinstance(second, ast.Call)
    assert second.func.id == "launch_overrides"


def test_launch_overrides_keep_only_arguments_given():
    values = {name: params.UNSET for name in PARAMETERS}
    values.update(embodiment="ur5e", command_rate_hz="100", engine="random")
    assert params.launch_overrides(values) == {"embodiment": "ur5e", "command_rate_hz": "100",
                                               "engine": "random"}
    with pytest.raises(ValueError, match="unknown parameters"):
        params.launch_overrides({"comand_rate_hz": "100"})


@pytest.mark.parametrize("embodiment", ["franka", "ur5e", "so100"])
def test_parameter_files(embodiment):
    data = yaml.safe_load((PKG / f"config/{embodiment}.yaml").read_text())
    values = data["cosmos_policy"]["ros__parameters"]
    assert values["embodiment"] == embodiment
    for key, value in values.items():
        assert key in PARAMETERS, f"{embodiment}.yaml: unknown parameter {key}"
        assert type(value) is type(PARAMETERS[key][0]), f"{embodiment}.yaml: {key} type"
    assert values["command_interface"] in ("trajectory", "forward")


def test_package_manifest_and_entry_point():
    root = ET.parse(PKG / "package.xml").getroot()
    deps = {e.text for e in root.iter("exec_depend")}
    for dep in ("rclpy", "sensor_msgs", "std_msgs", "trajectory_msgs", "diagnostic_msgs",
                "std_srvs", "lifecycle_msgs", "launch_ros"):
        assert dep in deps
    assert root.find("export/build_type").text == "ament_python"
    assert (PKG / "resource/cosmos_policy_ros").is_file()
    assert "policy_node = cosmos_policy_ros.policy_node:main" in (PKG / "setup.py").read_text()
    ast.parse((PKG / "cosmos_policy_ros/policy_node.py").read_text())


@pytest.mark.ros
def test_lifecycle_node_configures_with_stand_in_model():
    import sys

    import rclpy
    from rclpy.parameter import Parameter
    sys.path.insert(0, str(PKG))
    from cosmos_policy_ros.policy_node import PolicyNode

    rclpy.init()
    try:
        node = PolicyNode(parameter_overrides=[Parameter("engine", value="random")])
        # The state after each transition (Jazzy returns it, Kilted a callback result).
        for trigger, label in ((node.trigger_configure, "inactive"),
                               (node.trigger_activate, "active"),
                               (node.trigger_deactivate, "inactive"),
                               (node.trigger_cleanup, "unconfigured")):
            trigger()
            assert node._state_machine.current_state[1] == label
        node.destroy_node()
    finally:
        rclpy.shutdown()
