"""A Cosmos 3 checkpoint (diffusers' ``Cosmos3OmniPipeline``) behind the WorldActionModel contract.

``load_cosmos3(PATH, embodiment)`` opens a local checkpoint folder and returns a
:class:`Cosmos3WAM`. Each call builds a ``CosmosActionCondition`` (mode, the embodiment's
``cosmos3.domain`` and viewpoint, chunk size, resolution tier, one camera's image or video),
runs the pipeline, denormalises the predicted actions with the checkpoint's per-domain
statistics and maps them to the embodiment's action space: the unified 10-D pose
``[x, y, z, r1..r6, g]`` (Cosmos 3's one-arm width is 10, the same layout), made absolute
or delta as the embodiment declares, or joint targets through :class:`KinematicProjector`
for joint-space embodiments. See docs/COSMOS3.md.

Conventions are NVIDIA's (cosmos-framework's pose utilities and DROID RoboLab server):
``delta`` statistics mean per-frame deltas chained in the gripper frame
(:func:`~cosmos_policy.geometry.chain_deltas`); DROID's gripper is flipped (``1 - g``) on
the way in and out; sampling follows the technical report per mode (:data:`SAMPLING`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment, load_embodiment
from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.geometry import (
    chain_deltas,
    compose_delta,
    matrix_from_rot6d,
    relative_delta,
    rot6d_from_matrix,
    unchain_deltas,
)
from cosmos_policy.kinematics import KinematicProjector
from cosmos_policy.models.cosmos3_load import (
    action_tables,
    check_folder,
    open_pipeline,
    stated_sampling,
)
from cosmos_policy.models.cosmos3_stats import ActionStatistics, load_statistics
from cosmos_policy.spec import ActionChunk, Observation

ARM_WIDTH = 10  # 9-D pose + gripper: Cosmos 3's width for one arm, and ours
TIERS = (256, 480, 704, 720)
MODES = ("policy", "forward_dynamics", "inverse_dynamics")


@dataclass(frozen=True)
class Sampling:
    """How one mode is sampled: denoising steps, classifier-free guidance (1.0: one
    transformer pass per step), the flow schedule's shift, and the pipeline's system prompt."""

    steps: int
    guidance_scale: float
    shift: float
    system_prompt: bool = False  # NVIDIA's action runs leave it off


# The Cosmos 3 technical report's settings: a short guided policy sample, long unguided
# dynamics; every one overridable (Cosmos3WAM's keywords, --cosmos3-* options).
SAMPLING = {"policy": Sampling(4, 3.0, 5.0),
            "forward_dynamics": Sampling(50, 1.0, 5.0),
            "inverse_dynamics": Sampling(50, 1.0, 5.0)}
# What NVIDIA's released servers do per domain where the checkpoint does not say: DROID was
# recorded and trained at 15 fps, and its gripper value is flipped (1 = open in the model).
DOMAIN_FPS = {"droid_lerobot": 15.0}
GRIPPER_FLIPPED = frozenset({"droid_lerobot"})


def resolve_domain(embodiment: Embodiment, domain: str | None = None) -> str:
    """The Cosmos 3 domain name for ``embodiment`` (``domain`` overrides embodiment.yaml)."""
    ids, widths, _ = action_tables()
    name = domain or embodiment.cosmos3_domain
    if not name:
        raise UserError(f"embodiment {embodiment.name!r} has no Cosmos 3 domain; add "
                        f"'cosmos3: {{domain: NAME}}' to {embodiment.root}/embodiment.yaml "
                        f"(one of {sorted(widths)}) or pass --cosmos3-domain")
    if name not in ids or name not in widths:
        raise UserError(f"{name!r} (embodiment {embodiment.name!r}) is not a Cosmos 3 action "
                        f"domain; set cosmos3.domain in {embodiment.root}/embodiment.yaml or "
                        f"pass --cosmos3-domain, one of {sorted(widths)}")
    if widths[name] != ARM_WIDTH:
        raise UserError(f"Cosmos 3 domain {name!r} has action width {widths[name]}; only one-arm "
                        f"domains (width {ARM_WIDTH}) map to a single-arm embodiment")
    return name


def resolve_viewpoint(embodiment: Embodiment, viewpoint: str | None = None) -> str:
    """Cosmos 3 viewpoint label (``third_person`` in embodiment.yaml -> ``third_person_view``)."""
    _, _, views = action_tables()
    name = viewpoint or embodiment.cosmos3_viewpoint or "ego_view"
    for candidate in (name, f"{name}_view"):
        if candidate in views:
            return candidate
    raise UserError(f"viewpoint {name!r} is not a Cosmos 3 viewpoint; use one of {sorted(views)} "
                    f"in cosmos3.viewpoint of {embodiment.root}/embodiment.yaml")


class Cosmos3WAM:
    """A Cosmos 3 pipeline serving policy, forward and inverse dynamics for one embodiment.

    pipe: a loaded ``Cosmos3OmniPipeline``; stats: the domain's :class:`ActionStatistics`.
    camera: the camera whose frames condition the model (default the embodiment's first).
    chunk_size: actions per policy chunk (a multiple of the VAE's temporal factor, 4).
    resolution_tier: 256, 480, 704 or 720 (pick the one nearest the camera's resolution).
    steps, guidance_scale, shift, system_prompt: override :data:`SAMPLING` for every mode
    (None: the checkpoint's stated value, see ``stated``, else the mode's default).
    fps: frame rate told to the model and of the action rows (None: the checkpoint's, else
    :data:`DOMAIN_FPS`, else the embodiment's control rate).
    gripper_flip: send ``1 - g`` and read back ``1 - g`` (None: :data:`GRIPPER_FLIPPED`).
    stated: what the checkpoint states (:func:`~cosmos_policy.models.cosmos3_load.
    stated_sampling`); its steps and guidance are the policy's, its shift and fps every mode's.
    return_future_frames: ``policy`` also decodes and returns the imagined frames (off: the
    pipeline stops at the latents and skips the VAE decode).
    """

    def __init__(self, pipe: Any, embodiment: Embodiment, stats: ActionStatistics, *,
                 domain: str | None = None, viewpoint: str | None = None,
                 camera: str | None = None, chunk_size: int = 16, resolution_tier: int = 480,
                 steps: int | None = None, guidance_scale: float | None = None,
                 shift: float | None = None, system_prompt: bool | None = None,
                 fps: float | None = None, gripper_flip: bool | None = None,
                 stated: dict[str, float] | None = None, seed: int = 0,
                 return_future_frames: bool = False) -> None:
        self.pipe, self.embodiment, self.stats = pipe, embodiment, stats
        self.domain = resolve_domain(embodiment, domain)
        self.viewpoint = resolve_viewpoint(embodiment, viewpoint)
        if stats.domain != self.domain or stats.dim != ARM_WIDTH:
            raise UserError(f"statistics are for domain {stats.domain!r} width {stats.dim}; "
                            f"need {self.domain!r} width {ARM_WIDTH}")
        self.camera = camera or embodiment.cameras[0].name
        embodiment.camera(self.camera)  # unknown camera -> UnknownNameError listing valid ones
        self.temporal = int(pipe.vae.config.scale_factor_temporal)
        if chunk_size < 1 or chunk_size % self.temporal:
            raise UserError(f"chunk_size must be a positive multiple of {self.temporal}, "
                            f"got {chunk_size}")
        if resolution_tier not in TIERS:
            raise UserError(f"resolution_tier must be one of {list(TIERS)}, got {resolution_tier}")
        self.chunk_size, self.tier = chunk_size, resolution_tier
        stated = dict(stated or {})
        self.sampling = {m: _sampling(m, stated, steps, guidance_scale, shift, system_prompt)
                         for m in MODES}
        self.steps = self.sampling["policy"].steps
        self.guidance_scale = self.sampling["policy"].guidance_scale
        self.fps = float(fps or stated.get("fps") or DOMAIN_FPS.get(self.domain)
                         or embodiment.control_rate_hz)
        if not self.fps > 0:
            raise UserError(f"fps must be > 0, got {self.fps}")
        self.dt = 1.0 / self.fps  # one action row per video frame at the model's rate
        self.gripper_flip = (self.domain in GRIPPER_FLIPPED if gripper_flip is None
                             else bool(gripper_flip))
        self.seed, self.return_future_frames = seed, return_future_frames
        self.projector = KinematicProjector(embodiment)
        self.reset()

    # -- the contract ---------------------------------------------------------------------
    def reset(self) -> None:
        import torch

        self._generator = torch.Generator().manual_seed(self.seed)

    def policy(self, obs: Observation) -> ActionChunk:
        out = self._run("policy", obs.prompt, image=self._image(obs.images),
                        decode=self.return_future_frames)
        actions = self._from_model(out.action[0].float().numpy(), obs.state)
        frames = self._frames(out.video, obs.images) if self.return_future_frames else None
        return ActionChunk(actions=actions, timestamp=obs.timestamp, dt=self.dt,
                           future_frames=frames)

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        raw = self._to_model(np.asarray(actions, np.float64), obs.state)
        out = self._run("forward_dynamics", obs.prompt, image=self._image(obs.images),
                        raw_actions=torch.from_numpy(raw), chunk=self._chunk(len(raw)))
        return self._frames(out.video, obs.images, count=len(raw))

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray,
                         prompt: str = "") -> np.ndarray:
        """Frames (camera -> uint8 (k+1, H, W, 3)) and the state at t -> actions (k, D)."""
        video = np.asarray(self._image(frames, clip=True))
        k = len(video) - 1
        if k < 1:
            raise SpecError(f"inverse_dynamics needs at least 2 frames, got {len(video)}")
        chunk = self._chunk(k)
        if chunk + 1 > len(video):  # pad to the VAE's 1 + 4n frames with the last frame
            video = np.concatenate([video, np.repeat(video[-1:], chunk + 1 - len(video), 0)])
        out = self._run("inverse_dynamics", prompt, video=list(video), chunk=chunk,
                        decode=False)
        return self._from_model(out.action[0].float().numpy()[:k], state)

    # -- conditioning -----------------------------------------------------------------------
    def _chunk(self, n: int) -> int:
        return -(-n // self.temporal) * self.temporal

    def _image(self, images: dict[str, np.ndarray], clip: bool = False) -> np.ndarray:
        if self.camera not in images:
            raise SpecError(f"Cosmos 3 is conditioned on camera {self.camera!r}; the input has "
                            f"{sorted(images)}")
        img = np.asarray(images[self.camera])
        want = 4 if clip else 3
        if img.dtype != np.uint8 or img.ndim != want or img.shape[-1] != 3:
            shape = "(T, H, W, 3)" if clip else "(H, W, 3)"
            raise SpecError(f"images[{self.camera!r}]: expected uint8 {shape}, got "
                            f"{img.dtype} {img.shape}")
        return img

    def _run(self, mode: str, prompt: str, chunk: int | None = None, decode: bool = True,
             **condition: Any) -> Any:
        """One pipeline call; ``decode=False`` returns latents instead of decoded video."""
        from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import CosmosActionCondition

        s = self.sampling[mode]
        self._set_shift(s.shift)
        cond = CosmosActionCondition(mode=mode, chunk_size=chunk or self.chunk_size,
                                     domain_name=self.domain, resolution_tier=self.tier,
                                     view_point=self.viewpoint, **condition)
        return self.pipe(prompt or "", action=cond, num_inference_steps=s.steps,
                         guidance_scale=s.guidance_scale, use_system_prompt=s.system_prompt,
                         fps=self.fps, output_type="np" if decode else "latent",
                         generator=self._generator, enable_safety_check=False)

    def _set_shift(self, shift: float) -> None:
        """Give the pipeline a scheduler with flow shift ``shift`` (diffusers reads the shift
        from the scheduler's config, so a different one means a new scheduler)."""
        sched = self.pipe.scheduler
        if float(getattr(sched.config, "flow_shift", shift)) != shift:
            self.pipe.scheduler = type(sched).from_config(sched.config, flow_shift=shift)

    def _frames(self, video: np.ndarray, like: dict[str, np.ndarray],
                count: int | None = None) -> dict[str, np.ndarray]:
        """Predicted video (T, h, w, 3) in [0, 1] -> uint8 frames after the first, camera size."""
        import torch
        import torch.nn.functional as F

        frames = np.asarray(video, np.float32)[1:]
        if count is not None:
            frames = frames[:count]
        h, w = np.asarray(like[self.camera]).shape[-3:-1]
        if frames.shape[1:3] != (h, w):
            t = torch.from_numpy(frames).permute(0, 3, 1, 2)
            t = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
            frames = t.permute(0, 2, 3, 1).numpy()
        return {self.camera: np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)}

    # -- action spaces ----------------------------------------------------------------------
    def _pose_at(self, state: np.ndarray) -> np.ndarray:
        n = self.embodiment.n_joints
        state = np.asarray(state, np.float64)
        if state.shape != (n + 1,):
            raise SpecError(f"state: expected shape ({n + 1},), got {state.shape}")
        return np.asarray(self.projector.to_unified(state[:n], float(state[n])), np.float64)

    def _from_model(self, norm: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Normalised model actions (T, 10) -> the embodiment's action space (T, D) float32."""
        unified = self.stats.denormalize(norm).astype(np.float64)
        unified[:, 3:9] = rot6d_from_matrix(matrix_from_rot6d(unified[:, 3:9]))
        if self.gripper_flip:
            unified[:, 9] = 1.0 - unified[:, 9]
        unified[:, 9] = np.clip(unified[:, 9], 0.0, 1.0)
        pose = self._pose_at(state)
        if self.stats.representation == "delta":  # row i: T_i^-1 T_{i+1}, chained from now
            unified = chain_deltas(pose, unified)
        if self.embodiment.action_type == "joint":
            q = np.asarray(state, np.float64)[: self.embodiment.n_joints]
            rows = []
            for a in unified:
                target = self.projector.to_joint_targets(a, q, representation="absolute")
                q = np.asarray(target[:-1], np.float64)
                rows.append(target)
            return np.asarray(rows, np.float32)
        if self.embodiment.action_representation == "delta":
            unified = relative_delta(pose, unified)
        return unified.astype(np.float32)

    def _to_model(self, actions: np.ndarray, state: np.ndarray) -> np.ndarray:
        """The embodiment's actions (T, D) -> normalised model actions (T, 10) float32."""
        if actions.ndim != 2 or actions.shape[1] != self.embodiment.action_dim:
            raise SpecError(f"actions: expected (T, {self.embodiment.action_dim}), got "
                            f"{actions.shape}")
        pose = self._pose_at(state)
        if self.embodiment.action_type == "joint":
            n = self.embodiment.n_joints
            unified = np.stack([self.projector.to_unified(a[:n], float(a[n])) for a in actions])
        elif self.embodiment.action_representation == "delta":
            unified = compose_delta(pose, actions)
        else:
            unified = actions
        unified = np.array(unified, np.float64)
        if self.stats.representation == "delta":
            unified = unchain_deltas(pose, unified)
        if self.gripper_flip:
            unified[:, 9] = 1.0 - unified[:, 9]
        return self.stats.normalize(unified)


def load_cosmos3(path: str | Path, embodiment: Embodiment | str, *, dtype: str = "bfloat16",
                 device: str | None = None, stats: str | Path | None = None,
                 domain: str | None = None, guardrail: bool = False,
                 **options: Any) -> Cosmos3WAM:
    """Open the Cosmos 3 checkpoint folder ``path`` for ``embodiment``.

    dtype: ``bfloat16`` (default), ``float16`` or ``float32``; device: ``cuda`` when
    available, else ``cpu``. stats: the statistics file (default
    ``PATH/action_statistics.json``). domain: override embodiment.yaml's cosmos3.domain.
    options: passed to :class:`Cosmos3WAM` (camera, chunk_size, resolution_tier, steps, ...).
    """
    emb = load_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    check_folder(path)
    name = resolve_domain(emb, domain)
    # statistics before the pipeline: a wrong file fails before gigabytes of weights are read
    statistics = load_statistics(stats if stats is not None else path, name)
    pipe = open_pipeline(path, dtype=dtype, device=device, guardrail=guardrail)
    return Cosmos3WAM(pipe, emb, statistics, domain=name, stated=stated_sampling(path),
                      **options)


def _sampling(mode: str, stated: dict[str, float], steps: int | None,
              guidance_scale: float | None, shift: float | None,
              system_prompt: bool | None) -> Sampling:
    """``mode``'s :class:`Sampling`: the caller's value, else the checkpoint's, else ours."""
    s = SAMPLING[mode]
    if mode == "policy":  # a checkpoint's stated steps and guidance are its policy's
        s = replace(s, steps=int(stated.get("steps", s.steps)),
                    guidance_scale=float(stated.get("guidance_scale", s.guidance_scale)))
    s = replace(s, shift=float(stated.get("shift", s.shift)))
    given = {"steps": steps, "guidance_scale": guidance_scale, "shift": shift,
             "system_prompt": system_prompt}
    s = replace(s, **{k: v for k, v in given.items() if v is not None})
    if s.steps < 1 or s.guidance_scale < 1.0 or s.shift <= 0:
        raise UserError(f"{mode} sampling: steps >= 1, guidance >= 1 and shift > 0 are needed, "
                        f"got {s.steps}, {s.guidance_scale}, {s.shift}")
    return s
