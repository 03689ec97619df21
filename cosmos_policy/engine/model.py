"""``EngineModel``: an engine folder on any backend behind the :class:`WorldActionModel` contract.

Preprocessing is the torch model's own: frames resized by ``resize_frames``, state and
actions normalised with the domain statistics from the manifest, prompts encoded by the
cached MiniLM ``PromptEncoder``. The graphs run on the backend; the Euler loop runs in numpy
(:mod:`cosmos_policy.engine.sampler`), or fully on the GPU where the backend offers a
``denoise_loop`` (native TensorRT with CUDA-graph replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cosmos_policy.embodiment import available_embodiments, load_embodiment
from cosmos_policy.engine.backends import Backend, make_backend
from cosmos_policy.engine.manifest import EngineManifest, EngineRequest, read_manifest
from cosmos_policy.engine.sampler import draw_noise, euler_sample
from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.autoencoder import resize_frames
from cosmos_policy.models.flow import Mode, check_noise_scale
from cosmos_policy.models.inputs import check_inverse_frames, forward_actions
from cosmos_policy.spec import ActionChunk, Observation


class EngineModel:
    """A built engine as a world-action model (policy, forward and inverse dynamics).

    root: the engine folder. backend: a name of ``BACKENDS`` or ``auto``.
    request: when given, the engine must match it (embodiment, batch, shapes, precision).
    steps: Euler steps (default: the manifest's). seed: sampler seed (``reset`` re-seeds).
    prompts: an object with ``encode(list[str]) -> (emb, mask)`` (default: MiniLM, cached).
    """

    def __init__(self, root: str | Path, backend: str = "auto", *,
                 request: EngineRequest | None = None, steps: int | None = None, seed: int = 0,
                 dt: float | None = None, return_future_frames: bool = False,
                 prompts: object | None = None, noise_scale: float = 1.0) -> None:
        self.noise_scale = check_noise_scale(noise_scale)
        self.root = Path(root)
        self.manifest: EngineManifest = read_manifest(self.root, request)
        self.backend: Backend = make_backend(backend, self.root, self.manifest)
        m, c = self.manifest, self.manifest.config
        self.config, self.domain, self.batch = c, m.domain, m.batch
        self.steps = steps if steps is not None else m.steps
        if self.steps < 1:
            raise UserError(f"steps must be >= 1, got {self.steps}")
        self.seed, self.return_future_frames = seed, return_future_frames
        rate = None
        if m.embodiment in available_embodiments():
            rate = load_embodiment(m.embodiment).control_rate_hz
        self.dt = dt if dt is not None else (1.0 / rate if rate else 0.1)
        if prompts is None:
            from cosmos_policy.models.text import PromptEncoder

            prompts = PromptEncoder(c.max_prompt_tokens)
        self.prompts = prompts
        d = self.domain
        self._s_mean, self._s_std = np.array(d.state_mean, np.float32), np.array(d.state_std,
                                                                                 np.float32)
        self._a_mean, self._a_std = np.array(d.action_mean, np.float32), np.array(
            d.action_std, np.float32)
        self._amask = np.zeros((self.batch, c.max_action_dim), np.float32)
        self._amask[:, : d.action_dim] = 1.0
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
        """Frames through the engine's autoencoder graphs, as :meth:`CompactWAM.reconstruct`."""
        latents = self.backend.run("encode_frames", {"images": self._images([images])})["latents"]
        return self._frames(latents, images)[0]

    # Batch forms (split into engine-sized batches, the last one padded) ---------------
    def policy_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        """B observations -> B action chunks (T, action_dim), denormalised."""
        out: list[ActionChunk] = []
        for part in self._parts(list(observations)):
            ctx = self._context([o.images for o in part], [o.prompt for o in part],
                                np.stack([o.state for o in part]))
            acts, lat = self._sample(ctx, Mode.POLICY)
            frames = self._frames(lat, part[0].images) if self.return_future_frames else None
            out += [ActionChunk(actions=acts[i], timestamp=o.timestamp, dt=self.dt,
                                future_frames=None if frames is None else frames[i])
                    for i, o in enumerate(part)]
        return out

    def forward_dynamics_batch(self, observations: Sequence[Observation],
                               actions: np.ndarray) -> list[dict[str, np.ndarray]]:
        """B observations + actions (B, T, action_dim) -> B dicts camera -> uint8 (1, H, W, 3)."""
        c = self.config
        actions = forward_actions(c, self.domain, actions, len(observations))
        out: list[dict[str, np.ndarray]] = []
        for start, part in self._indexed_parts(list(observations)):
            ctx = self._context([o.images for o in part], [o.prompt for o in part],
                                np.stack([o.state for o in part]))
            a = self._pad_rows(actions[start: start + len(part)])
            a = self._pad((a - self._a_mean) / self._a_std, c.max_action_dim)
            _, lat = self._sample(ctx, Mode.FORWARD, actions=a)
            out += self._frames(lat, part[0].images)[: len(part)]
        return out

    def inverse_dynamics_batch(self, frames: Sequence[dict[str, np.ndarray]],
                               states: np.ndarray) -> np.ndarray:
        """B dicts camera -> uint8 (H + 1, h, w, 3) (frames t..t+H) and states (B, S)
        -> actions (B, H, action_dim) between them."""
        check_inverse_frames(self.config, frames)
        states = np.asarray(states, dtype=np.float32)
        out = []
        for start, part in self._indexed_parts(list(frames)):
            first = [{cam: v[0] for cam, v in f.items()} for f in part]
            last = [{cam: v[-1] for cam, v in f.items()} for f in part]
            ctx = self._context(first, [""] * len(part), states[start: start + len(part)])
            future = self.backend.run("encode_frames", {"images": self._images(last)})["latents"]
            acts, _ = self._sample(ctx, Mode.INVERSE, future=future)
            out.append(acts[: len(part)])
        return np.concatenate(out)

    # Internals -----------------------------------------------------------------------
    def _indexed_parts(self, items: list) -> list[tuple[int, list]]:
        if not items:
            raise SpecError("expected at least one observation")
        return [(i, items[i: i + self.batch]) for i in range(0, len(items), self.batch)]

    def _parts(self, items: list) -> list[list]:
        return [p for _, p in self._indexed_parts(items)]

    def _pad_rows(self, x: np.ndarray) -> np.ndarray:
        """Repeat the last row so a short final part fills the engine's static batch."""
        n = x.shape[0]
        return x if n == self.batch else np.concatenate([x, np.repeat(x[-1:], self.batch - n, 0)])

    @staticmethod
    def _pad(x: np.ndarray, width: int) -> np.ndarray:
        out = np.zeros((*x.shape[:-1], width), dtype=np.float32)
        out[..., : x.shape[-1]] = x
        return out

    def _images(self, images: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
        """B dicts camera -> uint8 (H, W, 3) -> uint8 (batch, V, S, S, 3)."""
        c = self.config
        per_obs = []
        for imgs in images:
            missing = [cam for cam in c.cameras if cam not in imgs]
            if missing:
                raise SpecError(f"observation lacks cameras {missing}; the engine needs "
                                f"{list(c.cameras)}, got {sorted(imgs)}")
            per_obs.append(np.stack([resize_frames(np.asarray(imgs[cam]), c.image_size)
                                     for cam in c.cameras]))
        return self._pad_rows(np.stack(per_obs))

    def _context(self, images: Sequence[dict[str, np.ndarray]], prompts: list[str],
                 states: np.ndarray) -> dict[str, np.ndarray]:
        c, d = self.config, self.domain
        states = np.asarray(states, dtype=np.float32)
        if states.ndim != 2 or states.shape[1] != d.state_dim:
            raise SpecError(f"state: expected ({d.state_dim},) for domain {d.name!r}, got "
                            f"{states.shape[1:]}")
        prompts = prompts + [prompts[-1]] * (self.batch - len(prompts))
        emb, mask = self.prompts.encode(prompts)
        feeds = {"images": self._images(images), "prompt_emb": np.asarray(emb, np.float32),
                 "prompt_mask": np.asarray(mask, np.float32),
                 "state": self._pad_rows(self._pad((states - self._s_mean) / self._s_std,
                                                   c.max_state_dim))}
        return self.backend.run("context", feeds)

    def _sample(self, ctx: dict[str, np.ndarray], mode: Mode, actions: np.ndarray | None = None,
                future: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        c, b = self.config, self.batch
        a_shape = (b, c.chunk, c.max_action_dim)
        l_shape = (b, c.n_cameras, c.latent_channels, c.latent_size, c.latent_size)
        x_a, x_l = draw_noise(self._gen, a_shape, l_shape, self._amask, self.noise_scale)
        loop = getattr(self.backend, "denoise_loop", None)
        if loop is not None:
            acts, lat = loop(ctx, x_a, x_l, mode, self._amask, self.steps, actions, future)
        else:
            def step(xa: np.ndarray, xl: np.ndarray, ta: np.ndarray, tl: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
                out = self.backend.run("denoise", {
                    "context_kv": ctx["context_kv"], "key_bias": ctx["key_bias"],
                    "noisy_actions": xa, "noisy_latents": xl, "t_actions": ta, "t_latents": tl})
                return out["v_actions"], out["v_latents"]

            acts, lat = euler_sample(step, x_a, x_l, mode, self._amask, self.steps, actions,
                                     future)
        a = acts[..., : self.domain.action_dim] * self._a_std + self._a_mean
        return a.astype(np.float32), lat

    def _frames(self, latents: np.ndarray, like: dict[str, np.ndarray]
                ) -> list[dict[str, np.ndarray]]:
        decoded = self.backend.run("decode_latents", {"latents": latents})["decoded"]
        x = torch.from_numpy(np.ascontiguousarray(decoded))  # (B, V, 3, S, S) in [0, 1]
        out = []
        for b in range(x.shape[0]):
            frames = {}
            for v, cam in enumerate(self.config.cameras):
                h, w = np.asarray(like[cam]).shape[-3:-1]
                img = (x[b, v].clamp(0, 1) * 255.0).round().to(torch.uint8)
                if tuple(img.shape[1:]) != (h, w):  # as CompactWAM: upsample the uint8 frame
                    img = torch.nn.functional.interpolate(
                        img[None].float() / 255.0, size=(h, w), mode="bilinear",
                        align_corners=False)[0]
                    img = (img.clamp(0, 1) * 255.0).round().to(torch.uint8)
                frames[cam] = img.permute(1, 2, 0).numpy()[None]
            out.append(frames)
        return out
