"""Launch the cosmos-policy lifecycle node, configured and activated.

ros2 launch cosmos_policy_ros policy.launch.py embodiment:=franka engine:=/path/to/engine
Parameters come from config/<embodiment>.yaml, then from these arguments (which win).
Defaults here equal the node's declared defaults (checked by tests/test_serve_ros_package.py).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

ARGUMENTS = [
    ("embodiment", "franka", "embodiment name; also selects config/<embodiment>.yaml"),
    ("engine", "default", "model: 'default', 'random' (stand-in), an engine/bundle folder or a "
                          "Cosmos 3 checkpoint folder"),
    ("backend", "onnxruntime", "engine backend: onnxruntime, tensorrt, ..."),
    ("prompt", "", "task prompt until one arrives on ~/prompt (empty: wait)"),
    ("command_rate_hz", "0.0", "command rate; 0 uses the embodiment's command_rate_hz"),
    ("diagnostics_rate_hz", "1.0", "diagnostics publication rate"),
    ("command_interface", "trajectory", "trajectory (JointTrajectory) or forward"),
    ("controller", "joint_trajectory_controller", "ros2_control controller to command"),
    ("gripper_controller", "gripper_controller", "the gripper's position controller: its "
                           "commands topic gets the gripper joint's position (empty: none)"),
    ("blending", "rtc", "chunk blending: rtc or ensemble"),
    ("start_enabled", "false", "command motion on activate without waiting for ~/enable"),
    ("cosmos3_domain", "", "Cosmos 3 action domain (empty: cosmos3.domain of embodiment.yaml)"),
    ("cosmos3_dtype", "auto", "Cosmos 3 weights: auto, bfloat16, float16 or float32"),
    ("cosmos3_device", "auto", "Cosmos 3 device: auto, cpu, cuda or cuda:N"),
    ("cosmos3_chunk", "16", "Cosmos 3 actions per call (a multiple of 4)"),
    ("cosmos3_steps", "35", "Cosmos 3 denoising steps"),
]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=doc)
            for name, default, doc in ARGUMENTS]
    params_file = PathJoinSubstitution([FindPackageShare("cosmos_policy_ros"), "config",
                                        [LaunchConfiguration("embodiment"), ".yaml"]])
    node = LifecycleNode(
        package="cosmos_policy_ros", executable="policy_node", name="cosmos_policy",
        namespace="", output="screen",
        parameters=[params_file, {name: LaunchConfiguration(name) for name, _, _ in ARGUMENTS}])
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=lambda action: action is node,
        transition_id=Transition.TRANSITION_CONFIGURE))
    activate = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=lambda action: action is node,
        transition_id=Transition.TRANSITION_ACTIVATE))
    return LaunchDescription([*args, node, configure, activate])
