"""Sampler and blending settings side by side on the validation split (never the test split).

    python benchmarks/sampler_sweep.py [--model default|PATH] [--tasks push,pick_place]
        [--embodiments franka,ur5e] [--episodes 50] [--workers 2]
        [--settings rtc:1:10 ensemble:1:10 rtc:0.5:10] [--max-steps N]
        [--out outputs/sampler_sweep.json] [--resume]

A setting is ``BLENDING:NOISE_SCALE:STEPS[:GUIDANCE]`` (eval's ``--blending``,
``--noise-scale``, ``--steps`` and ``--guidance``, 1 when left out). Every setting runs the
same seeds, lockstep with 50 ms of charged latency, so the rows differ in the setting alone;
the first setting is the reference (eval's defaults). Each episode's sampler noise is seeded
by its seed, so a row is reproducible. Prints a Markdown table with 95 % Wilson intervals and
writes the JSON (atomically, after every cell: a killed sweep keeps what it measured and
``--resume`` skips it).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from cosmos_policy.data.atomic import write_text
from cosmos_policy.errors import UserError
from cosmos_policy.sim.report import wilson_interval

BLENDINGS = ("rtc", "ensemble")


@dataclass(frozen=True)
class Setting:
    blending: str
    noise_scale: float
    steps: int
    guidance: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Setting:
        from cosmos_policy.models.flow import MAX_GUIDANCE

        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise UserError(f"setting {text!r}: expected BLENDING:NOISE_SCALE:STEPS[:GUIDANCE], "
                            "e.g. rtc:1:10 or rtc:0.7:10:3")
        blending, noise, steps, *guidance = parts
        if blending not in BLENDINGS:
            raise UserError(f"setting {text!r}: blending must be one of {', '.join(BLENDINGS)}")
        try:
            setting = cls(blending, float(noise), int(steps), *map(float, guidance))
        except ValueError as exc:
            raise UserError(f"setting {text!r}: {exc}") from None
        if not 0.0 <= setting.noise_scale <= 1.0 or setting.steps < 1:
            raise UserError(f"setting {text!r}: noise scale in [0, 1] and steps >= 1 expected")
        if not 0.0 <= setting.guidance <= MAX_GUIDANCE:
            raise UserError(f"setting {text!r}: guidance in [0, {MAX_GUIDANCE:g}] expected")
        return setting

    @property
    def name(self) -> str:
        base = f"{self.blending}:{self.noise_scale:g}:{self.steps}"
        return base if self.guidance == 1.0 else f"{base}:{self.guidance:g}"


def run_cell(model: str, task: str, emb: str, setting: Setting, episodes: int, seed: int,
             workers: int, max_steps: int | None = None) -> dict:
    from cosmos_policy.sim.eval_runner import run_episodes
    from cosmos_policy.sim.evaluate import EvalConfig

    config = EvalConfig(task=task, embodiment=emb, episodes=episodes, seed=seed, model=model,
                        backend="torch", lockstep=True, blending=setting.blending,
                        noise_scale=setting.noise_scale, flow_steps=setting.steps,
                        guidance=setting.guidance, videos=0,
                        max_steps=max_steps)
    t0 = time.perf_counter()
    runs = run_episodes(config, workers=workers, progress=False)
    wins = int(sum(r.success for r in runs))
    lo, hi = wilson_interval(wins, episodes)
    return {"task": task, "embodiment": emb, "setting": setting.name, "success": wins,
            "episodes": episodes, "ci95": [lo, hi], "seconds": round(time.perf_counter() - t0, 1)}


def table(cells: list[dict], settings: list[Setting]) -> str:
    keys = sorted({(c["task"], c["embodiment"]) for c in cells})
    head = "| setting | " + " | ".join(f"{t}/{e}" for t, e in keys) + " |"
    lines = [head, "| --- " * (len(keys) + 1) + "|"]
    for s in settings:
        row = []
        for t, e in keys:
            c = next((c for c in cells if (c["task"], c["embodiment"], c["setting"])
                      == (t, e, s.name)), None)
            row.append("-" if c is None else
                       f"{c['success']}/{c['episodes']} [{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}]")
        lines.append(f"| {s.name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--tasks", default="push,pick_place")
    p.add_argument("--embodiments", default="franka,ur5e")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--settings", nargs="+", default=["rtc:1:10", "ensemble:1:10", "rtc:0.5:10"])
    p.add_argument("--max-steps", type=int, default=None,
                   help="policy steps per episode (default: the task's limit)")
    p.add_argument("--out", type=Path, default=Path("outputs/sampler_sweep.json"))
    p.add_argument("--resume", action="store_true", help="keep the cells already in --out")
    a = p.parse_args(argv)
    try:
        settings = [Setting.parse(s) for s in a.settings]
        from cosmos_policy.sim.suite import load_suite

        split = load_suite().split("validation")
        if a.episodes < 1 or not split.contains(split.first + a.episodes - 1):
            raise UserError(f"--episodes {a.episodes} leaves the validation split "
                            f"({split.describe()})")
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
    a.out.parent.mkdir(parents=True, exist_ok=True)
    cells: list[dict] = []
    if a.resume and a.out.exists():
        kept = json.loads(a.out.read_text())
        if kept.get("model") != a.model:
            raise SystemExit(f"error: {a.out} holds model {kept.get('model')!r}, not {a.model!r}")
        cells = kept["cells"]
    for s in settings:
        for task in a.tasks.split(","):
            for emb in a.embodiments.split(","):
                if any((c["task"], c["embodiment"], c["setting"]) == (task, emb, s.name)
                       for c in cells):
                    continue
                cell = run_cell(a.model, task, emb, s, a.episodes, split.first, a.workers,
                                a.max_steps)
                print(f"{s.name} {task}/{emb}: {cell['success']}/{a.episodes} "
                      f"({cell['seconds']} s)", flush=True)
                cells.append(cell)
                write_text(a.out, json.dumps({"model": a.model, "split": "validation",
                                              "first_seed": split.first, "cells": cells},
                                             indent=1))
    print(table(cells, settings))


if __name__ == "__main__":
    main()
