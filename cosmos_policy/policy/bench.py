"""Inference benchmark: torch eager against ONNX Runtime CPU, side by side in one run.

Policy mode, batch 1, two cameras at 128x128 uint8 (resized inside, as in deployment), the
prompt cached. Both models run the same observation in alternating order round after
round, so load from other processes falls on both alike. Reports latency p50/p99, their
ratio, the graph-level split (context once + denoise x steps), FLOPs per policy call counted
from the ONNX graphs, and achieved GFLOP/s against a float32 matrix-product peak measured in
the same run. Used by ``benchmarks/inference.py`` and ``cosmos-policy bench``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cosmos_policy.errors import UserError


def _model_source(model: str | Path | None, workdir: Path) -> tuple[Path, str]:
    """(bundle path, description): the given bundle, the shipped default, or a fresh one."""
    from cosmos_policy.models.checkpoint import default_model_path, save_bundle
    from cosmos_policy.policy.registry import find_model

    if model not in (None, "default"):
        return find_model(model, kinds=("bundle",)).path, f"bundle {model}"
    try:
        return default_model_path(), "shipped default model (engines/default)"
    except UserError:
        if model == "default":
            raise
    from cosmos_policy.models.config import DomainSpec, WAMConfig
    from cosmos_policy.models.network import WorldActionNet

    torch.manual_seed(0)
    net = WorldActionNet(WAMConfig())
    with torch.no_grad():  # zero-initialised output layers would make the generator trivial
        for p in net.parameters():
            p.add_(torch.randn(p.shape) * 0.02)
    domain = DomainSpec("franka", 8, 10, (0.0,) * 8, (1.0,) * 8, (0.0,) * 10, (1.0,) * 10)
    path = save_bundle(workdir / "fresh_model", net, [domain])
    return path, "freshly initialised default-config model (no shipped default yet)"


def matmul_peak(n: int = 1024, repeats: int = 5, threads: int | None = None) -> float:
    """Best float32 GFLOP/s of an n x n x n matrix product in torch (``threads`` intra-op)."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)
        best = min(_timed(lambda: torch.matmul(a, b)) for _ in range(repeats))
    finally:
        torch.set_num_threads(old)
    return 2 * n**3 / best / 1e9


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _pcts(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean())}


