"""Cosmos 3 *policy* checkpoints (``nvidia/Cosmos3-{Nano,Edge}-Policy-DROID``) as a model.

They are a different contract from the base Cosmos 3 checkpoints (docs/COSMOS3.md,
"Policy checkpoints"):

* actions are **absolute joint positions**, 8-D ``[q1..q7, gripper]``, raw (no
  normalisation), 32 per chunk at 15 fps, in the ``droid_lerobot`` domain;
* the **current state is the first action row** (``use_state``): a clean, un-noised
  token the model conditions on, so the action sequence is ``chunk + 1`` rows long and
  the first row is trimmed from the output;
* the image is the DROID ``concat_view`` canvas (:mod:`cosmos3_views`), the prompt the
  structured JSON caption (diffusers builds it in action mode);
* NVIDIA samples them with 4 steps, guidance 3 and shift 5.

The gripper is an *opening* in [0, 1] inside the model (NVIDIA's server flips DROID's
closedness on the way in and out), which is our state's convention: no flip here.

diffusers' ``Cosmos3OmniPipeline`` cannot say the state row (its action length is the chunk
and its action width comes from a per-domain table: 10 for ``droid_lerobot``), but its
denoising loop already keeps *condition* action rows clean (forward dynamics marks them all).
:class:`StateRowPipeline` reuses that loop and changes only the initial tokens: one clean
state row in front of the noisy chunk, and the width set to 8, so the transformer, the
scheduler and the guidance are diffusers' own.

Layouts: the diffusers folder (``model_index.json``) loads with public libraries and is what
this module runs. cosmos-framework's consolidated export (``config.json`` + safetensors, or
``model/``) needs NVIDIA's framework (CUDA only, not a pip library) and is refused with the
reason by :func:`policy_config`'s caller.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment, load_embodiment
from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.cosmos3_views import (
    CANVAS_SIZE,
    CANVAS_VIEWPOINT,
    canvas_from_cameras,
)
from cosmos_policy.spec import ActionChunk, Observation

CONFIG_FILE = "policy_config.json"  # ours: how a policy folder says what it is
ARM_JOINTS = 7


@dataclass(frozen=True)
class PolicyConfig:
    """What a policy checkpoint predicts and how it is sampled (NVIDIA's DROID defaults).

    action_space: ``joint_pos`` only. action_dim: joints + gripper. chunk_size: actions
    returned per call (the state row comes on top). fps: the rate the model was trained at
    (the chunk's action period is 1 / fps). canvas: (H, W) of the ``concat_view`` image.
    """

    domain: str = "droid_lerobot"
    action_space: str = "joint_pos"
    action_dim: int = 8
    chunk_size: int = 32
    use_state: bool = True
    fps: float = 15.0
    canvas: tuple[int, int] = CANVAS_SIZE
    resolution_tier: int = 480
    steps: int = 4
    guidance_scale: float = 3.0
    shift: float = 5.0

    def __post_init__(self) -> None:
        if self.action_space != "joint_pos":
            raise UserError(f"policy action_space {self.action_space!r}: only 'joint_pos' "
                            "(absolute joints + gripper) is supported")
        if self.action_dim != ARM_JOINTS + 1:
            raise UserError(f"policy action_dim {self.action_dim}: expected {ARM_JOINTS + 1} "
                            "(7 joints + gripper)")
        if self.chunk_size < 1 or self.steps < 1 or not self.fps > 0:
            raise UserError("policy chunk_size and steps must be >= 1 and fps > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = CONFIG_FILE) -> PolicyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{source}: unknown keys {unknown}; valid: {sorted(known)}")
        if "canvas" in data:
            data = {**data, "canvas": tuple(int(x) for x in data["canvas"])}
        return cls(**data)


def _framework_says_policy(root: Path) -> bool:
    """cosmos-framework's export metadata (``checkpoint.json``) names a policy experiment."""
    for meta in (root / "model" / "checkpoint.json", root / "checkpoint.json"):
        if meta.is_file():
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                return False
            return "policy" in str(data.get("experiment", "")).lower()
    return False


def is_policy_folder(path: str | Path) -> bool:
    """True for a diffusers Cosmos 3 folder that holds a policy checkpoint: it has our
    ``policy_config.json`` or cosmos-framework metadata naming a policy experiment."""
    from cosmos_policy.models.cosmos3_load import is_cosmos3_folder

    root = Path(path)
    if not is_cosmos3_folder(root):
        return False
    return (root / CONFIG_FILE).is_file() or _framework_says_policy(root)


def framework_only(path: str | Path) -> bool:
    """A cosmos-framework consolidated export without a diffusers layout beside it."""
    root = Path(path)
    inner = root / "model" if (root / "model").is_dir() else root
    return (not (root / "model_index.json").is_file() and (inner / "config.json").is_file()
            and (any(inner.glob("*.safetensors"))
                 or (inner / "model.safetensors.index.json").is_file()))


def policy_config(path: str | Path, **overrides: Any) -> PolicyConfig:
    """The folder's :class:`PolicyConfig` (``policy_config.json``, else NVIDIA's DROID
    defaults), with ``overrides`` (None values ignored)."""
    root = Path(path)
    data: dict[str, Any] = {}
    if (root / CONFIG_FILE).is_file():
        data = json.loads((root / CONFIG_FILE).read_text())
    data.update({k: v for k, v in overrides.items() if v is not None})
    return PolicyConfig.from_dict(data, str(root / CONFIG_FILE))


def write_policy_config(path: str | Path, config: PolicyConfig | None = None) -> Path:
    """Write ``policy_config.json`` into a folder (marks it as a policy checkpoint)."""
    target = Path(path) / CONFIG_FILE
    target.write_text(json.dumps(asdict(config or PolicyConfig()), indent=2) + "\n")
    return target


class StateRowPipeline:
    """Runs a ``Cosmos3OmniPipeline`` in policy mode with a clean state row in front.

    Wraps (never subclasses) the loaded pipeline: for one call it replaces the pipeline's
    ``prepare_latents`` by one that prepends the state row (marked as a condition, so the
    loop leaves it untouched) and sets the unpadded action width.
    """

    def __init__(self, pipe: Any) -> None:
        self.pipe = pipe

    def __call__(self, prompt: str, condition: Any, state_row: np.ndarray | None,
                 width: int, **call: Any) -> Any:
        import torch

        pipe = self.pipe
        condition.raw_action_dim = width  # the table says 10 for droid; the policy is 8-D
        original = pipe.prepare_latents

        def prepare(*args: Any, **kw: Any) -> tuple:
            out = list(original(*args, **kw))
            actions, mask = out[2], out[7]
            if state_row is None or actions is None:
                return tuple(out)
            row = torch.zeros((1, actions.shape[1]), dtype=actions.dtype, device=actions.device)
            row[0, :width] = torch.as_tensor(state_row, dtype=actions.dtype,
                                             device=actions.device)
            out[2] = torch.cat([row, actions])
            out[7] = torch.cat([torch.ones((1, 1), dtype=mask.dtype, device=mask.device), mask])
            out[11] = [0, *(int(i) + 1 for i in out[11])]
            return tuple(out)

        pipe.prepare_latents = prepare
        try:
            return pipe(prompt, action=condition, **call)
        finally:
            del pipe.prepare_latents  # back to the class's method


class Cosmos3PolicyWAM:
    """A Cosmos 3 policy checkpoint behind the WorldActionModel contract.

    embodiment: a 7-DoF arm with a gripper. Joint-space embodiments get the joint targets
    as predicted; end-effector ones the forward kinematics of each row (unified pose).
    Cameras: the wrist camera (mounted on a body) on top of the canvas, the world cameras
    below; an observation may also bring a ready canvas under ``concat_view``.
    """

    consumes_canvas = True  # RoboLab serving hands it the DROID canvas as it is

    def __init__(self, pipe: Any, embodiment: Embodiment, config: PolicyConfig | None = None,
                 *, seed: int = 0) -> None:
        if embodiment.n_joints != ARM_JOINTS:
            raise UserError(f"Cosmos 3 policy checkpoints drive 7 joints + a gripper (DROID's "
                            f"Franka); embodiment {embodiment.name!r} has "
                            f"{embodiment.n_joints} joints")
        self.pipe, self.embodiment = pipe, embodiment
        self.config = config or PolicyConfig()
        self.runner = StateRowPipeline(pipe)
        self.dt = 1.0 / self.config.fps
        self.seed = seed
        wrists = [c.name for c in embodiment.cameras if c.mount != "world"]
        self.exteriors = [c.name for c in embodiment.cameras if c.mount == "world"]
        self.wrist = wrists[0] if wrists else None
        self.projector = None
        if embodiment.action_type != "joint":
            from cosmos_policy.kinematics import KinematicProjector

            self.projector = KinematicProjector(embodiment)
        self._set_shift(self.config.shift)
        self.reset()

    def _set_shift(self, shift: float) -> None:
        scheduler = self.pipe.scheduler
        if "flow_shift" in scheduler.config and scheduler.config.flow_shift != shift:
            self.pipe.scheduler = type(scheduler).from_config(scheduler.config, flow_shift=shift)

    # -- the contract ---------------------------------------------------------------------
    def reset(self) -> None:
        import torch

        self._generator = torch.Generator().manual_seed(self.seed)

    def canvas(self, images: dict[str, np.ndarray]) -> np.ndarray:
        """The ``concat_view`` canvas of an observation's images."""
        if CANVAS_VIEWPOINT not in images and (self.wrist is None or not self.exteriors):
            raise SpecError(f"embodiment {self.embodiment.name!r} needs a wrist camera and a "
                            f"world camera (or a ready {CANVAS_VIEWPOINT!r} image) for the "
                            "policy canvas")
        try:
            return canvas_from_cameras(images, self.wrist or "", self.exteriors,
                                       self.config.canvas)
        except ValueError as exc:
            raise SpecError(str(exc)) from exc

    def raw_chunk(self, obs: Observation) -> np.ndarray:
        """The model's rows (chunk + 1, 8) *with* the state row first (for tests/debugging)."""
        from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import CosmosActionCondition

        cfg = self.config
        state = self._state(obs.state)
        condition = CosmosActionCondition(
            mode="policy", chunk_size=cfg.chunk_size, domain_name=cfg.domain,
            resolution_tier=cfg.resolution_tier, view_point=CANVAS_VIEWPOINT,
            image=self.canvas(obs.images))
        out = self.runner(obs.prompt or "", condition, state if cfg.use_state else None,
                          cfg.action_dim, num_inference_steps=cfg.steps,
                          guidance_scale=cfg.guidance_scale, fps=cfg.fps, output_type="latent",
                          generator=self._generator, enable_safety_check=False)
        return out.action[0].float().numpy()

    def policy(self, obs: Observation) -> ActionChunk:
        rows = self.raw_chunk(obs)
        if self.config.use_state:
            rows = rows[1:]  # the state row is an input, not an action
        rows = rows[: self.config.chunk_size].astype(np.float64)
        rows[:, -1] = np.clip(rows[:, -1], 0.0, 1.0)
        return ActionChunk(actions=self._to_embodiment(rows), timestamp=obs.timestamp,
                           dt=self.dt)

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        raise UserError("a Cosmos 3 policy checkpoint predicts actions only; use a base "
                        "Cosmos 3 checkpoint (e.g. Cosmos3-Nano) for forward dynamics")

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray,
                         prompt: str = "") -> np.ndarray:
        raise UserError("a Cosmos 3 policy checkpoint predicts actions only; use a base "
                        "Cosmos 3 checkpoint (e.g. Cosmos3-Nano) for inverse dynamics")

    # -- spaces -------------------------------------------------------------------------------
    def _state(self, state: np.ndarray) -> np.ndarray:
        s = np.asarray(state, np.float64)
        if s.shape != (ARM_JOINTS + 1,) or not np.all(np.isfinite(s)):
            raise SpecError(f"state: expected {ARM_JOINTS + 1} finite values (7 joints + "
                            f"gripper opening), got shape {s.shape}")
        return s

    def _to_embodiment(self, rows: np.ndarray) -> np.ndarray:
        """Joint rows (T, 8) -> the embodiment's action space (T, D) float32."""
        if self.projector is None:
            return rows.astype(np.float32)
        return np.stack([self.projector.to_unified(r[:ARM_JOINTS], float(r[ARM_JOINTS]))
                         for r in rows]).astype(np.float32)


def load_policy(path: str | Path, embodiment: Embodiment | str, options: Any = None, *,
                seed: int = 0) -> Cosmos3PolicyWAM:
    """Open the policy checkpoint folder ``path`` for ``embodiment``.

    options: the command line's ``Cosmos3Options``: its dtype and device, and the sampling
    settings it changed from their defaults; the rest come from the folder's
    :class:`PolicyConfig`.
    """
    from cosmos_policy.models.cosmos3_load import open_pipeline

    emb = load_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
    if framework_only(path):
        raise UserError(f"{path}: a cosmos-framework export (config.json + safetensors) runs "
                        "only in NVIDIA's cosmos-framework (CUDA); download the diffusers "
                        "layout (model_index.json) of the same repository")
    kw = options.load_kwargs(seed) if options is not None else {}
    import torch

    device = kw.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = kw.get("dtype") or ("bfloat16" if device.startswith("cuda") else "float32")
    pipe = open_pipeline(path, dtype=dtype, device=device)
    return Cosmos3PolicyWAM(pipe, emb, policy_config(path, **_overrides(options)), seed=seed)


def _overrides(options: Any) -> dict[str, Any]:
    """The sampling options the command line set away from their defaults (a value equal to
    the base model's default cannot be told from "not given", so the folder's wins)."""
    if options is None:
        return {}
    defaults = type(options)()
    names = {"steps": "steps", "guidance_scale": "guidance_scale", "shift": "shift",
             "fps": "fps", "chunk_size": "chunk_size", "resolution_tier": "resolution_tier"}
    out = {}
    for theirs, ours in names.items():
        value = getattr(options, theirs, None)
        if value is not None and value != getattr(defaults, theirs, None):
            out[ours] = value
    return out


__all__ = ["CONFIG_FILE", "Cosmos3PolicyWAM", "PolicyConfig", "StateRowPipeline",
           "framework_only", "is_policy_folder", "load_policy", "policy_config",
           "write_policy_config"]
