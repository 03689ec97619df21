"""The node's parameters and their defaults: one table shared by the node, the launch file
and the tests (which check the launch file's defaults against it without importing rclpy)."""

PARAMETERS: dict[str, tuple[object, str]] = {
    "embodiment": ("franka", "embodiment name or folder (embodiments/<name>/embodiment.yaml)"),
    "engine": ("default", "model: 'default', 'random' (stand-in) or an engine/bundle folder"),
    "backend": ("onnxruntime", "engine backend: onnxruntime, tensorrt, ..."),
    "prompt": ("", "task prompt until one arrives on ~/prompt (empty: wait)"),
    "command_rate_hz": (0.0, "command rate; 0 uses the embodiment's command_rate_hz"),
    "diagnostics_rate_hz": (1.0, "diagnostics publication rate"),
    "command_interface": ("trajectory",
                          "trajectory (JointTrajectory) or forward (Float64MultiArray)"),
    "controller": ("joint_trajectory_controller", "ros2_control controller to command"),
    "blending": ("rtc", "chunk blending: rtc or ensemble"),
    "start_enabled": (False, "command motion on activate without waiting for ~/enable"),
}
