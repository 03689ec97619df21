"""``cosmos-policy sim-robot``: a MuJoCo tabletop robot on ROS 2 (rclpy) or its wire (bare DDS)."""

from __future__ import annotations

import argparse
import json
import logging
import signal

from cosmos_policy.commands import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=("dds", "ros"), default="dds",
                        help="dds: bare cyclonedds (no ROS needed); ros: an rclpy node")
    options.add_embodiment(parser)
    parser.add_argument("--task", default="reach", help="reach, push or pick_place")
    parser.add_argument("--episodes", type=int, default=1, help="episodes (0: forever)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--domain-id", type=int, default=0, help="ROS_DOMAIN_ID")
    parser.add_argument("--controller", default="joint_trajectory_controller",
                        help="controller whose joint_trajectory and commands topics it obeys")
    parser.add_argument("--gripper-controller", default="gripper_controller",
                        help="controller whose commands topic sets the gripper ('' : none)")
    parser.add_argument("--camera-rate", type=float, default=15.0, help="camera images, Hz")
    parser.add_argument("--joint-state-rate", type=float, default=100.0, help="/joint_states, Hz")
    parser.add_argument("--max-episode-s", type=float, default=None,
                        help="episode time limit (default: the task's steps at the action rate)")
    parser.add_argument("--record", default=None, metavar="FILE.mcap",
                        help="record what the robot sends and takes to MCAP with ROS 2 schemas "
                        "(Foxglove, cosmos-policy label; docs/VIZ.md)")
    parser.add_argument("--rerun", default=None, metavar="FILE.rrd",
                        help="a Rerun recording of the frames, joint states and commands "
                        "(viz extra; docs/VIZ.md)")
    parser.add_argument("--rerun-connect", default=None, metavar="ADDR",
                        help="stream that recording to a running Rerun viewer")


def run(args: argparse.Namespace) -> int:
    from cosmos_policy.errors import UserError
    from cosmos_policy.sim.sim_robot import SimRobot, SimRobotConfig
    from cosmos_policy.sim.tasks import make_task

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    make_task(args.task)
    if args.transport == "ros":
        try:
            import rclpy  # noqa: F401
        except Exception as exc:  # missing, or its libraries not found (docs/ROS2.md)
            raise UserError(f"--transport ros needs rclpy ({exc}): pip install -e '.[ros]' on "
                            "CPython 3.11, or source ROS 2; or use --transport dds") from exc
    if args.rerun is not None or args.rerun_connect is not None:
        from cosmos_policy.viz.rerun_log import require_rerun

        require_rerun()
    if args.episodes < 0:
        raise UserError("--episodes must be >= 0")
    robot = SimRobot(SimRobotConfig(
        task=args.task, embodiment=options.embodiment(args), domain_id=args.domain_id,
        seed=args.seed, episodes=args.episodes, controller=args.controller,
        gripper_controller=args.gripper_controller, camera_rate_hz=args.camera_rate,
        joint_state_rate_hz=args.joint_state_rate, max_episode_s=args.max_episode_s,
        transport=args.transport, record=args.record, rerun=args.rerun,
        rerun_connect=args.rerun_connect))
    signal.signal(signal.SIGTERM, lambda *_: robot.stop())
    try:
        results = robot.run()
    except KeyboardInterrupt:
        results = robot.results
    finally:
        robot.close()
    wins = sum(r["success"] for r in results)
    print(json.dumps({"episodes": len(results), "successes": wins,
                      "commands": robot.commands, "refused_commands": robot.refused}),
          flush=True)
    return 0
