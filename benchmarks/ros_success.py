"""Closed-loop success and camera-to-command latency over ROS 2 (rclpy) against the
in-process evaluation, in one run.

    python benchmarks/ros_success.py [--task reach] [--embodiment franka] [--episodes 20] [--dds]

Runs ``--episodes`` episodes with ``cosmos-policy serve --transport ros`` and
``cosmos-policy sim-robot --transport ros`` as two rclpy processes (Fast DDS, the ROS 2
default RMW) on a random domain, loopback discovery only, in real time; with ``--dds`` the
same over bare DDS (cyclonedds) too; then the same seeds with ``cosmos-policy eval`` in one
process (asynchronous inference, simulated time). Prints success with 95 % Wilson intervals
and latencies side by side; writes JSON (default outputs/ros_success.json).

Camera-to-command over the wire: the server's ``camera_to_command`` (wall time from the
oldest camera stamp of an observation to the first command of its chunk handed to the
transport; the loopback hop of that command is not in it). In process the chunk is charged
its measured inference latency in simulated time and taken at the next command tick, so
the figure there is the model's inference latency (wall) rounded up to the tick.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.sim.loopback import episodes_over_dds
from cosmos_policy.sim.report import failure_summary, wilson_interval
from cosmos_policy.transport.endpoints import write_loopback_config


def _lat(stats: dict[str, Any] | None) -> str:
    if not stats or not stats.get("count"):
        return "-"
    return f"{stats['p50_ms']:.1f} / {stats['p99_ms']:.1f}"


def _over_wire(a: argparse.Namespace, transport: str) -> dict[str, Any]:
    wire = episodes_over_dds(a.task, a.embodiment, a.episodes,
                             random.SystemRandom().randint(100, 230), model=a.model,
                             transport=transport)
    n, wins = a.episodes, wire["summary"]["successes"]
    tel = wire["server_telemetry"] or {}
    first = [e["first_command_s"] for e in wire["episodes"] if e.get("first_command_s")]
    return {"successes": wins, "success_rate": wins / n, "ci95": list(wilson_interval(wins, n)),
            "failures": failure_summary(wire["episodes"]), "episodes": wire["episodes"],
            "latency": {k: tel.get("latency", {}).get(k) for k in
                        ("camera_to_command", "camera_to_observation", "inference", "jitter")},
            "first_command_ms_median": 1e3 * float(np.median(first)) if first else None,
            "holds": {k: v for k, v in tel.get("counters", {}).items()
                      if "hold" in k or "miss" in k},
            "server_telemetry": tel}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reach")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--model", default="default")
    p.add_argument("--dds", action="store_true", help="also run the episodes over bare DDS")
    p.add_argument("--out", type=Path, default=Path("outputs/ros_success.json"))
    a = p.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        os.environ.setdefault("ROS_LOG_DIR", str(Path(tmp) / "ros_log"))
        os.environ["CYCLONEDDS_URI"] = write_loopback_config(tmp).as_uri()
        runs["over_ros"] = _over_wire(a, "ros")
        if a.dds:
            runs["over_dds"] = _over_wire(a, "dds")
        ev = subprocess.run([sys.executable, "-m", "cosmos_policy.cli", "eval", "--task", a.task,
                             "--embodiment", a.embodiment, "--episodes", str(a.episodes),
                             "--model", a.model, "--videos", "0", "--out", str(Path(tmp) / "ev")],
                            capture_output=True, text=True)
        if ev.returncode:
            raise SystemExit(ev.stderr[-2000:])
        local = json.loads((Path(tmp) / "ev" / "eval.json").read_text())
    tel = local.get("telemetry", {})
    runs["in_process"] = {**{k: local[k] for k in ("successes", "success_rate", "ci95",
                                                   "failures", "per_episode")},
                          "latency": {"inference": tel.get("inference"),
                                      "model_wall": tel.get("model_wall")}}
    n = a.episodes
    result = {"task": a.task, "embodiment": a.embodiment, "episodes": n, "model": a.model,
              "rclpy": _rclpy_version(), **runs}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2))
    print(f"{a.task}/{a.embodiment}, model {a.model}, {n} episodes, seeds 0-{n - 1}, "
          f"rclpy {result['rclpy']}")
    print("| run | success | 95% CI | camera-to-command p50 / p99 ms | inference p50 / p99 ms |")
    print("| --- | --- | --- | --- | --- |")
    labels = {"over_ros": "over ROS 2 (rclpy, 2 processes, real time)",
              "over_dds": "over bare DDS (2 processes, real time)",
              "in_process": "in process (async, sim time)"}
    for name, run in runs.items():
        lo, hi = run["ci95"]
        lat = run["latency"]
        c2c = _lat(lat.get("camera_to_command")) if name != "in_process" else \
            f"{_lat(lat.get('inference'))} (+ up to one tick)"
        print(f"| {labels[name]} | {run['successes']}/{n} | [{lo:.2f}, {hi:.2f}] | {c2c} | "
              f"{_lat(lat.get('inference'))} |")
    for name, run in runs.items():
        f = run["failures"]
        if f["episodes"]:
            print(f"  {name} failures: median closest approach "
                  f"{100 * f['min_distance_m_median']:.1f} cm, "
                  f"{f['ended_nearest_another_cube']}/{f['episodes']} ended nearest another cube")
        if run.get("holds"):
            print(f"  {name}: {run['holds']}")
    print("->", a.out)


def _rclpy_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("ros-jazzy-rclpy", "ros-rclpy"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"


if __name__ == "__main__":
    main()
