"""``CompactWAM``: the compact network behind the :class:`WorldActionModel` contract.

numpy in, numpy out; resizing, normalisation (with the statistics stored in the bundle),
prompt encoding and the seeded fixed-step Euler sampler all happen here. Each mode has a
batch form (lists of observations) for evaluation; the single forms call it with B = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cosmos_policy.embodiment import Embodiment, available_embodiments, load_embodiment
from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.autoencoder import frames_to_tensor, resize_frames, tensor_to_frames
from cosmos_policy.models.checkpoint import default_model_path, load_bundle
from cosmos_policy.models.config import DomainSpec
from cosmos_policy.models.flow import Mode, check_noise_scale, sample
from cosmos_policy.models.inputs import check_inverse_frames, forward_actions
from cosmos_policy.models.network import WorldActionNet
from cosmos_policy.models.text import PromptEncoder
from cosmos_policy.spec import ActionChunk, Observation


class CompactWAM:
    """The compact mixture-of-transformers WAM for one embodiment domain.

    net, domains: from :func:`load_bundle`. embodiment: an :class:`Embodiment` or a name
    (a domain name/alias of the bundle); may be omitted when the bundle has one domain.
    steps: Euler steps per sample; seed: seeds the sampler's noise (``reset`` re-seeds).
    dt: seconds between actions when no shipped embodiment gives ``control.rate_hz``.
    return_future_frames: let ``policy`` also decode the imagined frame at t + H.
    """

    def __init__(self, net: WorldActionNet, domains: list[DomainSpec],
                 embodiment: Embodiment | str | None = None, *, steps: int = 10, seed: int = 0,
                 dt: float | None = None, return_future_frames: bool = False,
                 noise_scale: float = 1.0) -> None:
        if steps < 1:
            raise UserError(f"steps must be >= 1, got {steps}")
        self.noise_scale = check_noise_scale(noise_scale)
        self.net = net.eval()
        self.config = net.config
        self.domains = domains
        self.steps, self.seed = steps, seed
        # Diagnostics only: a callable returning the true positions the plan token holds
        # ((plan_dim,) in the embodiment's base frame, m), fed in place of the model's own
        # estimate to measure what a perfect estimate would give. Never set by the runtime.
        self.plan_source: Any = None
        self.return_future_frames = return_future_frames
        emb = embodiment
        if isinstance(embodiment, str) and embodiment in available_embodiments():
            emb = load_embodiment(embodiment)
        names = [emb.name, emb.robot_type] if isinstance(emb, Embodiment) else [emb]
        if emb is None:
            if len(domains) != 1:
                raise UserError(f"this model has domains {[d.name for d in domains]}; "
                                "pass embodiment= to choose one")
            self.domain_index = 0
        else:
            found = [i for i, d in enumerate(domains) if any(d.matches(n) for n in names)]
            if not found:
                raise UserError(f"embodiment {names[0]!r} is not a domain of this model "
                                f"(domains: {[d.name for d in domains]}); fine-tune one with "
                                "`cosmos-policy train --projector-only --init MODEL DATASET`")
            self.domain_index = found[0]
        self.domain = domains[self.domain_index]
        rate = emb.control_rate_hz if isinstance(emb, Embodiment) else None
        self.dt = dt if dt is not None else (1.0 / rate if rate else 0.1)
        self.prompts = PromptEncoder(self.config.max_prompt_tokens)
        d = self.domain
        self._s_mean, self._s_std = np.array(d.state_mean), np.array(d.state_std)
        self._a_mean, self._a_std = np.array(d.action_mean), np.array(d.action_std)
        self.reset()

    # Contract ------------------------------------------------------------------------
    def reset(self) -> None:
        """Re-seed the sampler so an episode's samples are reproducible."""
        self._gen = torch.Generator().manual_seed(self.seed)

    def policy(self, obs: Observation) -> ActionChunk:
        return self.policy_batch([obs])[0]

    def forward_dynamics(self, obs: Observation, actions: np.ndarray) -> dict[str, np.ndarray]:
        return self.forward_dynamics_batch([obs], np.asarray(actions)[None])[0]

    def inverse_dynamics(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        return self.inverse_dynamics_batch([frames], np.asarray(state)[None])[0]

    def reconstruct(self, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Frames through the autoencoder (encoded, decoded, back at the input resolution):
        camera -> uint8 (1, H, W, 3). Forward dynamics decodes its prediction the same way,
        so this is the best a predicted frame can be."""
        with torch.no_grad():
            latents = self.net.encode_frames(self._images([images]))
        return self._frames(latents, images)[0]

    # Batch forms ---------------------------------------------------------------------
    def policy_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        """B observations -> B action chunks (T, action_dim), denormalised."""
        ctx = self._context([o.images for o in observations], [o.prompt for o in observations],
                            np.stack([o.state for o in observations]))
        acts, lat = self._sample(ctx, Mode.POLICY)
        frames = self._frames(lat, observations[0].images) if self.return_future_frames else None
        return [ActionChunk(actions=acts[i], timestamp=o.timestamp, dt=self.dt,
                            future_frames=None if frames is None else frames[i])
                for i, o in enumerate(observations)]

    def forward_dynamics_batch(self, observations: Sequence[Observation],
                               actions: np.ndarray) -> list[dict[str, np.ndarray]]:
        """B observations + actions (B, T, action_dim) -> B dicts camera -> uint8 (1, H, W, 3)
        (the frame H steps ahead, at the input resolution)."""
        c = self.config
        actions = forward_actions(c, self.domain, actions, len(observations))
        ctx = self._context([o.images for o in observations], [o.prompt for o in observations],
                            np.stack([o.state for o in observations]))
        a = self._pad((actions - self._a_mean) / self._a_std, c.max_action_dim)
        _, lat = self._sample(ctx, Mode.FORWARD, actions=torch.from_numpy(a))
        return self._frames(lat, observations[0].images)

    def inverse_dynamics_batch(self, frames: Sequence[dict[str, np.ndarray]],
                               states: np.ndarray) -> np.ndarray:
        """B dicts camera -> uint8 (H + 1, h, w, 3) (frames t..t+H) and states (B, S)
        -> actions (B, H, action_dim) between them."""
        check_inverse_frames(self.config, frames)
        first = [{cam: v[0] for cam, v in f.items()} for f in frames]
        last = [{cam: v[-1] for cam, v in f.items()} for f in frames]
        ctx = self._context(first, [""] * len(frames), np.asarray(states))
        with torch.no_grad():
            future = self.net.encode_frames(self._images(last))
        acts, _ = self._sample(ctx, Mode.INVERSE, future=future)
        return acts

    # Internals -----------------------------------------------------------------------
    @staticmethod
    def _pad(x: np.ndarray, width: int) -> np.ndarray:
        out = np.zeros((*x.shape[:-1], width), dtype=np.float32)
        out[..., : x.shape[-1]] = x
        return out

    def _images(self, images: Sequence[dict[str, np.ndarray]]) -> torch.Tensor:
        """B dicts camera -> uint8 (H, W, 3) -> (B, V, 3, S, S) float in [0, 1]."""
        c = self.config
        per_obs = []
        for imgs in images:
            missing = [cam for cam in c.cameras if cam not in imgs]
            if missing:
                raise SpecError(f"observation lacks cameras {missing}; the model needs "
                                f"{list(c.cameras)}, got {sorted(imgs)}")
            per_obs.append(np.stack([resize_frames(np.asarray(imgs[cam]), c.image_size)
                                     for cam in c.cameras]))
        return frames_to_tensor(np.stack(per_obs))

    def _context(self, images: Sequence[dict[str, np.ndarray]], prompts: list[str],
                 states: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        c, d = self.config, self.domain
        states = np.asarray(states, dtype=np.float32)
        if states.ndim != 2 or states.shape[1] != d.state_dim:
            raise SpecError(f"state: expected ({d.state_dim},) for domain {d.name!r}, got "
                            f"{states.shape[1:]}")
        s = torch.from_numpy(self._pad((states - self._s_mean) / self._s_std, c.max_state_dim))
        emb, mask = self.prompts.encode(list(prompts))
        domain = torch.full((len(prompts),), self.domain_index, dtype=torch.long)
        with torch.no_grad():
            latents = self.net.encode_frames(self._images(images))
            plan = None
            if self.plan_source is not None and c.plan_dim:
                xyz = np.asarray(self.plan_source(), np.float32).reshape(-1, 3)
                xyz = (xyz - self._a_mean[:3]) / self._a_std[:3]
                plan = torch.from_numpy(xyz.reshape(1, -1).astype(np.float32)).expand(
                    len(prompts), -1)
            kv, key_bias = self.net.encode_context(latents, emb, mask, s, domain, plan=plan)
        return kv, key_bias

    def _sample(self, ctx: tuple[torch.Tensor, torch.Tensor], mode: Mode,
                actions: torch.Tensor | None = None,
                future: torch.Tensor | None = None) -> tuple[np.ndarray, torch.Tensor]:
        kv, key_bias = ctx
        b = kv.shape[2]
        domain = torch.full((b,), self.domain_index, dtype=torch.long)
        amask = torch.zeros(b, self.config.max_action_dim)
        amask[:, : self.domain.action_dim] = 1.0
        acts, lat = sample(self.net, kv, key_bias, domain, mode, amask, self.steps, self._gen,
                           actions=actions, future=future, noise_scale=self.noise_scale)
        a = acts[..., : self.domain.action_dim].numpy() * self._a_std + self._a_mean
        return a.astype(np.float32), lat

    def _frames(self, latents: torch.Tensor,
                like: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        with torch.no_grad():
            imgs = tensor_to_frames(self.net.decode_latents(latents))  # (B, V, S, S, 3)
        out = []
        for b in range(imgs.shape[0]):
            frames = {}
            for v, cam in enumerate(self.config.cameras):
                h, w = np.asarray(like[cam]).shape[-3:-1]
                img = imgs[b, v]
                if (h, w) != img.shape[:2]:
                    x = frames_to_tensor(img[None]).float()
                    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear",
                                                        align_corners=False)
                    img = tensor_to_frames(x)[0]
                frames[cam] = img[None]
            out.append(frames)
        return out


def load_model(path: str | Path | None = None, embodiment: Embodiment | str | None = None,
               **kwargs: object) -> CompactWAM:
    """Load a bundle (default: the shipped ``engines/default``) as a :class:`CompactWAM`."""
    net, domains, _ = load_bundle(default_model_path() if path is None else path)
    return CompactWAM(net, domains, embodiment, **kwargs)  # type: ignore[arg-type]
