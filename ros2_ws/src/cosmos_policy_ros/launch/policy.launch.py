"""Launch the cosmos-policy lifecycle node, configured and activated.

ros2 launch cosmos_policy_ros policy.launch.py embodiment:=ur5e engine:=/path/to/engine
Parameters, later ones winning: the node's defaults (cosmos_policy_ros/params.py), then
config/<embodiment>.yaml, then the arguments given here. An argument left unset (empty) is
not passed at all, so it never overrides the embodiment's file (and launch_ros never reads
an empty string as null). Checked by tests/test_serve_ros_package.py.
"""

from cosmos_policy_ros.params import launch_overrides
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

UNSET_DOC = " (unset: config/<embodiment>.yaml, else the node's default)"
ARGUMENTS = [
    ("embodiment", "franka", "embodiment name; also selects config/<embodiment>.yaml"),
    ("engine", "", "model: 'default', 'random' (stand-in), an engine/bundle folder or a "
                   "Cosmos 3 checkpoint folder"),
    ("backend", "", "engine backend: onnxruntime, tensorrt, ..."),
    ("prompt", "", "task prompt until one arrives on ~/prompt"),
    ("command_rate_hz", "", "command rate (Hz); 0 uses the embodiment's command_rate_hz"),
    ("diagnostics_rate_hz", "", "diagnostics publication rate (Hz)"),
    ("command_interface", "", "trajectory (JointTrajectory) or forward"),
    ("controller", "", "ros2_control controller to command"),
    ("gripper_controller", "", "the gripper's position controller: its commands topic "
                               "gets the gripper joint's position"),
    ("blending", "", "chunk blending: rtc or ensemble"),
    ("start_enabled", "", "command motion on activate without waiting for ~/enable"),
    ("cosmos3_domain", "", "Cosmos 3 action domain"),
    ("cosmos3_dtype", "", "Cosmos 3 weights: auto, bfloat16, float16 or float32"),
    ("cosmos3_device", "", "Cosmos 3 device: auto, cpu, cuda or cuda:N"),
    ("cosmos3_chunk", "", "Cosmos 3 actions per call (a multiple of 4)"),
    ("cosmos3_steps", "", "Cosmos 3 denoising steps"),
    ("cosmos3_guidance", "", "Cosmos 3 classifier-free guidance"),
    ("cosmos3_shift", "", "Cosmos 3 flow schedule shift"),
    ("cosmos3_fps", "", "Cosmos 3 frame rate"),
    ("cosmos3_gripper_flip", "", "Cosmos 3 gripper as 1 - g: auto, on or off"),
    ("cosmos3_stats", "", "Cosmos 3 action statistics file"),
]


def _node_and_transitions(context, *args, **kwargs):
    values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    share = FindPackageShare("cosmos_policy_ros").perform(context)
    params_file = f"{share}/config/{values['embodiment']}.yaml"
    node = LifecycleNode(
        package="cosmos_policy_ros", executable="policy_node", name="cosmos_policy",
        namespace="", output="screen",
        parameters=[params_file, launch_overrides(values)])  # the file first: args win
    transitions = [EmitEvent(event=ChangeState(lifecycle_node_matcher=lambda a: a is node,
                                               transition_id=t))
                   for t in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE)]
    return [node, *transitions]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default,
                                  description=doc + (UNSET_DOC if default == "" else ""))
            for name, default, doc in ARGUMENTS]
    return LaunchDescription([*args, OpaqueFunction(function=_node_and_transitions)])