def run_benchmark(model: str | Path | None = None, embodiment: str | None = None, *,
                  iters: int = 100, warmup: int = 10, steps: int = 10,
                  progress: bool = True, guidance: float = 1.0) -> dict[str, Any]:
    """Measure and return the results (see the module docstring); nothing is printed.
    guidance: other than 1, the ONNX Runtime engine also runs with that prompt guidance
    (two passes per step), side by side, and its ratio to the unguided engine is reported."""
    from tqdm import tqdm

    from cosmos_policy.engine.export import export_engine
    from cosmos_policy.engine.flops import count_flops
    from cosmos_policy.engine.graphs import random_feeds
    from cosmos_policy.engine.manifest import EngineRequest
    from cosmos_policy.policy.registry import default_embodiment, load_model
    from cosmos_policy.spec import Observation

    if iters < 2 or warmup < 0:
        raise UserError("--iters must be >= 2 and --warmup >= 0")
    with tempfile.TemporaryDirectory(prefix="cosmos-bench-") as tmp:
        bundle, source = _model_source(model, Path(tmp))
        emb = embodiment or default_embodiment(bundle)
        engine = Path(tmp) / "engine"
        manifest = export_engine(bundle, EngineRequest(emb), engine, steps=steps,
                                 progress=progress)
        c, d = manifest.config, manifest.domain
        rng = np.random.default_rng(0)
        obs = Observation({cam: rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
                           for cam in c.cameras}, rng.normal(size=d.state_dim).astype(
                               np.float32), "push the red block to the left", 0.0)
        from cosmos_policy.engine.backends import OnnxRuntimeBackend

        n_cpu = len(os.sched_getaffinity(0))
        models = {"torch eager": load_model(bundle, emb, backend="torch", steps=steps),
                  "onnxruntime cpu": load_model(engine, emb, backend="onnxruntime-cpu",
                                                steps=steps)}
        if n_cpu > 1:  # the default session uses 1 thread at batch 1; show the alternative
            alt = load_model(engine, emb, backend="onnxruntime-cpu", steps=steps)
            alt.backend = OnnxRuntimeBackend("cpu", threads=n_cpu)
            alt.backend.load(engine, manifest)
            models[f"onnxruntime {n_cpu}thr"] = alt
        guided = f"onnxruntime W={guidance:g}"
        if guidance != 1.0:
            models[guided] = load_model(engine, emb, backend="onnxruntime-cpu", steps=steps,
                                        guidance=guidance)
        for m in models.values():
            for _ in range(warmup):
                m.policy(obs)
        samples: dict[str, list[float]] = {k: [] for k in models}
        order = list(models)
        for i in tqdm(range(iters), desc="policy calls", disable=not progress, leave=False):
            for name in order if i % 2 == 0 else order[::-1]:
                samples[name].append(_timed(lambda m=models[name]: m.policy(obs)))
        ort_backend = models["onnxruntime cpu"].backend
        graphs = {}
        for g in ("context", "denoise"):
            feeds = random_feeds(manifest.io(g), seed=0)
            graphs[g] = _pcts([_timed(lambda g=g, f=feeds: ort_backend.run(g, f))
                               for _ in range(max(iters // 2, 2))])
        flops = {g: count_flops(engine / f"{g}.onnx")["total"] for g in ("context", "denoise")}
        per_call = flops["context"] + steps * flops["denoise"]
        peak_all = matmul_peak()
        peak_one = matmul_peak(threads=1)
        res = {name: _pcts(s) for name, s in samples.items()}
        ort_p50 = res["onnxruntime cpu"]["p50_ms"]
        threads_ort = ort_backend.sessions["denoise"].get_session_options() \
            .intra_op_num_threads
        return {
            "model": source, "embodiment": emb, "batch": 1, "steps": steps,
            "cameras": list(c.cameras), "input_resolution": [128, 128],
            "params": int(sum(p.numel() for p in models["torch eager"].net.parameters())),
            "machine": {"cpus": len(os.sched_getaffinity(0)),
                        "torch_threads": torch.get_num_threads(), "onnxruntime_threads":
                        threads_ort, "torch": torch.__version__,
                        "onnxruntime": __import__("onnxruntime").__version__},
            "latency": res,
            "ratio_p50_onnxruntime_over_torch": ort_p50 / res["torch eager"]["p50_ms"],
            "onnxruntime_graphs": graphs,
            "flops": {"context": flops["context"], "denoise_step": flops["denoise"],
                      "per_policy_call": per_call},
            "peak_matmul_gflops": {"all_threads": peak_all, "one_thread": peak_one},
            "achieved_gflops": {name: per_call * (2 if name == guided else 1)
                                / (r["p50_ms"] / 1e3) / 1e9 for name, r in res.items()},
            **({"guidance": guidance,
                "ratio_p50_guided_over_onnxruntime": res[guided]["p50_ms"] / ort_p50}
               if guidance != 1.0 else {}),
        }


def format_table(r: dict[str, Any]) -> str:
    """The benchmark result as a plain-text table."""
    peak = r["peak_matmul_gflops"]
    lines = [f"model: {r['model']} ({r['params'] / 1e6:.2f} M params), embodiment "
             f"{r['embodiment']}, batch 1, {r['steps']} steps, cameras {r['cameras']} at "
             f"{r['input_resolution'][0]}x{r['input_resolution'][1]}",
             f"FLOPs per policy call: {r['flops']['per_policy_call'] / 1e9:.3f} G (context "
             f"{r['flops']['context'] / 1e6:.1f} M + {r['steps']} x denoise "
             f"{r['flops']['denoise_step'] / 1e6:.1f} M); matmul peak {peak['all_threads']:.1f} "
             f"GFLOP/s ({r['machine']['cpus']} threads), {peak['one_thread']:.1f} (1 thread)",
             "",
             f"{'backend':<18}{'p50 ms':>9}{'p99 ms':>9}{'GFLOP/s':>9}{'% peak':>8}"]
    for name, lat in r["latency"].items():
        g = r["achieved_gflops"][name]
        lines.append(f"{name:<18}{lat['p50_ms']:>9.2f}{lat['p99_ms']:>9.2f}{g:>9.1f}"
                     f"{100 * g / peak['all_threads']:>7.0f}%")
    graphs = r["onnxruntime_graphs"]
    lines += ["", f"onnxruntime / torch at p50: {r['ratio_p50_onnxruntime_over_torch']:.2f}x "
              f"(goal <= 0.60x); onnxruntime graphs p50: context "
              f"{graphs['context']['p50_ms']:.2f} ms, denoise step "
              f"{graphs['denoise']['p50_ms']:.2f} ms"]
    if "guidance" in r:
        lines.append(f"prompt guidance W={r['guidance']:g} / onnxruntime at p50: "
                     f"{r['ratio_p50_guided_over_onnxruntime']:.2f}x (a second context and "
                     "denoise pass per step)")
    return "\n".join(lines)
