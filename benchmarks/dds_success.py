"""Closed-loop success over the ROS 2 wire against the in-process evaluation, in one run.

    python benchmarks/dds_success.py [--task reach] [--embodiment franka] [--episodes 20]

Runs ``--episodes`` episodes with ``cosmos-policy serve --transport dds`` and
``cosmos-policy sim-robot`` as two processes on a private loopback DDS domain (real time),
then the same seeds with ``cosmos-policy eval`` in one process (asynchronous inference,
simulated time), and prints both success rates with 95 % Wilson intervals. Writes JSON
(default outputs/dds_success.json).
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

import numpy as np

from cosmos_policy.sim.loopback import episodes_over_dds
from cosmos_policy.sim.report import failure_summary, wilson_interval
from cosmos_policy.transport.endpoints import write_loopback_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reach")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--model", default="default")
    p.add_argument("--camera-rate", type=float, default=None,
                   help="the sim robot's camera rate, Hz (default: its own, 15)")
    p.add_argument("--out", type=Path, default=Path("outputs/dds_success.json"))
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CYCLONEDDS_URI"] = write_loopback_config(tmp).as_uri()
        wire = episodes_over_dds(a.task, a.embodiment, a.episodes,
                                 random.SystemRandom().randint(100, 230), model=a.model,
                                 camera_rate_hz=a.camera_rate)
        ev = subprocess.run([sys.executable, "-m", "cosmos_policy.cli", "eval", "--task", a.task,
                             "--embodiment", a.embodiment, "--episodes", str(a.episodes),
                             "--model", a.model, "--videos", "0", "--out", str(Path(tmp) / "ev")],
                            capture_output=True, text=True)
        if ev.returncode:
            raise SystemExit(ev.stderr[-2000:])
        local = json.loads((Path(tmp) / "ev" / "eval.json").read_text())
    n, wins = a.episodes, wire["summary"]["successes"]
    result = {"task": a.task, "embodiment": a.embodiment, "episodes": n, "model": a.model,
              "over_dds": {"successes": wins, "success_rate": wins / n,
                           "ci95": list(wilson_interval(wins, n)),
                           "failures": failure_summary(wire["episodes"]),
                           "episodes": wire["episodes"],
                           "server_telemetry": wire["server_telemetry"]},
              "in_process": {k: local[k] for k in ("successes", "success_rate", "ci95",
                                                   "failures", "per_episode")}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2))
    lo, hi = result["over_dds"]["ci95"]
    print(f"{a.task}/{a.embodiment}, {n} episodes, seeds 0-{n - 1}")
    print(f"  over DDS (2 processes, real time): {wins}/{n}  95% CI [{lo:.2f}, {hi:.2f}]")
    lo, hi = local["ci95"]
    print(f"  in process (async, sim time):      {local['successes']}/{n}  "
          f"95% CI [{lo:.2f}, {hi:.2f}]")
    first = [e["first_command_s"] for e in wire["episodes"]
             if e.get("first_command_s") is not None]
    if first:
        print(f"  over DDS: first command {1e3 * float(np.median(first)):.0f} ms after the "
              f"episode began (median; max {1e3 * max(first):.0f} ms)")
    tel = wire["server_telemetry"] or {}
    lat = tel.get("latency", {})
    for stage in ("inference", "camera_to_observation", "jitter"):
        if stage in lat:
            st = lat[stage]
            print(f"  over DDS: {stage} p50 {st['p50_ms']:.1f} ms, p99 {st['p99_ms']:.1f} ms")
    held = {k: v for k, v in tel.get("counters", {}).items() if "hold" in k or "miss" in k}
    if held:
        print(f"  over DDS: {held}")
    for name in ("over_dds", "in_process"):
        f = result[name]["failures"]
        if f["episodes"]:
            print(f"  {name} failures: median closest approach "
                  f"{100 * f['min_distance_m_median']:.1f} cm, "
                  f"{f['ended_nearest_another_cube']}/{f['episodes']} ended nearest another cube")
    print("->", a.out)


if __name__ == "__main__":
    main()
