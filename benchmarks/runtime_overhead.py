"""Runtime overhead per command and command-stream jitter at the command rate.

A program, not a test. Two measurements on the real Franka embodiment:

1. Overhead: ``ControlLoop.tick`` in lockstep (simulated clock) with a model stub that
   returns a precomputed chunk at once, so the figure excludes model inference and
   includes observation sync, chunk intake, blending + interpolation, projection, safety
   and telemetry. Goal: p99 < 2 ms.
2. Jitter: the loop on its own thread at ``control.command_rate_hz`` (real clock) while a
   CPU-heavy stand-in model runs in the inference thread, in three flavours: numpy matmuls
   (release the GIL, like ONNX Runtime / torch kernels), pure Python holding the GIL, and
   pure Python with ``LoopConfig.switch_interval_s`` lowered. Goal: p99 < 1 ms.

The model is a stand-in (a stub returning plausible chunks after a configurable delay), and
the projector is ``cosmos_policy.kinematics.KinematicProjector`` when it imports, else a
stand-in that maps the first three joints to the EE position (reported in the JSON).

    python benchmarks/runtime_overhead.py [--seconds 5] [--out outputs/runtime_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

# One BLAS thread for the stand-in model: on a small machine the model must leave a core to
# the control loop, as a deployment would pin it (set before numpy loads its BLAS).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.runtime import (  # noqa: E402
    LockstepInference,
    ManualClock,
    MonotonicClock,
    ObservationSync,
    SyncConfig,
    Telemetry,
    ThreadedInference,
    build_loop,
)
from cosmos_policy.spec import ActionChunk, Observation  # noqa: E402

EMB = load_embodiment("franka")
N = EMB.n_joints
IDENTITY6 = np.array([1.0, 0, 0, 0, 1, 0])


class StandInProjector:
    """Cheap stand-in for KinematicProjector: EE position = joints 1..3 (for timing only)."""

    def to_unified(self, q: np.ndarray, gripper: float) -> np.ndarray:
        return np.concatenate([q[:3], IDENTITY6, [gripper]])

    def to_joint_targets(self, action, q_current, representation="absolute") -> np.ndarray:
        return np.concatenate([action[:3], q_current[3:], [action[9]]])


def make_projector() -> tuple[object, str]:
    try:
        from cosmos_policy.kinematics import KinematicProjector  # noqa: PLC0415
    except ImportError:
        return StandInProjector(), "stand-in (cosmos_policy.kinematics not available)"
    return KinematicProjector(EMB), "cosmos_policy.kinematics.KinematicProjector"


class StubModel:
    """Returns a plausible 16-step EE chunk (a slow sweep from the observed pose).

    work: "none" (instant), "numpy" (matmuls, GIL released) or "python" (GIL held),
    for about ``delay_s`` seconds per call.
    """

    def __init__(self, projector, work: str = "none", delay_s: float = 0.0) -> None:
        self.projector, self.work, self.delay_s = projector, work, delay_s
        self._a = np.random.default_rng(0).normal(size=(512, 512)).astype(np.float32)
        self.calls, self.wall_s = 0, 0.0

    def policy(self, obs: Observation) -> ActionChunk:
        t0 = time.perf_counter()
        end = t0 + self.delay_s
        if self.work == "numpy":
            while time.perf_counter() < end:
                self._a = np.tanh(self._a @ self._a * 1e-3)
        elif self.work == "python":
            x = 0
            while time.perf_counter() < end:
                for i in range(2000):
                    x += i * i
        base = np.asarray(self.projector.to_unified(obs.state[:N], float(obs.state[N])))
        dt = 1.0 / EMB.control_rate_hz
        actions = np.tile(base, (16, 1))
        # 2 cm/s along x, turning back every 50 chunks (6 s at the overhead run's chunk rate),
        # so the arm stays near home: a one-way drift leaves the arm's reach within a minute,
        # and every tick then pays the IK's iteration cap for a target no arm could reach.
        direction = 1.0 if (self.calls // 50) % 2 == 0 else -1.0
        actions[:, 0] += direction * 0.02 * dt * np.arange(1, 17)
        self.calls += 1
        self.wall_s += time.perf_counter() - t0
        return ActionChunk(actions.astype(np.float32), obs.timestamp, dt)

    def forward_dynamics(self, obs, actions):
        raise NotImplementedError

    def inverse_dynamics(self, frames, state):
        raise NotImplementedError

    def reset(self) -> None:
        pass


def build(clock, inference_factory, projector, mode: str, switch_interval=None):
    telemetry = Telemetry()
    sync = ObservationSync(EMB, clock, SyncConfig(tolerance_s=0.02), telemetry)
    sync.set_prompt("push the red cube to the left")
    loop = build_loop(EMB, clock=clock, sync=sync, telemetry=telemetry,
                      inference=inference_factory(telemetry), projector=projector,
                      blending=mode, switch_interval_s=switch_interval)
    return loop, sync


def images() -> np.ndarray:
    return np.zeros((EMB.camera("front").height, EMB.camera("front").width, 3), np.uint8)


def overhead(projector, mode: str, ticks: int) -> dict:
    clock = ManualClock(0.0)
    model = StubModel(projector)
    loop, sync = build(clock, lambda tm: LockstepInference(model, latency_s=0.12, telemetry=tm),
                       projector, mode)
    state, img = np.append(EMB.home, 0.0), images()
    per_tick = []
    for k in range(ticks):
        t = clock.advance(0.01) if k else 0.0
        sync.push_state(state, t)
        if k % 3 == 0:
            sync.push_image("front", img, t)
            sync.push_image("wrist", img, t)
        wall_before = model.wall_s
        t0 = time.perf_counter()
        cmd = loop.tick(t)
        # in lockstep the stub's policy call runs inside tick: take its wall time out
        per_tick.append(time.perf_counter() - t0 - (model.wall_s - wall_before))
        state = cmd.positions
    snap = loop.telemetry.snapshot()
    a = np.array(per_tick[100:]) * 1e3
    return {"mode": mode, "ticks": ticks, "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()),
            "model_calls_excluded": model.calls,
            "stages": {k: snap["latency"][k] for k in ("blending", "projection", "command")}}


def drive(loop, sync, clock, seconds: float, on_image=None) -> list[float]:
    """Run ``loop`` on its thread for ``seconds`` with 30 Hz camera frames and a perfectly
    tracking robot (each command comes back as the next joint state); returns the monotonic
    time of every command. ``on_image(camera, image, t)`` also gets each frame."""
    img, stamps = images(), []
    stop = threading.Event()

    def cameras() -> None:  # 30 Hz camera driver
        while not stop.is_set():
            t = clock.now()
            for cam in ("front", "wrist"):
                sync.push_image(cam, img, t)
                if on_image is not None:
                    on_image(cam, img, t)
            time.sleep(1 / 30)

    def on_command(cmd) -> None:  # the "robot": perfect tracking, joint state back at once
        stamps.append(time.monotonic())
        sync.push_state(cmd.positions, clock.now())

    sync.push_state(np.append(EMB.home, 0.0), clock.now())
    loop.subscribe(on_command)
    cam = threading.Thread(target=cameras, daemon=True)
    cam.start()
    loop.start()
    time.sleep(seconds)
    loop.stop()
    stop.set()
    cam.join()
    loop.inference.close()
    return stamps


def jitter(projector, work: str, seconds: float, switch_interval=None) -> dict:
    clock = MonotonicClock()
    model = StubModel(projector, work=work, delay_s=0.08 if work != "none" else 0.0)
    loop, sync = build(clock, lambda tm: ThreadedInference(model, clock, tm), projector, "rtc",
                       switch_interval)
    stamps = drive(loop, sync, clock, seconds)
    period = 1.0 / EMB.command_rate_hz
    intervals = np.diff(np.array(stamps))
    dev = np.abs(intervals - period) * 1e3
    late = loop.telemetry.stage_values("jitter") * 1e3
    snap = loop.telemetry.snapshot()
    return {"work": work, "switch_interval_s": switch_interval, "commands": len(stamps),
            "start_lateness_p50_ms": float(np.percentile(late, 50)),
            "start_lateness_p99_ms": float(np.percentile(late, 99)),
            "interval_dev_p99_ms": float(np.percentile(dev, 99)),
            "interval_dev_max_ms": float(dev.max()),
            "deadline_misses": loop.deadline_misses,
            "chunks": snap["counters"].get("chunks", 0),
            "inference_p50_ms": snap["latency"]["inference"]["p50_ms"],
            "tick_p99_ms": snap["latency"]["tick"]["p99_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per jitter run")
    parser.add_argument("--ticks", type=int, default=3000, help="lockstep ticks per mode")
    parser.add_argument("--out", type=Path, default=Path("outputs/runtime_overhead.json"))
    args = parser.parse_args()
    projector, projector_name = make_projector()
    result = {"embodiment": EMB.name, "command_rate_hz": EMB.command_rate_hz,
              "projector": projector_name, "model": "stand-in stub (benchmarks only)",
              "machine": {"python": platform.python_version(), "cpu": platform.processor(),
                          "cores": os.cpu_count()},
              "overhead": [overhead(projector, m, args.ticks) for m in ("rtc", "ensemble")],
              "jitter": [jitter(projector, "none", args.seconds),
                         jitter(projector, "numpy", args.seconds),
                         jitter(projector, "python", args.seconds),
                         jitter(projector, "python", args.seconds, switch_interval=0.0005)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"projector: {projector_name}; model: stand-in stub")
    print(f"{'overhead per command':32s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    for r in result["overhead"]:
        name = "tick, " + r["mode"]
        print(f"{name:32s} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['max_ms']:8.3f}")
    print(f"\n{'jitter at 100 Hz (inference)':32s} {'late p99':>9s} {'|dT-10ms| p99':>14s} "
          f"{'misses':>7s} {'chunks':>7s}")
    for r in result["jitter"]:
        name = r["work"] + (f", switch {r['switch_interval_s'] * 1e3:.1f} ms"
                            if r["switch_interval_s"] else "")
        print(f"{name:32s} {r['start_lateness_p99_ms']:9.3f} {r['interval_dev_p99_ms']:14.3f} "
              f"{r['deadline_misses']:7d} {r['chunks']:7d}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
