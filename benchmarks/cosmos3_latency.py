"""Cosmos 3 latency: our adapter versus diffusers directly, per mode, on random weights.

    python benchmarks/cosmos3_latency.py [--size auto|toy|nano] [--iters 3] [--json PATH]

``nano`` (needs a CUDA GPU, ~20 GB in bfloat16): diffusers' ``Cosmos3OmniTransformer`` at its
defaults (hidden 4096, 36 layers, 32 heads / 8 KV heads, MLP 12288) with the action head, and
a Wan2.2-class VAE (z 48, 16x spatial, 4x temporal), random weights, on a 540x640 canvas at
the 480 tier. ``toy`` (the CPU default): the tiny test pipeline on a 64x64 frame, a smoke test
of the program with every step count cut to 2, not a figure. Nothing is downloaded.

Cases, each timed through the adapter (:class:`~cosmos_policy.models.cosmos3.Cosmos3WAM`)
and through the pipeline called directly with the same arguments, side by side in one run:
policy at 4 steps (the report's setting) and 35 (diffusers' default), latent vs decoded
output, forward and inverse dynamics at 50 steps. Reported per case: median seconds per call,
adapter / direct ratio, transformer passes per call, seconds per pass, peak GPU memory.
Writes JSON (default ``outputs/bench_cosmos3_latency.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.models.cosmos3 import Cosmos3WAM
from cosmos_policy.models.cosmos3_stats import parse_statistics
from cosmos_policy.models.cosmos3_testing import tiny_pipeline, tiny_statistics, tiny_tokenizer
from cosmos_policy.spec import Observation

DOMAIN = "droid_lerobot"
# (name, mode, steps, guidance, decode): the report's policy and dynamics settings, and
# diffusers' default 35 steps for scale
CASES = (("policy 4 steps latent", "policy", 4, 3.0, False),
         ("policy 4 steps decoded", "policy", 4, 3.0, True),
         ("policy 35 steps latent", "policy", 35, 3.0, False),
         ("forward dynamics 50 steps", "forward_dynamics", 50, 1.0, True),
         ("inverse dynamics 50 steps", "inverse_dynamics", 50, 1.0, False))


def nano_pipeline(device: str) -> Any:
    """Random-weight Cosmos 3 Nano-scale pipeline in bfloat16 on ``device``."""
    from diffusers import (
        AutoencoderKLWan,
        Cosmos3OmniPipeline,
        Cosmos3OmniTransformer,
        UniPCMultistepScheduler,
    )

    tok = tiny_tokenizer()  # a small vocabulary; the text side's cost is its sequence length
    with torch.device(device):
        transformer = Cosmos3OmniTransformer(action_dim=12, action_gen=True,
                                             dtype="bfloat16").to(torch.bfloat16)
        vae = AutoencoderKLWan(base_dim=160, decoder_base_dim=256, z_dim=48,
                               dim_mult=[1, 2, 4, 4], num_res_blocks=2, is_residual=True,
                               in_channels=12, out_channels=12, patch_size=2,
                               scale_factor_spatial=16, scale_factor_temporal=4,
                               latents_mean=[0.0] * 48, latents_std=[1.0] * 48)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=5.0)
    pipe = Cosmos3OmniPipeline(transformer=transformer, text_tokenizer=tok, vae=vae.to(
        torch.bfloat16), scheduler=scheduler, enable_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class PassCounter:
    """Counts transformer forward passes and their time (synchronised on CUDA)."""

    def __init__(self, module: Any, cuda: bool) -> None:
        self.cuda, self.passes, self.seconds, self._t0 = cuda, 0, 0.0, 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _pre(self, *_: Any) -> None:
        self._sync()
        self._t0 = time.perf_counter()

    def _post(self, *_: Any) -> None:
        self._sync()
        self.passes += 1
        self.seconds += time.perf_counter() - self._t0

    def reset(self) -> None:
        self.passes, self.seconds = 0, 0.0


def _direct(wam: Cosmos3WAM, mode: str, steps: int, guidance: float, decode: bool,
            image: np.ndarray, actions: np.ndarray) -> Any:
    """The same call straight to diffusers (our action mapping and checks left out)."""
    from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import CosmosActionCondition

    cond: dict[str, Any] = {"image": image}
    if mode == "forward_dynamics":
        cond["raw_actions"] = torch.from_numpy(actions)
    if mode == "inverse_dynamics":
        cond = {"video": [image] * (wam.chunk_size + 1)}
    action = CosmosActionCondition(mode=mode, chunk_size=wam.chunk_size, domain_name=DOMAIN,
                                   resolution_tier=wam.tier, view_point=wam.viewpoint, **cond)
    return wam.pipe("pick up the cup", action=action, num_inference_steps=steps,
                    guidance_scale=guidance, use_system_prompt=False, fps=wam.fps,
                    output_type="np" if decode else "latent", enable_safety_check=False,
                    generator=torch.Generator().manual_seed(0))


def _adapter(wam: Cosmos3WAM, mode: str, obs: Observation, actions: np.ndarray) -> Any:
    if mode == "policy":
        return wam.policy(obs)
    if mode == "forward_dynamics":
        return wam.forward_dynamics(obs, actions)
    clip = np.repeat(obs.images["front"][None], wam.chunk_size + 1, axis=0)
    return wam.inverse_dynamics({"front": clip}, obs.state, obs.prompt)


def run(size: str, iters: int) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    if size == "auto":
        size = "nano" if cuda else "toy"
    if size == "nano" and not cuda:
        raise SystemExit("--size nano needs a CUDA GPU; use --size toy on a CPU")
    device = "cuda" if cuda and size == "nano" else "cpu"
    pipe = nano_pipeline(device) if size == "nano" else tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    h, w, tier = (540, 640, 480) if size == "nano" else (64, 64, 256)
    emb = load_embodiment("franka")
    stats = parse_statistics({"domains": {DOMAIN: tiny_statistics("quantile", "delta")}},
                             DOMAIN)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    state = np.concatenate([emb.home, [0.0]]).astype(np.float32)
    obs = Observation({"front": image}, state, "pick up the cup", 0.0)
    counter = PassCounter(pipe.transformer, device == "cuda")
    rows = []
    for name, mode, steps, guidance, decode in CASES:
        if size == "toy":  # a smoke test: every path runs, no figure is claimed
            steps = min(steps, 2)
        wam = Cosmos3WAM(pipe, emb, stats, domain=DOMAIN, chunk_size=16, resolution_tier=tier,
                         steps=steps, guidance_scale=guidance, return_future_frames=decode)
        pose = wam._pose_at(state)
        actions = np.tile(pose, (wam.chunk_size, 1)).astype(np.float32)
        raw = wam._to_model(actions.astype(np.float64), state)
        row: dict[str, Any] = {"case": name, "mode": mode, "steps": steps,
                               "guidance": guidance, "decoded": decode}
        calls = {"adapter": partial(_adapter, wam, mode, obs, actions),
                 "direct": partial(_direct, wam, mode, steps, guidance, decode, image, raw)}
        times: dict[str, list[float]] = {who: [] for who in calls}
        peak: dict[str, float] = {who: 0.0 for who in calls}
        for call in calls.values():
            call()  # warm-up (kernels, allocator)
        counter.reset()
        for _ in range(iters):  # interleaved, so drift on a shared machine hits both alike
            for who, call in calls.items():
                if device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                before = (counter.passes, counter.seconds)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    call()
                if device == "cuda":
                    torch.cuda.synchronize()
                    peak[who] = max(peak[who], torch.cuda.max_memory_allocated() / 2**30)
                times[who].append(time.perf_counter() - t0)
                if who == "direct":  # passes counted on the adapter's calls only
                    counter.passes, counter.seconds = before
        for who in calls:
            row[f"{who}_s"] = round(statistics.median(times[who]), 4)
            if device == "cuda":
                row[f"{who}_peak_gib"] = round(peak[who], 2)
        row["passes_per_call"] = counter.passes / iters
        row["s_per_pass"] = round(counter.seconds / max(counter.passes, 1), 5)
        row["adapter_over_direct"] = round(row["adapter_s"] / row["direct_s"], 3)
        rows.append(row)
        print(f"{name:28s} adapter {row['adapter_s']:8.3f} s  direct {row['direct_s']:8.3f} s  "
              f"x{row['adapter_over_direct']:.3f}  {row['passes_per_call']:g} passes  "
              f"{row['s_per_pass'] * 1e3:.1f} ms/pass")
    return {"size": size, "device": device, "dtype": str(pipe.transformer.dtype),
            "canvas_hw": [h, w], "resolution_tier": tier, "chunk": 16, "iters": iters,
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
            "torch": torch.__version__, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("auto", "toy", "nano"), default="auto")
    parser.add_argument("--iters", type=int, default=3, help="timed calls per case")
    parser.add_argument("--json", type=Path, default=Path("outputs/bench_cosmos3_latency.json"))
    args = parser.parse_args()
    result = run(args.size, max(1, args.iters))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
