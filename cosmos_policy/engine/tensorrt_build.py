"""Compile an engine's ONNX graphs to serialized TensorRT plans (native ``tensorrt`` API).

Per graph: a builder, an explicit network filled by the ONNX parser, a builder config with
the precision flags (FP16 / BF16 / FP8 on top of FP32), a workspace limit, a timing cache
shared by all builds on this GPU and TensorRT version (``<cache>/tensorrt/``), and one
optimisation profile pinning every input to its static shape. The plan is specific to the
GPU's compute capability and the TensorRT version; both are recorded as the build target.

FP8 note: the FP8 flag lets TensorRT pick FP8 kernels only where the network carries
quantize/dequantize nodes; these graphs have none (no calibration yet), so an ``fp8`` build
runs its layers at the next precision TensorRT allows. The manifest records the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosmos_policy.errors import UserError
from cosmos_policy.models.checkpoint import sha256
from cosmos_policy.paths import cache_dir

WORKSPACE_BYTES = 1 << 30


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, or a UserError naming the extra to install."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise UserError("the tensorrt backend needs NVIDIA TensorRT: pip install "
                        "'cosmos-policy[tensorrt]' on a machine with a CUDA GPU, or use "
                        "--backend onnxruntime") from exc
    return trt


def build_target() -> dict[str, str]:
    """What a plan built here is tied to: GPU name, compute capability, TensorRT version."""
    import torch

    trt = import_tensorrt()
    if not torch.cuda.is_available():
        raise UserError("building TensorRT plans needs a CUDA GPU; none is visible here "
                        "(use --backend onnxruntime on CPU machines)")
    major, minor = torch.cuda.get_device_capability()
    return {"gpu": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}",
            "tensorrt": trt.__version__}


def _precision_flags(trt: Any, config: Any, precision: str) -> None:
    flags = {"fp32": [], "fp16": ["FP16"], "bf16": ["BF16"], "fp8": ["FP8", "FP16"]}
    for name in flags[precision]:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            raise UserError(f"this TensorRT ({trt.__version__}) has no {name} builder flag; "
                            f"upgrade TensorRT or build with --precision fp32")
        config.set_flag(flag)


def build_plan(onnx_path: Path, plan_path: Path, precision: str, timing_cache: Path) -> None:
    """Parse ``onnx_path`` and write the serialized plan to ``plan_path``."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    _precision_flags(trt, config, precision)
    blob = timing_cache.read_bytes() if timing_cache.is_file() else b""
    cache = config.create_timing_cache(blob)
    config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(tensor.shape)
        profile.set_shape(tensor.name, shape, shape, shape)  # static: min = opt = max
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build {onnx_path.name} at {precision} (see the "
                           "TensorRT log above)")
    plan_path.write_bytes(bytes(serialized))
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(bytes(cache.serialize()))


def build_plans(root: Path, graphs: dict[str, dict[str, Any]], precision: str,
                progress: bool = True) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Build one plan per graph in ``root``; returns (plan entries, build target)."""
    from tqdm import tqdm

    target = build_target()
    timing = (cache_dir() / "tensorrt" /
              f"timing_sm{target['compute_capability']}_trt{target['tensorrt']}.cache")
    plans = {}
    bar = tqdm(graphs.items(), desc=f"tensorrt {precision}", disable=not progress, leave=False)
    for name, entry in bar:
        bar.set_postfix_str(name)
        plan = root / f"{name}.plan"
        build_plan(root / entry["file"], plan, precision, timing)
        plans[name] = {"file": plan.name, "sha256": sha256(plan)}
    return plans, target
