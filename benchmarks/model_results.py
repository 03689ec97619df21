"""Every figure of the world-action model in one run: policy success per task, embodiment and
prompt style, forward- and inverse-dynamics quality. Writes the results file of a model.

    python benchmarks/model_results.py [--model default|PATH] [--episodes 100]
        [--tasks reach,push,pick_place] [--embodiments franka,ur5e] [--styles canonical,paraphrase]
        [--dynamics-episodes 30] [--noise-scales 1,0] [--workers 2] [--out results.json]

Policy: ``cosmos-policy eval --lockstep`` (reproducible; inference charged 50 ms of
simulated time), seeds 0 and up (training uses 1000 and up). Dynamics:
``cosmos-policy eval-dynamics`` on expert episodes with the same held-out seeds. Each
command's own JSON report stays under ``--work`` (default outputs/model_results/); this
program collects them into ``--out`` and prints the tables as Markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run_cli(*args: str) -> None:
    """``cosmos-policy ARGS`` in a fresh interpreter; exits with its stderr when it fails."""
    cmd = [sys.executable, "-m", "cosmos_policy.cli", *args]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")


def policy_table(a: argparse.Namespace) -> list[dict]:
    rows = []
    for emb in a.embodiments:
        for task in a.tasks:
            for style in a.styles:
                rep = a.work / f"policy-{task}-{emb}-{style}"
                t0 = time.perf_counter()
                run_cli("eval", "--task", task, "--embodiment", emb, "--episodes",
                        str(a.episodes), "--model", a.model, "--lockstep", "--prompt-style",
                        style, "--videos", str(a.videos), "--workers", str(a.workers),
                        "--out", str(rep))
                r = json.loads((rep / "eval.json").read_text())
                rows.append({"task": task, "embodiment": emb, "prompt_style": style,
                             "episodes": r["episodes"], "successes": r["successes"],
                             "success_rate": r["success_rate"], "ci95": r["ci95"],
                             "report": str(rep), "wall_s": round(time.perf_counter() - t0)})
                print(f"  {task}/{emb}/{style}: {r['successes']}/{r['episodes']}", flush=True)
    return rows


def dynamics_table(a: argparse.Namespace) -> list[dict]:
    rows = []
    for emb in a.embodiments:
        for task in a.tasks:
            for scale in a.noise_scales:
                for mode in ("forward", "inverse"):
                    rep = a.work / f"dynamics-{task}-{emb}-noise{scale:g}"
                    run_cli("eval-dynamics", "--mode", mode, "--task", task, "--embodiment",
                            emb, "--episodes", str(a.dynamics_episodes), "--model", a.model,
                            "--noise-scale", str(scale), "--out", str(rep))
                    r = json.loads((rep / f"{mode}_dynamics.json").read_text())
                    keep = ("psnr_db", "baseline_copy_last_psnr_db", "autoencoder_psnr_db",
                            "composed_psnr_db", "mean_r2", "mean_nmae", "windows", "r2",
                            "per_camera", "gain_ci95_db", "composed_gain_ci95_db")
                    rows.append({"task": task, "embodiment": emb, "mode": mode,
                                 "noise_scale": scale, **{k: r[k] for k in keep if k in r},
                                 "report": str(rep)})
                    print(f"  {mode} {task}/{emb} noise {scale:g}: " + ", ".join(
                        f"{k} {r[k]}" for k in keep[:6] if k in r), flush=True)
    return rows


def _interval(ci: list[float] | None) -> str:
    return "" if ci is None else f", 95% CI over episodes [{ci[0]:+.2f}, {ci[1]:+.2f}]"


def markdown(result: dict) -> str:
    lines = ["| task | embodiment | prompts | success | 95% CI |",
             "| --- | --- | --- | --- | --- |"]
    for r in result["policy"]:
        lo, hi = r["ci95"]
        lines.append(f"| {r['task']} | {r['embodiment']} | {r['prompt_style']} | "
                     f"{r['successes']}/{r['episodes']} ({100 * r['success_rate']:.0f}%) | "
                     f"[{lo:.2f}, {hi:.2f}] |")
    lines += ["", "| mode | task | embodiment | noise scale | result |",
              "| --- | --- | --- | --- | --- |"]
    for r in result["dynamics"]:
        if r["mode"] == "forward":
            gain = r["psnr_db"] - r["baseline_copy_last_psnr_db"]
            what = (f"PSNR {r['psnr_db']:.2f} dB vs copy-last {r['baseline_copy_last_psnr_db']:.2f}"
                    f" dB ({gain:+.2f} dB" + _interval(r.get("gain_ci95_db")) + ")")
            if "autoencoder_psnr_db" in r:
                what += f"; autoencoder ceiling {r['autoencoder_psnr_db']:.2f} dB"
            if "composed_psnr_db" in r:
                what += (f"; observed pixels kept where static {r['composed_psnr_db']:.2f} dB "
                         f"({r['composed_psnr_db'] - r['baseline_copy_last_psnr_db']:+.2f} dB"
                         + _interval(r.get("composed_gain_ci95_db")) + ")")
            for cam, c in r.get("per_camera", {}).items():
                extra = [f"{name} {c[key]:.2f}" for name, key in
                         (("ceiling", "autoencoder_psnr_db"), ("composed", "composed_psnr_db"))
                         if key in c]
                what += (f"; {cam} {c['psnr_db']:.2f} vs {c['baseline_copy_last_psnr_db']:.2f}"
                         + (f" ({', '.join(extra)})" if extra else ""))
        else:
            what = f"R^2 {r['mean_r2']:.3f}, normalised error {r['mean_nmae']:.3f}"
        lines.append(f"| {r['mode']} | {r['task']} | {r['embodiment']} | "
                     f"{r.get('noise_scale', 1.0):g} | {what} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--tasks", default="reach,push,pick_place")
    p.add_argument("--embodiments", default="franka,ur5e")
    p.add_argument("--styles", default="canonical,paraphrase")
    p.add_argument("--dynamics-episodes", type=int, default=30,
                   help="expert episodes per dynamics cell (default 30; a handful of "
                   "episodes can move a forward gain by more than 1 dB)")
    p.add_argument("--noise-scales", default="1",
                   help="sampler noise scales of the dynamics runs, e.g. 1,0 (eval-dynamics "
                   "--noise-scale)")
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--skip-policy", action="store_true")
    p.add_argument("--skip-dynamics", action="store_true")
    p.add_argument("--work", type=Path, default=Path("outputs/model_results"))
    p.add_argument("--out", type=Path, default=Path("outputs/model_results/results.json"))
    a = p.parse_args()
    for key in ("tasks", "embodiments", "styles"):
        setattr(a, key, [x for x in getattr(a, key).split(",") if x])
    a.noise_scales = [float(x) for x in a.noise_scales.split(",") if x]
    a.work.mkdir(parents=True, exist_ok=True)
    result = {"model": a.model, "date": time.strftime("%Y-%m-%d"), "episodes": a.episodes,
              "policy": [] if a.skip_policy else policy_table(a),
              "dynamics": [] if a.skip_dynamics else dynamics_table(a)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    print("->", a.out)


if __name__ == "__main__":
    main()
