"""How the commands use a Cosmos 3 checkpoint: ``--model PATH`` dispatch, options, labelling.

``eval``, ``label``, ``serve`` and the ROS 2 node take ``--model PATH``; when PATH is a Cosmos 3
pipeline folder (:func:`~cosmos_policy.models.cosmos3_load.is_cosmos3_folder`) they load it
with :func:`~cosmos_policy.models.cosmos3.load_cosmos3` and the :class:`Cosmos3Options` given
on the command line, instead of the compact model or an engine.

:class:`Cosmos3Labelling` gives a :class:`~cosmos_policy.models.cosmos3.Cosmos3WAM` the
batched interface that labelling and its cycle check use on the compact model
(``config.horizon``/``cameras``/``image_size``, ``domain`` statistics,
``inverse_dynamics_batch``, ``forward_dynamics_batch``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.models.config import DomainSpec
from cosmos_policy.models.cosmos3_load import is_cosmos3_folder
from cosmos_policy.spec import Observation

DTYPES = ("auto", "bfloat16", "float16", "float32")


def is_cosmos3(model: str | Path | None) -> bool:
    """True when ``--model`` names a Cosmos 3 checkpoint folder."""
    return model not in (None, "default", "random", "oracle") and is_cosmos3_folder(model)


@dataclass(frozen=True)
class Cosmos3Options:
    """What the command line sets for a Cosmos 3 checkpoint (see docs/COSMOS3.md).

    dtype/device ``auto``: bfloat16 on CUDA, float32 on the CPU. domain: overrides
    ``cosmos3.domain`` of embodiment.yaml. chunk_size: actions per call (multiple of 4).
    stats: the statistics file (default the checkpoint's ``action_statistics.json``).
    steps, guidance_scale, shift, system_prompt, fps, gripper_flip: None keeps the
    checkpoint's or the per-mode default (:data:`~cosmos_policy.models.cosmos3.SAMPLING`).
    future_frames: policy calls also decode the imagined video.
    """

    domain: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    chunk_size: int = 16
    resolution_tier: int = 480
    steps: int | None = None
    guidance_scale: float | None = None
    camera: str | None = None
    stats: str | None = None
    shift: float | None = None
    system_prompt: bool | None = None
    fps: float | None = None
    gripper_flip: bool | None = None
    future_frames: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UserError(f"--cosmos3-dtype {self.dtype!r}: use one of {', '.join(DTYPES)}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise UserError(f"--cosmos3-device {self.device!r}: use auto, cpu, cuda or cuda:N")

    @classmethod
    def from_parameters(cls, get: Any) -> Cosmos3Options:
        """The options from the ROS 2 node's ``cosmos3_*`` parameters (``get(name)``); 0 or
        an empty string keeps the default, as the launch file leaves them."""
        flip = str(get("cosmos3_gripper_flip")).lower()
        if flip not in ("auto", "on", "off", "true", "false"):
            raise UserError(f"cosmos3_gripper_flip {flip!r}: use auto, on or off")
        return cls(domain=get("cosmos3_domain") or None, dtype=get("cosmos3_dtype"),
                   device=get("cosmos3_device"), chunk_size=int(get("cosmos3_chunk")),
                   steps=int(get("cosmos3_steps")) or None,
                   guidance_scale=float(get("cosmos3_guidance")) or None,
                   shift=float(get("cosmos3_shift")) or None,
                   fps=float(get("cosmos3_fps")) or None,
                   gripper_flip=None if flip == "auto" else flip in ("on", "true"),
                   stats=get("cosmos3_stats") or None)

    def load_kwargs(self, seed: int = 0) -> dict[str, Any]:
        """Keyword arguments for :func:`~cosmos_policy.models.cosmos3.load_cosmos3`."""
        import torch

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        kw = {k: v for k, v in asdict(self).items()
              if k not in ("dtype", "device", "future_frames")}
        return {**kw, "dtype": dtype, "device": device, "seed": seed,
                "return_future_frames": self.future_frames}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--cosmos3-*`` options (used only when ``--model`` is a Cosmos 3 folder)."""
    g = parser.add_argument_group("Cosmos 3 checkpoints (when --model is a Cosmos 3 folder)")
    d = Cosmos3Options()
    g.add_argument("--cosmos3-domain", default=None,
                   help="Cosmos 3 action domain (default: cosmos3.domain of embodiment.yaml)")
    g.add_argument("--cosmos3-dtype", default=d.dtype, choices=DTYPES)
    g.add_argument("--cosmos3-device", default=d.device, help="auto, cpu, cuda or cuda:N")
    g.add_argument("--cosmos3-chunk", type=int, default=d.chunk_size,
                   help="actions per call (a multiple of 4)")
    g.add_argument("--cosmos3-tier", type=int, default=d.resolution_tier,
                   help="resolution tier: 256, 480, 704 or 720")
    g.add_argument("--stats", default=None, metavar="FILE",
                   help="action statistics JSON, ours ({\"domains\": ...}) or NVIDIA's flat "
                   "{\"q01\", \"q99\"} (default: the checkpoint's action_statistics.json)")
    g.add_argument("--cosmos3-steps", type=int, default=None,
                   help="denoising steps (default: the checkpoint's, else policy 4, dynamics 50)")
    g.add_argument("--cosmos3-guidance", type=float, default=None,
                   help="classifier-free guidance, 1.0: one transformer pass per step "
                   "(default: the checkpoint's, else policy 3, dynamics 1)")
    g.add_argument("--cosmos3-shift", type=float, default=None,
                   help="flow schedule shift (default: the checkpoint's, else 5)")
    g.add_argument("--cosmos3-system-prompt", action=argparse.BooleanOptionalAction,
                   default=None, help="the pipeline's system prompt (default off, as NVIDIA's "
                   "action runs)")
    g.add_argument("--cosmos3-fps", type=float, default=None,
                   help="frame rate of the model's frames and actions (default: the "
                   "checkpoint's, DROID 15, else the embodiment's control rate)")
    g.add_argument("--cosmos3-gripper-flip", action=argparse.BooleanOptionalAction,
                   default=None, help="send and read the gripper as 1 - g (default: on for "
                   "droid_lerobot, as NVIDIA's DROID server)")
    g.add_argument("--cosmos3-future-frames", action="store_true",
                   help="policy calls also decode the imagined video (default: latents only)")
    g.add_argument("--cosmos3-camera", default=None,
                   help="the camera that conditions the model (default: the first)")


def options_from_args(args: argparse.Namespace) -> Cosmos3Options | None:
    """The ``--cosmos3-*`` options, or None when ``--model`` is not a Cosmos 3 folder."""
    if not is_cosmos3(args.model):
        if getattr(args, "stats", None):
            raise UserError(f"--stats is for a Cosmos 3 checkpoint folder; --model {args.model} "
                            "carries its own statistics (drop --stats)")
        return None
    return Cosmos3Options(domain=args.cosmos3_domain, dtype=args.cosmos3_dtype,
                          device=args.cosmos3_device, chunk_size=args.cosmos3_chunk,
                          resolution_tier=args.cosmos3_tier, steps=args.cosmos3_steps,
                          guidance_scale=args.cosmos3_guidance, camera=args.cosmos3_camera,
                          stats=args.stats, shift=args.cosmos3_shift,
                          system_prompt=args.cosmos3_system_prompt, fps=args.cosmos3_fps,
                          gripper_flip=args.cosmos3_gripper_flip,
                          future_frames=args.cosmos3_future_frames)


def load(path: str | Path, embodiment: Any, options: Cosmos3Options | None = None, *,
         seed: int = 0) -> Any:
    """The :class:`~cosmos_policy.models.cosmos3.Cosmos3WAM` of the folder ``path``."""
    from cosmos_policy.models.cosmos3 import load_cosmos3

    return load_cosmos3(path, embodiment, **(options or Cosmos3Options()).load_kwargs(seed))


def identity(path: str | Path) -> dict[str, str]:
    """Provenance of a Cosmos 3 folder without hashing gigabytes: the SHA-256 of its
    ``model_index.json``, of the transformer's config and weight index (which name every
    shard) and of the action statistics."""
    from cosmos_policy.models.checkpoint import sha256

    root = Path(path)
    out = {"path": str(root.resolve()), "kind": "cosmos3"}
    for key, rel in (("model_index_sha256", "model_index.json"),
                     ("transformer_config_sha256", "transformer/config.json"),
                     ("action_statistics_sha256", "action_statistics.json")):
        if (root / rel).is_file():
            out[key] = sha256(root / rel)
    weights = sorted((root / "transformer").glob("*.safetensors*"))
    out["transformer_weights"] = ", ".join(f"{p.name}:{p.stat().st_size}" for p in weights)
    return out


class Cosmos3Labelling:
    """A :class:`~cosmos_policy.models.cosmos3.Cosmos3WAM` as labelling expects a model.

    A window is ``chunk_size`` transitions of the model's camera. The domain statistics
    give the confidence scale (half the q01..q99 range, the std, or half the min..max
    range, per action channel) and the state used when a source has none (home, gripper
    open).
    """

    def __init__(self, wam: Any) -> None:
        from cosmos_policy.models.config import STD_FLOOR

        self.wam = wam
        emb = wam.embodiment
        cam = emb.camera(wam.camera)
        self.config = SimpleNamespace(horizon=wam.chunk_size, cameras=(wam.camera,),
                                      image_size=int(min(cam.width, cam.height)))
        stats = wam.stats
        scale = np.abs(stats.b) if stats.kind == "mean_std" else np.abs(stats.b - stats.a) / 2
        centre = stats.a if stats.kind == "mean_std" else (stats.a + stats.b) / 2
        width = emb.action_dim
        if width != len(scale):  # joint-space embodiment: scale in its own units is unknown
            scale, centre = np.ones(width), np.zeros(width)
        state = np.concatenate([emb.home, [0.0]])
        self.domain = DomainSpec(
            name=emb.name, state_dim=len(state), action_dim=width,
            state_mean=tuple(float(x) for x in state),
            state_std=tuple(1.0 for _ in state),
            action_mean=tuple(float(x) for x in centre),
            action_std=tuple(max(float(x), STD_FLOOR) for x in scale))

    def reset(self) -> None:
        self.wam.reset()

    def inverse_dynamics_batch(self, frames: Sequence[dict[str, np.ndarray]],
                               states: np.ndarray) -> list[np.ndarray]:
        if not frames:
            raise UserError("inverse dynamics needs at least one window")
        return [self.wam.inverse_dynamics(f, s) for f, s in zip(frames, states, strict=True)]

    def forward_dynamics_batch(self, observations: Sequence[Observation],
                               actions: np.ndarray) -> list[dict[str, np.ndarray]]:
        return [self.wam.forward_dynamics(o, a)
                for o, a in zip(observations, actions, strict=True)]
