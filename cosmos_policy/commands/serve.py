"""``cosmos-policy serve``: the policy node over rclpy (ROS 2), bare DDS (ROS 2's wire without
rclpy) or WebSocket + msgpack."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any

from cosmos_policy.commands import options
from cosmos_policy.models.cosmos3_use import add_arguments as cosmos3_arguments
from cosmos_policy.models.cosmos3_use import options_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=("dds", "ros", "websocket"), default="dds",
                        help="ros: an rclpy node (ROS 2 installed); dds: ROS 2 topics without "
                             "rclpy; websocket: openpi-style clients")
    options.add_embodiment(parser)
    options.add_model(parser)
    options.add_backend(parser)
    parser.add_argument("--domain-id", type=int, default=0, help="ROS_DOMAIN_ID (ros, dds)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (websocket)")
    parser.add_argument("--port", type=int, default=8000, help="port (websocket)")
    parser.add_argument("--prompt", default=None, help="task prompt until one arrives")
    parser.add_argument("--controller", default="joint_trajectory_controller",
                        help="ros2_control controller name (ros, dds)")
    parser.add_argument("--gripper-controller", default="gripper_controller",
                        help="the gripper's position controller; its commands topic gets the "
                             "gripper joint's position (ros, dds; '' to leave the gripper alone)")
    parser.add_argument("--command-interface", choices=("trajectory", "forward"),
                        default="trajectory",
                        help="JointTrajectory or Float64MultiArray commands (ros, dds)")
    parser.add_argument("--blending", choices=("rtc", "ensemble"), default="rtc")
    parser.add_argument("--enabled", action="store_true",
                        help="command motion from the start (ros, dds); by default the node starts "
                        "holding, like the ROS 2 node, and moves only after ~/enable true")
    parser.add_argument("--disabled", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (0: until interrupted)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument("--record", default=None, metavar="FILE.mcap",
                        help="record what the server takes and sends to MCAP with ROS 2 "
                        "schemas (websocket: each answered request and its reply; "
                        "docs/VIZ.md)")
    parser.add_argument("--rerun", default=None, metavar="FILE.rrd",
                        help="a Rerun recording of the control loop and the camera frames "
                        "(dds, ros; viz extra; docs/VIZ.md)")
    parser.add_argument("--rerun-connect", default=None, metavar="ADDR",
                        help="stream that recording to a running Rerun viewer")
    cosmos3_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.errors import UserError
    from cosmos_policy.policy.registry import load_model
    from cosmos_policy.policy.stand_ins import warm_up
    from cosmos_policy.serve.node_core import NodeConfig, default_projector

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not 0 <= args.domain_id <= 232:
        raise UserError(f"--domain-id {args.domain_id}: expected 0..232")
    if args.enabled and args.disabled:
        raise UserError("pass --enabled or --disabled, not both (disabled is the default)")
    viz = _rerun_recorder(args, options.embodiment(args))
    ref = options.resolve_model(args)
    if ref.kind == "engine" and ref.path is not None:  # hashes and a passing parity record
        from cosmos_policy.serve.engine_check import verified_engine

        verified_engine(ref.path)
    emb = load_embodiment(options.embodiment(args))
    projector = default_projector(emb)
    model = load_model(args.model, emb, projector=projector, backend=args.backend, seed=args.seed,
                       cosmos3=options_from_args(args))
    took = warm_up(model, emb, args.prompt or "reach the red cube")
    logging.getLogger("cosmos_policy.serve").info("model warmed up in %.2f s", took)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if args.transport == "websocket":
        from cosmos_policy.serve.websocket_server import PolicyWebSocketServer

        server = PolicyWebSocketServer(emb, model, host=args.host, port=args.port,
                                       projector=projector, record=args.record).start()
        print(f"serving {emb.name} on ws://{args.host}:{server.port}", flush=True)
    else:
        from cosmos_policy.transport.dds import TransportConfig

        config = NodeConfig(prompt=args.prompt, blending=args.blending,
                            start_enabled=args.enabled)
        tconfig = TransportConfig(domain_id=args.domain_id, controller=args.controller,
                                  command_mode=args.command_interface,
                                  gripper_controller=args.gripper_controller)
        if args.transport == "ros":
            server = _ros_server(emb, model, tconfig, config, projector, viz, args.record)
            over = "rclpy (ROS 2)"
        else:
            from cosmos_policy.serve.dds_server import DdsPolicyServer

            recording = {} if args.record is None else {"record": args.record}
            server = DdsPolicyServer(emb, model, tconfig, config, projector=projector,
                                     **recording)
            _attach_rerun(server, viz)
            server.start()
            over = "DDS"
        print(f"serving {emb.name} over {over} domain {args.domain_id}: "
              f"{server.transport.topics}", flush=True)
    try:
        done.wait(args.duration or None)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if viz is not None:
            viz.close()
        core = getattr(server, "core", None)
        if core is not None:  # what the run saw: latencies, holds, refusals (one JSON line)
            print("telemetry " + json.dumps(core.telemetry.snapshot(), default=str), flush=True)
    return 0


def _rerun_recorder(args: argparse.Namespace, embodiment: str) -> Any:
    """The --rerun/--rerun-connect recorder (None without them), checked before the model
    loads."""
    from cosmos_policy.errors import UserError

    if args.rerun is None and args.rerun_connect is None:
        return None
    if args.transport == "websocket":
        raise UserError("--rerun records the control loop of --transport dds or ros; the "
                        "websocket server has none")
    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.viz.rerun_log import RerunRecorder

    emb = load_embodiment(embodiment)
    return RerunRecorder(f"serve-{emb.name}", [*emb.joints, "gripper"], path=args.rerun,
                         connect=args.rerun_connect, name=f"serve {emb.name}")


def _attach_rerun(server: Any, viz: Any) -> None:
    if viz is not None:
        from cosmos_policy.viz.rerun_log import attach_node

        attach_node(server.core, viz)


def _ros_server(emb: Any, model: Any, tconfig: Any, config: Any, projector: Any,
                viz: Any = None, record: str | None = None) -> Any:
    """The rclpy server, or one line naming the fix when ROS 2 does not import here."""
    from cosmos_policy.errors import UserError

    try:
        import rclpy  # noqa: F401
    except Exception as exc:  # missing, or its libraries not found (see docs/ROS2.md)
        raise UserError(f"--transport ros needs rclpy ({exc}): pip install -e '.[ros]' on "
                        "CPython 3.11, or source a ROS 2 installation; or use --transport dds"
                        ) from exc
    from cosmos_policy.serve.ros_server import RosPolicyServer

    server = RosPolicyServer(emb, model, tconfig, config, projector=projector, record=record)
    _attach_rerun(server, viz)
    return server.start()
