"""The 100 Hz loop's jitter with a Rerun recording on vs off, side by side in one run.

A program, not a test. The setup of ``benchmarks/runtime_overhead.py``'s jitter run (the
real Franka embodiment, the loop on its own thread at ``control.command_rate_hz``, a
GIL-releasing numpy stand-in model in the inference thread, 30 Hz cameras, a perfectly
tracking "robot"), alternating runs without and with
:func:`cosmos_policy.viz.rerun_log.attach` recording to an ``.rrd`` file (camera frames,
joints, chunks, safety, watchdog). Goal (the runtime's): start lateness p99 < 1 ms with
recording on.

    python benchmarks/viz_jitter.py [--seconds 5] [--rounds 2] [--out outputs/viz_jitter.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the stand-in model leaves a core to the loop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from runtime_overhead import EMB, StubModel, build, drive, make_projector  # noqa: E402

from cosmos_policy.runtime import MonotonicClock, ThreadedInference  # noqa: E402


class GcPauses:
    """The garbage collector's pauses during a run (every thread's), via ``gc.callbacks``:
    whether the recorder's allocations cost the loop collections."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._t0))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> dict:
        ms = [p * 1e3 for _, p in self.pauses]
        return {"collections": len(ms), "gen2": sum(g == 2 for g, _ in self.pauses),
                "max_ms": round(max(ms, default=0.0), 3), "total_ms": round(sum(ms), 1)}


def run(projector, seconds: float, rrd: Path | None) -> dict:
    """One jitter run; ``rrd``: record to this file (None: recording off)."""
    clock = MonotonicClock()
    model = StubModel(projector, work="numpy", delay_s=0.08)
    loop, sync = build(clock, lambda tm: ThreadedInference(model, clock, tm), projector, "rtc")
    recorder = None
    if rrd is not None:
        from cosmos_policy.viz.rerun_log import RerunRecorder, attach

        recorder = RerunRecorder("viz-jitter", [*EMB.joints, "gripper"], path=rrd)
        attach(loop, recorder)
    t_start = time.perf_counter()
    with GcPauses() as gc_pauses:
        stamps = drive(loop, sync, clock, seconds,
                       on_image=None if recorder is None else recorder.image)
    t0 = time.perf_counter()
    if recorder is not None:
        recorder.close()
    drain_s = time.perf_counter() - t0
    wall = time.perf_counter() - t_start  # the recording's life, drain included
    period = 1.0 / EMB.command_rate_hz
    dev = np.abs(np.diff(np.array(stamps)) - period) * 1e3
    late = loop.telemetry.stage_values("jitter") * 1e3
    snap = loop.telemetry.snapshot()
    return {"recording": rrd is not None, "commands": len(stamps),
            "start_lateness_p50_ms": float(np.percentile(late, 50)),
            "start_lateness_p99_ms": float(np.percentile(late, 99)),
            "start_lateness_max_ms": float(late.max()),
            "interval_dev_p99_ms": float(np.percentile(dev, 99)),
            "deadline_misses": loop.deadline_misses,
            "tick_p99_ms": snap["latency"]["tick"]["p99_ms"],
            "chunks": snap["counters"].get("chunks", 0),
            "subscriber_errors": snap["counters"].get("subscriber_errors", 0),
            "recorder_dropped": None if recorder is None else recorder.dropped,
            "recorder_errors": None if recorder is None else recorder.errors,
            "rrd_bytes": None if rrd is None else rrd.stat().st_size,
            "drain_after_stop_s": round(drain_s, 3),
            # the writer thread's footprint per second of recording: wall time inside
            # rerun calls, and its CPU time
            "writer_busy_ms_per_s": None if recorder is None else recorder.busy_s / wall * 1e3,
            "writer_cpu_ms_per_s": (None if recorder is None
                                    else recorder.writer_cpu_s / wall * 1e3),
            "writer_longest_burst_ms": (None if recorder is None
                                        else recorder.longest_burst_s * 1e3),
            "gc": gc_pauses.summary(),
            "load_average": os.getloadavg()}


def producer_cost(calls: int, rrd: Path) -> dict:
    """What the control thread pays per tick with recording on: one
    ``RerunRecorder.command`` call (copy + queue put), timed alone, microseconds."""
    from cosmos_policy.runtime import SentCommand
    from cosmos_policy.viz.rerun_log import RerunRecorder

    recorder = RerunRecorder("viz-producer", [*EMB.joints, "gripper"], path=rrd)
    state = np.append(EMB.home, 0.0)
    cost = []
    for k in range(calls):
        cmd = SentCommand(k * 0.01, state, state[:-1], ("velocity",) if k % 3 else ())
        t0 = time.perf_counter()
        recorder.command(cmd, state, 2)
        cost.append(time.perf_counter() - t0)
        if k % 100 == 99:
            time.sleep(0.01)  # let the writer keep up, as at 100 Hz
    recorder.close()
    a = np.array(cost) * 1e6
    return {"calls": calls, "p50_us": float(np.percentile(a, 50)),
            "p99_us": float(np.percentile(a, 99)), "max_us": float(a.max()),
            "dropped": recorder.dropped}


def _writer(r: dict) -> str:
    """``busy/cpu`` ms per second of recording, or ``-`` with recording off."""
    if not r["recording"]:
        return "-"
    return (f"{r['writer_busy_ms_per_s']:.0f}/{r['writer_cpu_ms_per_s']:.0f}/"
            f"{r['writer_longest_burst_ms']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per run")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs")
    parser.add_argument("--out", type=Path, default=Path("outputs/viz_jitter.json"))
    args = parser.parse_args()
    projector, projector_name = make_projector()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            runs.append(run(projector, args.seconds, None))
            runs.append(run(projector, args.seconds, Path(tmp) / f"round{i}.rrd"))
        producer = producer_cost(5000, Path(tmp) / "producer.rrd")
    result = {"embodiment": EMB.name, "command_rate_hz": EMB.command_rate_hz,
              "projector": projector_name, "model": "numpy stand-in, GIL released, 80 ms",
              "goal": "start lateness p99 < 1 ms",
              "machine": {"python": platform.python_version(), "cores": os.cpu_count()},
              "load_average": os.getloadavg(), "runs": runs,
              "producer_per_tick": producer}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'recording':10s} {'late p50':>9s} {'late p99':>9s} {'late max':>9s} "
          f"{'|dT-10ms| p99':>14s} {'misses':>7s} {'dropped':>8s} {'writer':>14s} "
          f"{'load1':>6s} {'gc n/gen2/max ms':>17s}")
    for r in runs:
        print(f"{'on' if r['recording'] else 'off':10s} {r['start_lateness_p50_ms']:9.3f} "
              f"{r['start_lateness_p99_ms']:9.3f} {r['start_lateness_max_ms']:9.3f} "
              f"{r['interval_dev_p99_ms']:14.3f} {r['deadline_misses']:7d} "
              f"{str(r['recorder_dropped']):>8s} {_writer(r):>14s} "
              f"{r['load_average'][0]:6.2f} "
              f"{'{collections}/{gen2}/{max_ms:.2f}'.format(**r['gc']):>17s}")
    print(f"\ncontrol-thread cost per tick with recording on (RerunRecorder.command): "
          f"p50 {producer['p50_us']:.1f} us, p99 {producer['p99_us']:.1f} us, "
          f"max {producer['max_us']:.1f} us; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")
    print("writer: busy / CPU ms per s of recording / longest stretch without a sleep, ms")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
