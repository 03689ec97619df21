"""Export one Cosmos 3 transformer denoising step, for a fixed configuration, to ONNX.

A configuration is (mode, camera size, resolution tier, chunk size, prompt length): it
fixes every packing index, so the graph is static. The pipeline is run for one step with
a hook on the transformer to record the packed inputs it builds (so the packing stays
diffusers' own); the graph then takes the step-varying tensors as inputs:

| input | shape | dtype |
| --- | --- | --- |
| ``input_ids`` | (L,) prompt tokens (any prompt of the same token length) | int64 |
| ``vision`` | (1, C, T, h, w) noisy video latents | float32 |
| ``action`` | (chunk, action_dim) noisy normalised actions | float32 |
| ``timestep`` | (1,) scheduler timestep (0..1000) | float32 |

and returns the masked velocities ``v_vision`` and ``v_action`` (the scheduler update
stays outside, as in the pipeline). ``build_tensorrt`` hands the file to
:func:`cosmos_policy.engine.tensorrt_build.build_plan`.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.errors import UserError

MODES = ("policy", "forward_dynamics", "inverse_dynamics")
OPSET = 17
INPUTS = ("input_ids", "vision", "action", "timestep")
OUTPUTS = ("v_vision", "v_action")


def capture_step_inputs(model: Any, mode: str, image_size: tuple[int, int],
                        prompt: str = "pick up the object") -> dict[str, Any]:
    """Keyword arguments the pipeline passes to the transformer in one step of ``mode``."""
    import torch

    if mode not in MODES:
        raise UserError(f"mode must be one of {list(MODES)}, got {mode!r}")
    h, w = image_size
    frame = np.zeros((h, w, 3), np.uint8)
    condition: dict[str, Any] = {"image": frame}
    if mode == "forward_dynamics":
        condition["raw_actions"] = torch.zeros(model.chunk_size, model.stats.dim)
    if mode == "inverse_dynamics":
        condition = {"video": [frame] * (model.chunk_size + 1)}
    captured: dict[str, Any] = {}

    def hook(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        captured.setdefault("kwargs", dict(kwargs))

    handle = model.pipe.transformer.register_forward_pre_hook(hook, with_kwargs=True)
    steps, cfg = model.steps, model.guidance_scale
    try:
        model.steps, model.guidance_scale = 1, 1.0
        from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import CosmosActionCondition

        cond = CosmosActionCondition(mode=mode, chunk_size=model.chunk_size,
                                     domain_name=model.domain, resolution_tier=model.tier,
                                     view_point=model.viewpoint, **condition)
        sampling = getattr(model, "sampling", {}).get(mode)  # the prompt layout the runs use
        model.pipe(prompt, action=cond, num_inference_steps=1, guidance_scale=1.0,
                   fps=model.fps, output_type="latent", enable_safety_check=False,
                   use_system_prompt=bool(sampling and sampling.system_prompt))
    finally:
        handle.remove()
        model.steps, model.guidance_scale = steps, cfg
    return captured["kwargs"]


class DenoiseStep:
    """torch module factory: the transformer with the packing of one configuration frozen."""

    @staticmethod
    def build(transformer: Any, packed: dict[str, Any]) -> Any:
        import torch

        class _Step(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.transformer = transformer
                self.packed = packed

            def forward(self, input_ids: torch.Tensor, vision: torch.Tensor,
                        action: torch.Tensor, timestep: torch.Tensor) -> tuple[torch.Tensor, ...]:
                kw = dict(self.packed)
                nv, na = kw["vision_timesteps"].shape[0], kw["action_timesteps"].shape[0]
                kw.update(input_ids=input_ids, vision_tokens=[vision], action_tokens=[action],
                          vision_timesteps=timestep.expand(nv),
                          action_timesteps=timestep.expand(na), return_dict=False)
                v, _, a = self.transformer(**kw)
                return v[0], a[0]

        return _Step().eval()


@contextlib.contextmanager
def _gqa_as_repeat() -> Iterator[None]:
    """Scaled-dot-product attention with grouped K/V heads expanded, for the ONNX exporter.

    The TorchScript exporter cannot convert ``enable_gqa=True``; repeating each K/V head
    over its query group is the same computation with plain multi-head attention.
    """
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention

    def sdpa(query: Any, key: Any, value: Any, *args: Any, enable_gqa: bool = False,
             **kwargs: Any) -> Any:
        if enable_gqa and key.shape[-3] != query.shape[-3]:
            groups = query.shape[-3] // key.shape[-3]
            key = key.repeat_interleave(groups, dim=-3)
            value = value.repeat_interleave(groups, dim=-3)
        return original(query, key, value, *args, **kwargs)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def step_example(packed: dict[str, Any], seed: int = 0, timestep: float = 500.0) -> dict:
    """Random inputs of the graph's shapes (numpy), seeded."""
    rng = np.random.default_rng(seed)
    vision = packed["vision_tokens"][0]
    action = packed["action_tokens"][0]
    return {"input_ids": packed["input_ids"].cpu().numpy().astype(np.int64),
            "vision": rng.standard_normal(tuple(vision.shape)).astype(np.float32),
            "action": rng.standard_normal(tuple(action.shape)).astype(np.float32),
            "timestep": np.array([timestep], np.float32)}


