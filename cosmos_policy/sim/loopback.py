"""Closed loop across processes on this machine: ``serve --transport dds`` and ``sim-robot``.

:func:`episodes_over_dds` starts the policy server and the simulated robot as two separate
processes on one DDS domain (the wire a ROS 2 system would see), runs ``episodes`` episodes
and returns the robot's summary and per-episode results. Used by the slow integration test
and by ``benchmarks/dds_success.py``; set ``CYCLONEDDS_URI`` to a loopback configuration
first when the machine has other DDS traffic.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

from cosmos_policy.errors import UserError


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cosmos_policy.cli", *args]


def episodes_over_dds(task: str, embodiment: str, episodes: int, domain_id: int, *,
                      model: str = "default", seed: int = 0, max_episode_s: float | None = None,
                      timeout_s: float = 3600.0, camera_rate_hz: float | None = None,
                      transport: str = "dds") -> dict[str, Any]:
    """Run ``episodes`` episodes of ``task`` with the server and robot as two processes,
    over bare DDS or (``transport="ros"``) as rclpy nodes.

    Returns ``{"summary": robot summary, "episodes": [per-episode dicts], "server_log": str,
    "robot_log": the sim robot's stderr,
    "server_telemetry": the server's telemetry snapshot at exit (None if it printed none)}``.
    """
    server = subprocess.Popen(_cli("serve", "--transport", transport, "--embodiment", embodiment,
                                   "--enabled", "--model", model, "--domain-id", str(domain_id),
                                   "--duration", str(int(timeout_s))),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    drain: threading.Thread | None = None
    try:
        line = ""
        while not line.startswith("serving") and server.poll() is None:
            line = server.stdout.readline() if server.stdout else ""
            lines.append(line)
        if not line.startswith("serving"):
            raise UserError(f"the policy server did not start: {line.strip()}")
        # Read the server's output while it runs: a pipe nobody reads fills (64 KiB) and
        # then blocks whichever server thread writes next (a logger, or DDS's own threads
        # printing to stderr), which would stall the policy mid-episode.
        drain = threading.Thread(target=lambda: lines.extend(iter(server.stdout.readline, "")),
                                 name="server-output", daemon=True)
        drain.start()
        args = ["sim-robot", "--transport", transport, "--embodiment", embodiment, "--task",
                task, "--domain-id", str(domain_id), "--episodes", str(episodes), "--seed",
                str(seed)]
        if max_episode_s is not None:
            args += ["--max-episode-s", str(max_episode_s)]
        if camera_rate_hz is not None:
            args += ["--camera-rate", str(camera_rate_hz)]
        robot = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=timeout_s)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if drain is not None:
            drain.join(timeout=10)
        else:
            lines.extend(server.stdout.readlines() if server.stdout else [])
        log = "".join(lines)
    if robot.returncode != 0:
        raise RuntimeError(f"sim-robot failed ({robot.returncode}): {robot.stderr[-2000:]}")
    per_episode = [json.loads(x.split("episode ", 1)[1]) for x in robot.stderr.splitlines()
                   if "cosmos_policy.sim_robot episode {" in x]
    telemetry = [json.loads(x.split(" ", 1)[1]) for x in log.splitlines()
                 if x.startswith("telemetry {")]
    return {"summary": json.loads(robot.stdout.strip().splitlines()[-1]),
            "episodes": per_episode, "server_log": log, "robot_log": robot.stderr,
            "server_telemetry": telemetry[-1] if telemetry else None}
