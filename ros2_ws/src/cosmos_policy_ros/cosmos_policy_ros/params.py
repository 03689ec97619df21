"""The node's parameters and their defaults: one table shared by the node, the launch file
and the tests (which check the launch file's defaults against it without importing rclpy)."""

PARAMETERS: dict[str, tuple[object, str]] = {
    "embodiment": ("franka", "embodiment name or folder (embodiments/<name>/embodiment.yaml)"),
    "engine": ("default", "model: 'default', 'random' (stand-in), an engine/bundle folder or a "
                          "Cosmos 3 checkpoint folder"),
    "backend": ("onnxruntime", "engine backend: onnxruntime, tensorrt, ..."),
    "prompt": ("", "task prompt until one arrives on ~/prompt (empty: wait)"),
    "command_rate_hz": (0.0, "command rate; 0 uses the embodiment's command_rate_hz"),
    "diagnostics_rate_hz": (1.0, "diagnostics publication rate"),
    "command_interface": ("trajectory",
                          "trajectory (JointTrajectory) or forward (Float64MultiArray)"),
    "controller": ("joint_trajectory_controller", "ros2_control controller to command"),
    "gripper_controller": ("gripper_controller", "the gripper's position controller: its "
                           "commands topic gets the gripper joint's position (empty: none)"),
    "blending": ("rtc", "chunk blending: rtc or ensemble"),
    "start_enabled": (False, "command motion on activate without waiting for ~/enable"),
    "cosmos3_domain": ("", "Cosmos 3 action domain (empty: cosmos3.domain of embodiment.yaml)"),
    "cosmos3_dtype": ("auto", "Cosmos 3 weights: auto, bfloat16, float16 or float32"),
    "cosmos3_device": ("auto", "Cosmos 3 device: auto, cpu, cuda or cuda:N"),
    "cosmos3_chunk": (16, "Cosmos 3 actions per call (a multiple of 4)"),
    "cosmos3_steps": (0, "Cosmos 3 denoising steps (0: the checkpoint's, else policy 4)"),
    "cosmos3_guidance": (0.0, "Cosmos 3 classifier-free guidance (0: the checkpoint's, else 3)"),
    "cosmos3_shift": (0.0, "Cosmos 3 flow schedule shift (0: the checkpoint's, else 5)"),
    "cosmos3_fps": (0.0, "Cosmos 3 frame rate (0: the checkpoint's, DROID 15, else control)"),
    "cosmos3_gripper_flip": ("auto", "Cosmos 3 gripper as 1 - g: auto (on for DROID), on, off"),
    "cosmos3_stats": ("", "Cosmos 3 action statistics file (empty: the checkpoint's)"),
}

# A launch argument left at this value is not passed to the node, so config/<embodiment>.yaml
# (then the node's default above) decides. Passing it would also break launch_ros, which
# reads an empty string as YAML null.
UNSET = ""


def launch_overrides(values: dict[str, str]) -> dict[str, str]:
    """The launch arguments a user set (``name:=value``), to pass after the params file.

    ``values``: every launch argument's string value. Raises ValueError on an unknown name.
    """
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; expected some of {sorted(PARAMETERS)}")
    return {name: value for name, value in values.items() if value != UNSET}