def export_denoise_step(model: Any, out_dir: str | Path, mode: str,
                        image_size: tuple[int, int], *, opset: int = OPSET,
                        prompt: str = "pick up the object") -> Path:
    """Write ``step_<mode>.onnx`` and its ``.json`` manifest; returns the ONNX path.

    model: a float32 :class:`~cosmos_policy.models.cosmos3.Cosmos3WAM` (export in float32;
    TensorRT lowers precision at build time).
    """
    import onnx
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    packed = capture_step_inputs(model, mode, image_size, prompt)
    module = DenoiseStep.build(model.pipe.transformer, packed)
    feeds = step_example(packed)
    args = tuple(torch.from_numpy(feeds[k]) for k in INPUTS)
    path = out / f"step_{mode}.onnx"
    with _gqa_as_repeat(), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer chatter about constants and python ints
        torch.onnx.export(module, args, str(path), input_names=list(INPUTS),
                          output_names=list(OUTPUTS), opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    manifest = {"model": "cosmos3", "mode": mode, "domain": model.domain,
                "chunk_size": model.chunk_size, "resolution_tier": model.tier,
                "image_size": list(image_size), "fps": model.fps, "opset": opset,
                "inputs": {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                           for k, v in feeds.items()},
                "outputs": list(OUTPUTS)}
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=1))
    return path


def torch_step(model: Any, mode: str, image_size: tuple[int, int],
               feeds: dict[str, np.ndarray], prompt: str = "pick up the object") -> list:
    """The torch reference outputs of one step for ``feeds`` (numpy)."""
    import torch

    packed = capture_step_inputs(model, mode, image_size, prompt)
    module = DenoiseStep.build(model.pipe.transformer, packed)
    with torch.no_grad():
        outs = module(*(torch.from_numpy(feeds[k]) for k in INPUTS))
    return [o.float().numpy() for o in outs]


def build_tensorrt(onnx_path: str | Path, plan_path: str | Path, precision: str = "bf16",
                   timing_cache: str | Path | None = None) -> Path:
    """Build a TensorRT plan from an exported step (needs tensorrt and an NVIDIA GPU)."""
    from cosmos_policy.engine.tensorrt_build import build_plan

    onnx_path, plan_path = Path(onnx_path), Path(plan_path)
    cache = Path(timing_cache) if timing_cache else plan_path.with_suffix(".timing")
    build_plan(onnx_path, plan_path, precision, cache)
    return plan_path


def build_steps(model: Any, out_dir: str | Path, modes: tuple[str, ...],
                image_size: tuple[int, int], *, backend: str = "onnxruntime",
                precision: str = "fp32", verify: bool = True,
                tolerance: float = 1e-3) -> dict[str, Any]:
    """Export the denoising step of each of ``modes`` to ``out_dir`` (``engine build``).

    verify: run each graph in onnxruntime on a seeded random input and compare with torch
    (largest absolute difference, relative to the largest reference value, under
    ``tolerance``). backend ``tensorrt`` also builds a plan per graph (``precision``).
    Writes and returns ``cosmos3_engine.json``: the graphs, their checks and what to run.
    """
    out = Path(out_dir)
    report: dict[str, Any] = {"model": "cosmos3", "domain": model.domain, "backend": backend,
                              "precision": precision, "image_size": list(image_size),
                              "graphs": {}, "passed": True}
    for mode in modes:
        path = export_denoise_step(model, out, mode, image_size)
        entry: dict[str, Any] = {"onnx": path.name}
        if verify:
            import onnxruntime as ort

            feeds = step_example(capture_step_inputs(model, mode, image_size), seed=1)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, feeds)
            want = torch_step(model, mode, image_size, feeds)
            err = max(float(np.max(np.abs(g - w)) / max(float(np.max(np.abs(w))), 1e-6))
                      for g, w in zip(got, want, strict=True))
            entry["rel_err"] = err
            entry["ok"] = bool(err < tolerance)
            report["passed"] = bool(report["passed"] and entry["ok"])
        if backend == "tensorrt":
            entry["plan"] = build_tensorrt(path, path.with_suffix(".plan"), precision).name
        report["graphs"][mode] = entry
    (out / "cosmos3_engine.json").write_text(json.dumps(report, indent=1))
    return report
