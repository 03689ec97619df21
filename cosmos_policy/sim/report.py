"""The evaluation report: success with a Wilson interval, merged telemetry, plots, videos.

Everything is written under one folder: ``eval.json`` (all numbers), ``latency.png``
(histogram of model latency and tick time), ``jitter.png`` (the command's step-to-step change
of velocity, and tick lateness against the wall clock where the run was paced by it),
``videos/*.mp4`` (the prompt and the outcome above the cameras side by side, above a strip of
commanded vs reached joint positions, normalised to their limits, with a legend).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.sim.evaluate import EpisodeRun


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054
                    ) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (default 95%); (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not in [0, {n}]")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def merge_stages(runs: Sequence[EpisodeRun]) -> dict[str, dict[str, float | int]]:
    """Per stage: count, p50/p99/max in ms over the samples of every episode."""
    out: dict[str, dict[str, float | int]] = {}
    names = sorted({s for r in runs for s in r.stages})
    for name in names:
        a = np.concatenate([r.stages.get(name, np.zeros(0)) for r in runs]) * 1e3
        if a.size == 0:
            continue
        p50, p99 = np.percentile(a, [50, 99])
        out[name] = {"count": int(a.size), "p50_ms": round(float(p50), 3),
                     "p99_ms": round(float(p99), 3), "max_ms": round(float(a.max()), 3)}
    return out


def limit_check(runs: Sequence[EpisodeRun], position_limits: np.ndarray,
                velocity_limits: np.ndarray, dt: float) -> dict[str, Any]:
    """Whether every command stayed inside the joint limits and moved at most ``v_max dt``."""
    lo, hi = position_limits[:, 0], position_limits[:, 1]
    worst_pos, worst_step = 0.0, 0.0
    for r in runs:
        q = np.asarray(r.log.commanded)[:, : len(lo)]
        worst_pos = max(worst_pos, float(np.max(np.maximum(lo - q, q - hi))))
        if len(q) > 1:
            worst_step = max(worst_step, float(np.max(np.abs(np.diff(q, axis=0))
                                                      / (velocity_limits * dt))))
    return {"position_excess_rad": round(worst_pos, 6), "max_step_over_bound": round(worst_step,
                                                                                      4),
            "ok": worst_pos <= 1e-9 and worst_step <= 1 + 1e-6}


def failure_summary(episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How the failed episodes failed: how close they came (the task's own error, m), how
    many ended with the tcp nearer another cube than the named one (the wrong cube), and,
    where episodes carry ``closest_offset_m`` (tcp minus the named cube at the closest step),
    the median horizontal miss and height above the cube's centre there.

    ``episodes``: per-episode dicts with ``success``, ``min_distance_m``,
    ``final_distance_m``, ``target_cube`` and ``nearest_cube`` (``EpisodeRun.summary()``,
    or the sim robot's episode reports over the wire).
    """
    failed = [e for e in episodes if not e["success"] and e.get("min_distance_m") is not None]
    if not failed:
        return {"episodes": 0}
    best = np.array([e["min_distance_m"] for e in failed])
    final = np.array([e["final_distance_m"] for e in failed])
    out = {"episodes": len(failed),
           "min_distance_m_median": round(float(np.median(best)), 4),
           "final_distance_m_median": round(float(np.median(final)), 4),
           "ended_nearest_another_cube": sum(e["nearest_cube"] != e["target_cube"]
                                             for e in failed)}
    offsets = np.array([e["closest_offset_m"] for e in failed
                        if e.get("closest_offset_m") is not None]).reshape(-1, 3)
    if len(offsets):  # a miss beside the cube (where it is) or above it (how far down)
        out["closest_offset_xy_m_median"] = round(float(np.median(
            np.linalg.norm(offsets[:, :2], axis=1))), 4)
        out["closest_offset_z_m_median"] = round(float(np.median(offsets[:, 2])), 4)
    return out


