"""The cosmos-policy lifecycle node: a thin rclpy shell over ``PolicyNodeCore``.

configure: load the embodiment and the engine, create publishers and subscriptions.
activate: start the control loop. deactivate: hold (brake, stop commanding). cleanup: free.
Services: ``~/enable`` (SetBool), ``~/estop`` (Trigger: brake and hold, latched until
``~/reset``), ``~/reset`` (Trigger: a new episode, then the e-stop is released).
The prompt is taken from volatile and transient-local publishers alike (two
subscriptions; a latched prompt that reaches both is handled once).
Images (``sensor_msgs/Image``, ``CompressedImage``) are decoded by
``cosmos_policy.transport.images`` (no cv_bridge); joint states by ``JointStateDecoder``.
Bad input is logged (throttled) with what was wrong and dropped; the core holds.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from cosmos_policy_ros.params import PARAMETERS

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      history=HistoryPolicy.KEEP_LAST)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class PolicyNode(LifecycleNode):
    """Parameters: see ``params.PARAMETERS`` (same defaults as the launch file)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("cosmos_policy", **kwargs)
        for name, (default, doc) in PARAMETERS.items():
            # A double also takes an integer (`-p command_rate_hz:=100`, or `100` in YAML):
            # rclpy would refuse it at start; _p checks and converts it instead.
            self.declare_parameter(name, default, ParameterDescriptor(
                description=doc, dynamic_typing=isinstance(default, float)))
        self.core = None
        self._recent_prompts: deque = deque(maxlen=16)

    def _p(self, name: str):
        value = self.get_parameter(name).value
        if isinstance(PARAMETERS[name][0], float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"parameter {name}: expected a number, got {value!r}")
            return float(value)
        return value

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from cosmos_policy.embodiment import load_embodiment
        from cosmos_policy.models.cosmos3_use import Cosmos3Options
        from cosmos_policy.policy.registry import load_model
        from cosmos_policy.policy.stand_ins import warm_up
        from cosmos_policy.serve.node_core import NodeConfig, PolicyNodeCore, default_projector
        from cosmos_policy.transport.convert import GripperPacer, JointStateDecoder

        try:
            self.emb = load_embodiment(self._p("embodiment"))
            projector = default_projector(self.emb)
            cosmos3 = Cosmos3Options.from_parameters(self._p)
            model = load_model(self._p("engine"), self.emb, projector=projector,
                               backend=self._p("backend"),
                               cosmos3=cosmos3)
            warm_up(model, self.emb, self._p("prompt") or "reach the red cube")  # lazy loads now
            config = NodeConfig(prompt=self._p("prompt") or None,
                                command_rate_hz=self._p("command_rate_hz") or None,
                                blending=self._p("blending"),
                                diagnostics_period_s=1.0 / self._p("diagnostics_rate_hz"),
                                start_enabled=self._p("start_enabled"))
            self.core = PolicyNodeCore(self.emb, model, self, config, projector=projector)
        except Exception as exc:  # a bad parameter or engine: say so, stay unconfigured
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.joints = JointStateDecoder(self.emb)
        ctrl = self._p("controller").strip("/")
        self.forward = self._p("command_interface") == "forward"
        self.cmd_pub = (self.create_lifecycle_publisher(Float64MultiArray, f"/{ctrl}/commands",
                                                        RELIABLE) if self.forward else
                        self.create_lifecycle_publisher(JointTrajectory,
                                                        f"/{ctrl}/joint_trajectory", RELIABLE))
        grip = self._p("gripper_controller").strip("/")
        self.grip_pub = (self.create_lifecycle_publisher(Float64MultiArray, f"/{grip}/commands",
                                                         RELIABLE) if grip else None)
        self.grip_pacer = GripperPacer()
        self.diag_pub = self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics",
                                                        RELIABLE)
        # Two prompt subscriptions: a transient-local one gets a latched prompt, a volatile
        # one matches default publishers (`ros2 topic pub`), which the first would not.
        self.subs = [self.create_subscription(JointState, "/joint_states", self._on_joints,
                                              qos_profile_sensor_data),
                     self.create_subscription(String, "~/prompt",
                                              lambda m, i: self._on_prompt(m, i), LATCHED),
                     self.create_subscription(String, "~/prompt",
                                              lambda m, i: self._on_prompt(m, i), RELIABLE)]
        for cam in self.emb.cameras:
            compressed = cam.topic.rstrip("/").endswith("/compressed")
            self.subs.append(self.create_subscription(
                CompressedImage if compressed else Image, cam.topic,
                lambda msg, c=cam, z=compressed: self._on_image(c, z, msg),
                qos_profile_sensor_data))
        self.srvs = [self.create_service(Trigger, "~/reset", self._on_reset),
                     self.create_service(SetBool, "~/enable", self._on_enable),
                     self.create_service(Trigger, "~/estop", self._on_estop)]
        self.get_logger().info(f"configured {self.emb.name} with engine {self._p('engine')}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        super().on_activate(state)
        self.core.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.enable(False)  # brake first, then stop commanding
        self.core.stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.close()
        for sub in self.subs:
            self.destroy_subscription(sub)
        for srv in self.srvs:
            self.destroy_service(srv)
        self.destroy_publisher(self.cmd_pub)
        if self.grip_pub is not None:
            self.destroy_publisher(self.grip_pub)
        self.destroy_publisher(self.diag_pub)
        self.core = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.core is not None:
            self.core.close()
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ inbound
    def _warn(self, what: str, exc: Exception) -> None:
        self.get_logger().warning(f"refused {what}: {exc}", throttle_duration_sec=5.0)

    def _on_image(self, cam, compressed: bool, msg) -> None:
        from cosmos_policy.transport.convert import header_seconds
        from cosmos_policy.transport.images import compressed_to_rgb, image_to_rgb

        try:
            decode = compressed_to_rgb if compressed else image_to_rgb
            msg.data = bytes(msg.data)
            rgb = decode(msg, (cam.height, cam.width))
        except Exception as exc:
            return self._warn(f"image on {cam.topic}", exc)
        reason = self.core.on_image(cam.name, rgb, header_seconds(msg.header))
        if reason:
            self._warn(f"image on {cam.topic}", ValueError(reason))

    def _on_joints(self, msg: JointState) -> None:
        try:
            reading = self.joints.decode(msg)
        except Exception as exc:
            return self._warn("joint state", exc)
        if reading is not None:
            reason = self.core.on_joint_state(reading.state, reading.stamp, reading.velocities)
            if reason:
                self._warn("joint state", ValueError(reason))

    def _on_prompt(self, msg: String, info=None) -> None:
        # A transient-local publisher reaches both subscriptions: handle its sample once.
        if info is not None:
            key = (bytes((info.get("publisher_gid") or {}).get("data", b"")),
                   info.get("source_timestamp"), info.get("publication_sequence_number"))
            if key in self._recent_prompts:
                return
            self._recent_prompts.append(key)
        reason = self.core.on_prompt(msg.data)
        if reason:
            self._warn("prompt", ValueError(reason))

    def _on_reset(self, request, response):
        # A new episode first, then release a latched e-stop: no old-plan command between.
        response.success, response.message = self.core.reset()
        if response.success:
            self.core.release_estop()
        return response

    def _on_estop(self, request, response):
        self.core.estop()
        response.success, response.message = True, "e-stop latched: holding until ~/reset"
        return response

    def _on_enable(self, request, response):
        response.success, response.message = self.core.enable(bool(request.data))
        return response

    # ------------------------------------------------------------------ the core's transport
    def send(self, command) -> None:
        """Called by the core's loop with a SentCommand (already made safe): the arm to its
        controller, the gripper (the last value) to the gripper's position controller."""
        from cosmos_policy.transport.convert import gripper_joint_position

        n = self.emb.n_joints
        q = np.asarray(command.positions[:n], dtype=np.float64)
        if not np.all(np.isfinite(q)):
            raise ValueError("non-finite command")
        if self.grip_pub is not None and len(command.positions) > n:
            opening = float(command.positions[n])
            grip = gripper_joint_position(self.emb, opening)  # ValueError on NaN
            if self.grip_pacer.due(opening, float(command.time)):
                self.grip_pub.publish(Float64MultiArray(data=[grip]))
        if self.forward:
            self.cmd_pub.publish(Float64MultiArray(data=q.tolist()))
            return
        point = JointTrajectoryPoint(positions=q.tolist(),
                                     velocities=np.asarray(command.velocities[:n]).tolist())
        period = 1.0 / self.core.loop.config.rate_hz
        point.time_from_start.nanosec = int(period * 1e9)
        self.cmd_pub.publish(JointTrajectory(joint_names=list(self.emb.joints), points=[point]))

    def publish_diagnostics(self, telemetry, level: int = 0, message: str = "",
                            stamp: float = 0.0) -> None:
        from cosmos_policy.transport.convert import diagnostics_msg

        ours = diagnostics_msg(telemetry, "cosmos_policy", level, message, self.emb.name)
        status = DiagnosticStatus(level=bytes([level]), name="cosmos_policy", message=message,
                                  hardware_id=self.emb.name,
                                  values=[KeyValue(key=kv.key, value=kv.value)
                                          for kv in ours.status[0].values])
        out = DiagnosticArray(status=[status])
        out.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(out)


def main(args=None) -> None:
    rclpy.init(args=args)
    node = PolicyNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C, or the context shut down from outside (Kilted raises the latter)
    finally:
        if node.core is not None:
            node.core.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
