"""The cosmos-policy lifecycle node: a thin rclpy shell over ``PolicyNodeCore``.

The same core, transport and wiring as ``cosmos-policy serve --transport ros``
(``cosmos_policy.serve.ros_server.build_core`` over ``cosmos_policy.transport.ros.
RosTransport``, built on this node with lifecycle publishers); only the lifecycle is added.
configure: load the embodiment and the engine, create publishers, subscriptions and
services. activate: start the control loop. deactivate: hold (brake, stop commanding).
cleanup: free. Services: ``~/enable`` (SetBool), ``~/estop`` (Trigger: brake and hold,
latched until ``~/reset``), ``~/reset`` (Trigger: a new episode, then the e-stop is
released). The prompt is taken from volatile and transient-local publishers alike (a
latched prompt that reaches both subscriptions is handled once). Bad input is counted and
logged (throttled) with what was wrong, and dropped; the core holds.

A robot that goes silent (no ``/joint_states`` sample at all, even a refused one, for the
watchdog's bound: its driver killed or its link down) is braked to rest by the hold and then
sent nothing more until one of its joint states is accepted and fresh again: a restarted
ros2_control driver would otherwise take the stale hold as its target at once. That is
``build_core``'s ``SilentRobotGate`` (``cosmos_policy.serve.shell``); the gauge
``commands_withheld`` in ``/diagnostics`` counts what it held back.
"""

from __future__ import annotations

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from cosmos_policy_ros.params import PARAMETERS


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
        self.transport = None

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
        from cosmos_policy.serve.node_core import NodeConfig, default_projector
        from cosmos_policy.serve.ros_server import build_core
        from cosmos_policy.transport.dds import TransportConfig
        from cosmos_policy.transport.ros import RosTransport

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
            wire = TransportConfig(node=self.get_name(), controller=self._p("controller"),
                                   command_mode=self._p("command_interface"),
                                   gripper_controller=self._p("gripper_controller"),
                                   time_from_start_s=1.0 / (config.command_rate_hz
                                                            or self.emb.command_rate_hz))
            self.transport = RosTransport(self.emb, wire, node=self, lifecycle=True)
            self.core = build_core(self.emb, model, self.transport, config, projector=projector)
        except Exception as exc:  # a bad parameter or engine: say so, stay unconfigured
            if self.transport is not None:
                self.transport.destroy()
                self.transport = None
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
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
        self.transport.destroy()
        self.core = self.transport = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.core is not None:
            self.core.close()
        return TransitionCallbackReturn.SUCCESS


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