def build_report(config: dict[str, Any], runs: Sequence[EpisodeRun], embodiment: Any,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """All numbers of an evaluation as JSON-ready data."""
    runs = sorted(runs, key=lambda r: r.seed)
    n, ok = len(runs), sum(r.success for r in runs)
    lo, hi = wilson_interval(ok, n)
    episodes = [r.summary() for r in runs]
    counters: dict[str, int] = {}
    for r in runs:
        for k, v in r.counters.items():
            counters[k] = counters.get(k, 0) + int(v)
    reasons: dict[str, int] = {}
    for r in runs:
        for k, v in r.log.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    key = f"{config['task']}/{config['embodiment']}"
    rate = ok / n if n else 0.0
    sim_s, wall_s = sum(r.sim_time_s for r in runs), sum(r.wall_s for r in runs)
    return {
        "config": config,
        "per_task": {key: {"episodes": n, "successes": ok, "success_rate": round(rate, 4),
                           "ci95": [round(lo, 4), round(hi, 4)]}},
        "episodes": n, "successes": ok, "success_rate": round(rate, 4),
        "ci95": [round(lo, 4), round(hi, 4)],
        "telemetry": merge_stages(runs),
        "deadline_misses": counters.get("deadline_misses", 0),
        "dropped_frames": counters.get("dropped_frames", 0),
        # chunks that came after their horizon: run from arrival / dropped (runtime/scheduler)
        "late_chunks": {"executed": counters.get("chunks_late", 0),
                        "dropped": counters.get("chunks_late_dropped", 0)},
        "counters": counters,
        "safety": {"commands": sum(len(r.log.times) for r in runs),
                   "modified": sum(r.log.modified for r in runs), "reasons": reasons,
                   "limits": limit_check(runs, embodiment.position_limits,
                                         embodiment.velocity_limits,
                                         1.0 / embodiment.command_rate_hz)},
        "realtime_factor": round(sim_s / wall_s, 3) if wall_s > 0 else None,
        "failures": failure_summary(episodes),
        "per_episode": episodes,
        **(extra or {}),
    }


def plot_latency(runs: Sequence[EpisodeRun], path: Path) -> Path:
    """Histograms of the model's wall latency and the control tick time (ms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, stage, title in ((axes[0], "model_wall", "model latency (wall)"),
                             (axes[1], "tick", "control tick (runtime overhead)")):
        a = np.concatenate([r.stages.get(stage, np.zeros(0)) for r in runs]) * 1e3
        if a.size:
            ax.hist(a, bins=40, color="tab:blue")
            p50, p99 = np.percentile(a, [50, 99])
            ax.axvline(p99, color="tab:red", ls="--", label=f"p99 {p99:.2f} ms")
            ax.axvline(p50, color="tab:green", ls="--", label=f"p50 {p50:.2f} ms")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("ms")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_jitter(runs: Sequence[EpisodeRun], path: Path, dt: float) -> Path:
    """|change of command velocity| per tick and, where the simulation was paced to the wall
    clock (async runs), tick lateness; a lockstep run has no lateness, so one panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    late = np.concatenate([r.tick_lateness_s for r in runs]) * 1e3
    fig, axes = plt.subplots(1, 2 if late.size else 1, figsize=(9 if late.size else 6, 3.2),
                             squeeze=False)
    if late.size:
        axes[0, 0].plot(late, lw=0.6)
        axes[0, 0].set_title("tick start lateness (wall clock)", fontsize=9)
        axes[0, 0].set_xlabel("tick")
        axes[0, 0].set_ylabel("ms late")
    ax = axes[0, -1]
    for r in runs[:5]:
        q = np.asarray(r.log.commanded)
        if len(q) > 2:
            dv = np.abs(np.diff(q[:, :-1], n=2, axis=0)).max(axis=1) / dt ** 2
            ax.plot(np.asarray(r.log.times[2:]), dv, lw=0.6, label=f"seed {r.seed}")
    title = "command jitter: max |dv/dt| over joints"
    ax.set_title(title if late.size else f"{title}\n(lockstep: no wall-clock pacing, so "
                 "no tick lateness)", fontsize=9)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("units/s^2 (rad or m)")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_episode_video(run: EpisodeRun, path: Path, limits: np.ndarray, fps: float,
                        joint_names: Sequence[str] = ()) -> Path:
    """Per frame: a header (the prompt; seed, time and the episode's outcome), the cameras
    side by side (upscaled to >= 512 px wide), and the joint strip with a time cursor."""
    from cosmos_policy.sim.video import header, joint_strip, write_video

    if not run.frames:
        raise ValueError("episode has no recorded frames")
    scale = max(1, math.ceil(512 / run.frames[0].shape[1]))
    big = [np.repeat(np.repeat(f, scale, axis=0), scale, axis=1) for f in run.frames]
    width = big[0].shape[1]
    strip, (x0, x1), (f0, f1) = joint_strip(
        np.asarray(run.log.times), np.asarray(run.log.commanded), np.asarray(run.log.actual),
        limits, joint_names, width, 200)
    outcome = (f"SUCCESS at {run.sim_time_s:.2f} s" if run.success
               else f"FAILED ({run.sim_time_s:.2f} s)")
    out = []
    for frame, t in zip(big, run.frame_times, strict=True):
        top = header(width, run.prompt, f"seed {run.seed}   t = {t:5.2f} s", outcome,
                     run.success)
        s = strip.copy()
        col = int((f0 + (f1 - f0) * (t - x0) / max(x1 - x0, 1e-9)) * s.shape[1])
        s[:, max(0, min(col, s.shape[1] - 1))] = (200, 0, 0)
        out.append(np.concatenate([top, frame, s[:, :width]], axis=0))
    return write_video(path, out, fps)


def write_report(report: dict[str, Any], runs: Sequence[EpisodeRun], embodiment: Any,
                 out: Path) -> dict[str, Any]:
    """Plots and videos under ``out``, then ``out/eval.json``; returns the report with paths."""
    out.mkdir(parents=True, exist_ok=True)
    dt = 1.0 / embodiment.command_rate_hz
    files = {"latency_png": str(plot_latency(runs, out / "latency.png")),
             "jitter_png": str(plot_jitter(runs, out / "jitter.png", dt)), "videos": []}
    for r in sorted(runs, key=lambda r: r.seed):
        if r.frames:
            path = out / "videos" / f"seed{r.seed}.mp4"
            write_episode_video(r, path, embodiment.position_limits, embodiment.control_rate_hz,
                                embodiment.joints)
            files["videos"].append(str(path))
    report = {**report, "files": files}
    (out / "eval.json").write_text(json.dumps(report, indent=2, default=_json_default))
    return report


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def print_table(report: dict[str, Any]) -> None:
    """A short summary table of success, CI and latency, in plain text.

    Plain aligned columns rather than a terminal-sized table: piped into a file or a log it
    stays whole (a terminal layout there is cut to 80 columns, cells and all).
    """
    cols = ("task", "n", "success", "95% CI", "model ms p50/p99", "tick p99", "misses",
            "dropped", "late run/drop")
    late = report.get("late_chunks", {})
    tel = report["telemetry"]
    model = tel.get("model_wall", {})
    rows = [[key, str(row["episodes"]), f"{row['success_rate']:.0%}",
             f"[{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}]",
             f"{model.get('p50_ms', float('nan')):.1f}/{model.get('p99_ms', float('nan')):.1f}",
             f"{tel.get('tick', {}).get('p99_ms', float('nan')):.2f}",
             str(report["deadline_misses"]), str(report["dropped_frames"]),
             f"{late.get('executed', 0)}/{late.get('dropped', 0)}"]
            for key, row in report["per_task"].items()]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(cols)]
    print("cosmos-policy eval")
    for line in (cols, ["-" * w for w in widths], *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
