"""Soak: the closed loop at the command rate for a long time, watching for slow leaks.

A program, not a test. The control loop exactly as ``serve`` builds it (:func:`build_loop`
with the kinematic projector and the workspace guard, the watchdog, threaded inference)
runs on its own thread at the embodiment's command rate (100 Hz for the Franka) with the
shipped model (``--model default``: the ONNX engine of ``engines/default``) for
``--minutes`` (default 30). The robot is a perfectly tracking arm: every command comes back
at once as the next joint state; the cameras push, at ``--camera-rate``, frames rendered
once from the simulator's scene at start (the model sees a real scene; rendering every
frame would measure MuJoCo, not the runtime).

Reported (JSON, ``--out``):

* deadline misses (the loop's count) and command-interval jitter: ``|interval - period|``
  p50/p99/max over every command of the run;
* resident memory (MB) at start (after warm-up and ``--settle-s``) and at the end, the
  growth in MB/hour from those two points and from a least-squares fit over samples taken
  every ``--sample-s``;
* open file descriptors and threads (OS threads, and Python's) at start and at the end;
* chunks, inference latency, holds, refusals.

    python benchmarks/soak.py [--minutes 30] [--out outputs/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.runtime import (
    MonotonicClock,
    ObservationSync,
    SyncConfig,
    Telemetry,
    ThreadedInference,
    Watchdog,
    build_loop,
)
from cosmos_policy.serve.node_core import default_guard, default_projector


def _status(field: str) -> int:
    """An integer field of /proc/self/status (kB for VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def resources() -> dict[str, float]:
    """Resident memory (MB), open file descriptors, OS and Python threads, now."""
    return {"rss_mb": _status("VmRSS") / 1024.0, "fds": len(os.listdir("/proc/self/fd")),
            "os_threads": _status("Threads"), "python_threads": threading.active_count()}


def scene_frames(embodiment: str, task: str, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Camera frames of the task's scene at reset, and its prompt."""
    from cosmos_policy.sim import make_env

    env = make_env(task, embodiment, action_mode="joint")
    try:
        obs, _ = env.reset(seed=seed)
        return {k: np.asarray(v) for k, v in obs["images"].items()}, str(obs["prompt"])
    finally:
        env.close()


def soak(args: argparse.Namespace) -> dict:
    from cosmos_policy.policy.registry import load_model
    from cosmos_policy.policy.stand_ins import warm_up

    emb = load_embodiment(args.embodiment)
    projector = default_projector(emb)
    model = load_model(args.model, emb, projector=projector, seed=args.seed)
    frames, prompt = scene_frames(emb.name, args.task, args.seed)
    warm_s = warm_up(model, emb, prompt)

    clock = MonotonicClock()
    telemetry = Telemetry()
    sync = ObservationSync(emb, clock, SyncConfig(), telemetry)
    sync.set_prompt(prompt)
    loop = build_loop(emb, clock=clock, sync=sync, telemetry=telemetry,
                      inference=ThreadedInference(model, clock, telemetry),
                      projector=projector, guard=default_guard(emb), watchdog=Watchdog())
    period = 1.0 / emb.command_rate_hz
    seconds = args.minutes * 60.0
    # Preallocated before the memory baseline: the recording must not look like a leak.
    stamps = np.zeros(int((seconds + args.settle_s) * emb.command_rate_hz * 1.2) + 1000)
    n_stamps = 0
    holds = 0
    stop = threading.Event()

    def on_command(cmd) -> None:  # the robot: perfect tracking, the joint state back at once
        nonlocal n_stamps, holds
        if n_stamps < len(stamps):
            stamps[n_stamps] = time.monotonic()
            n_stamps += 1
        if cmd.reasons and any(r.startswith("hold:") for r in cmd.reasons):
            holds += 1
        sync.push_state(cmd.positions, clock.now())

    def cameras() -> None:
        next_t = time.monotonic()
        while not stop.is_set():
            t = clock.now()
            for cam, img in frames.items():
                sync.push_image(cam, img, t)
            next_t += 1.0 / args.camera_rate
            stop.wait(max(0.0, next_t - time.monotonic()))

    sync.push_state(np.append(emb.home, 0.0), clock.now())
    loop.subscribe(on_command)
    cam = threading.Thread(target=cameras, name="soak-cameras", daemon=True)
    cam.start()
    loop.start()
    time.sleep(args.settle_s)  # first chunks, ONNX Runtime arenas, caches: not a leak
    start = resources()
    start_stamp, misses0 = n_stamps, loop.deadline_misses
    t0 = time.monotonic()
    samples = [(0.0, start["rss_mb"])]
    while (elapsed := time.monotonic() - t0) < seconds:
        time.sleep(min(args.sample_s, seconds - elapsed))
        samples.append((time.monotonic() - t0, resources()["rss_mb"]))
        if args.progress:
            print(f"{samples[-1][0] / 60:6.1f} min  rss {samples[-1][1]:8.1f} MB  "
                  f"misses {loop.deadline_misses - misses0}", flush=True)
    end = resources()
    duration = time.monotonic() - t0
    loop.stop()
    stop.set()
    cam.join(2.0)
    loop.inference.close()

    intervals = np.diff(stamps[start_stamp:n_stamps])
    dev_ms = np.abs(intervals - period) * 1e3
    t, rss = np.array(samples).T
    slope = float(np.polyfit(t / 3600.0, rss, 1)[0]) if len(t) >= 3 else float("nan")
    snap = telemetry.snapshot()
    return {
        "benchmark": "soak", "model": args.model, "embodiment": emb.name, "task": args.task,
        "command_rate_hz": emb.command_rate_hz, "camera_rate_hz": args.camera_rate,
        "minutes": round(duration / 60.0, 3), "warm_up_s": round(warm_s, 3),
        "commands": int(len(intervals) + 1),
        "deadline_misses": int(loop.deadline_misses - misses0),
        "deadline_miss_rate": (loop.deadline_misses - misses0) / max(len(intervals), 1),
        "jitter_ms": {"p50": float(np.percentile(dev_ms, 50)),
                      "p99": float(np.percentile(dev_ms, 99)), "max": float(dev_ms.max())},
        "memory_mb": {"start": round(start["rss_mb"], 1), "end": round(end["rss_mb"], 1),
                      "growth_mb_per_hour": round((end["rss_mb"] - start["rss_mb"])
                                                  / (duration / 3600.0), 2),
                      "fit_mb_per_hour": round(slope, 2),
                      "samples": [[round(a, 1), round(b, 1)] for a, b in samples]},
        "fds": {"start": start["fds"], "end": end["fds"]},
        "threads": {"os_start": start["os_threads"], "os_end": end["os_threads"],
                    "python_start": start["python_threads"],
                    "python_end": end["python_threads"]},
        "chunks": int(snap["counters"].get("chunks", 0)),
        "inference_ms": snap["latency"]["inference"],
        "hold_commands": holds,
        "counters": snap["counters"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="soak duration (default 30)")
    p.add_argument("--model", default="default", help="--model as in eval/serve")
    p.add_argument("--embodiment", default="franka")
    p.add_argument("--task", default="reach", help="the scene the camera frames show")
    p.add_argument("--camera-rate", type=float, default=30.0, help="frames per second")
    p.add_argument("--settle-s", type=float, default=20.0,
                   help="seconds run before the start figures are taken")
    p.add_argument("--sample-s", type=float, default=10.0, help="memory sample period (s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="print a line per sample")
    p.add_argument("--out", type=Path, default=Path("outputs/soak.json"))
    args = p.parse_args()
    if not args.minutes > 0:
        p.error("--minutes must be > 0")
    result = soak(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    shown = {k: result[k] for k in ("minutes", "commands", "deadline_misses", "jitter_ms",
                                    "fds", "threads", "chunks")}
    shown["memory_mb"] = {k: v for k, v in result["memory_mb"].items() if k != "samples"}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
