"""Open a Cosmos 3 checkpoint folder (diffusers layout) with clear errors for people.

A Cosmos 3 checkpoint such as ``nvidia/Cosmos3-Nano``, downloaded to a local folder, holds
``model_index.json`` and one sub-folder per component (``transformer``, ``vae``,
``text_tokenizer``, ``scheduler``). Nothing here reaches a hub: the folder is the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cosmos_policy.errors import UserError

PIPELINE_CLASS = "Cosmos3OmniPipeline"
REQUIRED_COMPONENTS = ("transformer", "vae", "text_tokenizer", "scheduler")
DTYPES = ("bfloat16", "float16", "float32")
INSTALL_HINT = "install the cosmos3 extra: pip install 'cosmos-policy[cosmos3]' (diffusers>=0.42)"


def import_diffusers() -> Any:
    """The diffusers module with Cosmos 3 support, or a :class:`UserError` naming the fix."""
    try:
        import diffusers
        from diffusers import Cosmos3OmniPipeline  # noqa: F401
    except ImportError as e:
        raise UserError(f"Cosmos 3 checkpoints need diffusers with Cosmos3OmniPipeline ({e}); "
                        f"{INSTALL_HINT}") from e
    return diffusers


def action_tables() -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """diffusers' Cosmos 3 tables: domain -> id, domain -> raw action width, viewpoints."""
    from diffusers.pipelines.cosmos import pipeline_cosmos3_omni as p

    return (dict(p._EMBODIMENT_TO_DOMAIN_ID), dict(p._EMBODIMENT_TO_RAW_ACTION_DIM),
            dict(p._ACTION_VIEWPOINT_TEMPLATES))


def is_cosmos3_folder(path: str | Path) -> bool:
    """True when ``path`` looks like a Cosmos 3 pipeline folder (for ``--model`` dispatch)."""
    index = Path(path) / "model_index.json"
    try:
        return json.loads(index.read_text()).get("_class_name") == PIPELINE_CLASS
    except (OSError, json.JSONDecodeError):
        return False


def check_folder(path: str | Path) -> Path:
    """Check ``path`` is a Cosmos 3 pipeline folder with every required component."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--model {path}: no such folder; download a Cosmos 3 checkpoint first "
                        "(e.g. hf download nvidia/Cosmos3-Nano --local-dir PATH)")
    index = root / "model_index.json"
    if not index.is_file():
        raise UserError(f"{root}: no model_index.json, so not a diffusers pipeline folder; "
                        "point --model at the downloaded Cosmos 3 checkpoint's root")
    try:
        data = json.loads(index.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{index}: not valid JSON ({e}); re-download the checkpoint") from e
    if data.get("_class_name") != PIPELINE_CLASS:
        raise UserError(f"{index}: pipeline is {data.get('_class_name')!r}, not "
                        f"{PIPELINE_CLASS}; point --model at a Cosmos 3 checkpoint")
    for name in REQUIRED_COMPONENTS:
        entry = data.get(name)
        if not entry or entry[0] is None or not (root / name).is_dir():
            raise UserError(f"{root}: component '{name}' is missing (model_index.json entry and "
                            f"folder {name}/); re-download the checkpoint completely")
    return root


def torch_dtype(name: str) -> Any:
    """torch dtype for ``bfloat16``, ``float16`` or ``float32``."""
    import torch

    if name not in DTYPES:
        raise UserError(f"dtype {name!r} is not supported; use one of {list(DTYPES)}")
    return getattr(torch, name)


def open_pipeline(path: str | Path, *, dtype: str = "bfloat16", device: str = "cpu",
                  guardrail: bool = False) -> Any:
    """Load the pipeline in ``path`` (offline) on ``device`` in ``dtype``.

    guardrail: run NVIDIA's Cosmos guardrail on prompts and generated video (needs the
    ``cosmos_guardrail`` package; off by default, as a robot policy feeds camera frames).
    """
    root = check_folder(path)
    diffusers = import_diffusers()
    if guardrail:
        try:
            import cosmos_guardrail  # noqa: F401
        except ImportError as e:
            raise UserError("guardrail=True needs the cosmos_guardrail package: "
                            "pip install cosmos_guardrail") from e
    pipe = diffusers.Cosmos3OmniPipeline.from_pretrained(
        str(root), dtype=torch_dtype(dtype), local_files_only=True,
        enable_safety_checker=guardrail)
    if not getattr(pipe.transformer.config, "action_gen", False):
        raise UserError(f"{root}: this transformer was not trained with action generation "
                        "(config action_gen is false); use a Cosmos 3 checkpoint with actions")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


# What a checkpoint may state about how it is sampled, under NVIDIA's own names (the RoboLab
# server's arguments and the training config's action dataset): ours <- theirs.
STATED_KEYS = {"steps": ("num_steps", "num_inference_steps"), "guidance_scale": ("guidance",),
               "shift": ("shift", "flow_shift"), "fps": ("conditioning_fps", "fps")}


def stated_sampling(path: str | Path) -> dict[str, float]:
    """Sampling settings the checkpoint folder states: top-level keys of ``config.json`` (a
    cosmos-framework export) or ``model_index.json`` (diffusers), first found wins.

    Returns a subset of ``steps``, ``guidance_scale``, ``shift`` and ``fps``; the scheduler's
    own ``flow_shift`` is diffusers' video default, not an action setting, so it is not read.
    """
    found: dict[str, float] = {}
    for name in ("config.json", "model_index.json"):
        try:
            data = json.loads((Path(path) / name).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        for ours, theirs in STATED_KEYS.items():
            for key in theirs:
                value = data.get(key)
                if ours not in found and isinstance(value, (int, float)) and value > 0:
                    found[ours] = float(value)
    return found
