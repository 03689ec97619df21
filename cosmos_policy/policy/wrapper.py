"""``Policy``: one backend's four graphs plus the shared transforms and the one sampler.

The compact model on torch (``load_model``), on ONNX Runtime or on TensorRT (an engine
folder, ``EngineModel``) is this one class; only the backend differs. A backend runs the
named graphs ``context``, ``denoise``, ``encode_frames`` and ``decode_latents`` on numpy
feeds (:mod:`cosmos_policy.engine.backends`); everything around them happens here, once:

1. frames resized to the model's cameras and size (:class:`FrameResize`), prompts encoded
   (MiniLM, cached), state normalised with the domain's statistics and padded;
2. rows padded to the backend's static batch (engines) or left as they come (torch);
3. noise drawn from the seeded generator and integrated with fixed Euler steps
   (:mod:`.sampler`), or by the backend's own ``denoise_loop`` where it has one;
4. actions denormalised, imagined frames decoded back to the input resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cosmos_policy.engine.backends import Backend
from cosmos_policy.errors import SpecError, UserError
from cosmos_policy.models.config import DomainSpec, WAMConfig
from cosmos_policy.models.flow import Mode, check_guidance, check_noise_scale
from cosmos_policy.models.inputs import check_inverse_frames, forward_actions
from cosmos_policy.policy.sampler import draw_noise, euler_sample
from cosmos_policy.policy.transforms import (
    FrameResize,
    FrameRestore,
    Normalizer,
    pad_prompts,
    pad_rows,
)
from cosmos_policy.spec import ActionChunk, Observation


class Policy:
    """The compact WAM behind the :class:`~cosmos_policy.spec.WorldActionModel` contract.

    backend: runs the four graphs (a loaded :class:`Backend`; may be swapped later, as the
    benchmark and the parity check do). config, domain: the network's and the embodiment
    domain's description. batch: the backend's static batch (engines), None for any.
    steps: Euler steps per sample; seed: seeds the noise (``reset`` re-seeds).
    dt: seconds between actions. prompts: ``encode(list[str]) -> (emb, mask)``
    (default: MiniLM, cached). noise_scale: in [0, 1], see :func:`.sampler.draw_noise`.
    return_future_frames: let ``policy`` also decode the imagined frame at t + H.
    stats_dtype: precision of the normalisation arithmetic (:class:`.transforms.Normalizer`).
    guidance: classifier-free guidance of the policy's chunk towards its prompt, ``w``: each
    Euler step's velocity is ``v("") + w (v(prompt) - v(""))`` from the same frames, state
    and noise (the models learn the empty prompt: training drops prompts). 1 (default) is
    the prompted model alone, one pass per step; any other value costs a second context and
    a second denoise pass per step. Policy mode only.
    """

    def __init__(self, backend: Backend, config: WAMConfig, domain: DomainSpec, *,
                 batch: int | None = None, steps: int = 10, seed: int = 0, dt: float = 0.1,
                 prompts: Any = None, noise_scale: float = 1.0,
                 return_future_frames: bool = False, domain_index: int = 0,
                 stats_dtype: type = np.float64, guidance: float = 1.0) -> None:
        if steps < 1:
            raise UserError(f"steps must be >= 1, got {steps}")
        self.noise_scale = check_noise_scale(noise_scale)
        self.guidance = check_guidance(guidance)
        self.backend, self.config, self.domain, self.batch = backend, config, domain, batch
        self.domain_index = domain_index
        self.steps, self.seed, self.dt = steps, seed, dt
        self.return_future_frames = return_future_frames
        if prompts is None:
            from cosmos_policy.models.text import PromptEncoder

            prompts = PromptEncoder(config.max_prompt_tokens)
        self.prompts = prompts
        self.resize = FrameResize(config.cameras, config.image_size)
        self.restore = FrameRestore(config.cameras)
        self.states = Normalizer(domain.state_mean, domain.state_std, config.max_state_dim,
                                 "state", stats_dtype)
        self.actions = Normalizer(domain.action_mean, domain.action_std,
                                  config.max_action_dim, "actions", stats_dtype)
        self.reset()

    # Contract ------------------------------------------------------------------------
    @property
    def cameras(self) -> tuple[str, ...]:
        """The camera names the model reads, in order."""
        return tuple(self.config.cameras)

    @property
    def chunk(self) -> int:
        """Actions per chunk."""
        return int(self.config.chunk)

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
        return self._frames(self._encode([images]), images)[0]

    # Batch forms (split into backend-sized parts, the last one padded) ---------------
    def policy_batch(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        """B observations -> B action chunks (T, action_dim), denormalised."""
        out: list[ActionChunk] = []
        for _, part in self._parts(observations):
            prompt_sets = [[o.prompt for o in part]]
            if self.guidance != 1.0:  # and the same rows unprompted, to guide by
                prompt_sets.append([""] * len(part))
            ctx, *bare = self._contexts([o.images for o in part], prompt_sets,
                                        np.stack([o.state for o in part]))
            acts, lat = self._sample(ctx, Mode.POLICY, unprompted=bare[0] if bare else None)
            frames = self._frames(lat, part[0].images) if self.return_future_frames else None
            out += [ActionChunk(actions=acts[i], timestamp=o.timestamp, dt=self.dt,
                                future_frames=None if frames is None else frames[i])
                    for i, o in enumerate(part)]
        return out

    def forward_dynamics_batch(self, observations: Sequence[Observation],
                               actions: np.ndarray) -> list[dict[str, np.ndarray]]:
        """B observations + actions (B, T, action_dim) -> B dicts camera -> uint8 (1, H, W, 3)
        (the frame H steps ahead, at the input resolution)."""
        actions = forward_actions(self.config, self.domain, actions, len(observations))
        out: list[dict[str, np.ndarray]] = []
        for start, part in self._parts(observations):
            ctx = self._context([o.images for o in part], [o.prompt for o in part],
                                np.stack([o.state for o in part]))
            a = self.actions.normalize(pad_rows(actions[start: start + len(part)], self.batch))
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
        for start, part in self._parts(frames):
            first = [{cam: v[0] for cam, v in f.items()} for f in part]
            last = [{cam: v[-1] for cam, v in f.items()} for f in part]
            ctx = self._context(first, [""] * len(part), states[start: start + len(part)])
            acts, _ = self._sample(ctx, Mode.INVERSE, future=self._encode(last))
            out.append(acts[: len(part)])
        return np.concatenate(out)

    # Internals -----------------------------------------------------------------------
    def _parts(self, items: Sequence[Any]) -> list[tuple[int, list[Any]]]:
        items = list(items)
        if not items:
            raise SpecError("expected at least one observation")
        size = self.batch or len(items)
        return [(i, items[i: i + size]) for i in range(0, len(items), size)]

    def _encode(self, images: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
        feeds = {"images": pad_rows(self.resize(images), self.batch)}
        return self.backend.run("encode_frames", feeds)["latents"]

    def _context(self, images: Sequence[dict[str, np.ndarray]], prompts: list[str],
                 states: np.ndarray) -> dict[str, np.ndarray]:
        return self._contexts(images, [prompts], states)[0]

    def _contexts(self, images: Sequence[dict[str, np.ndarray]], prompt_sets: list[list[str]],
                  states: np.ndarray) -> list[dict[str, np.ndarray]]:
        """The context of the same frames and states under each set of prompts; the frames
        are resized and the states normalised once."""
        d = self.domain
        states = np.asarray(states, dtype=np.float32)
        if states.ndim != 2 or states.shape[1] != d.state_dim:
            raise SpecError(f"state: expected ({d.state_dim},) for domain {d.name!r}, got "
                            f"{states.shape[1:]}")
        shared = {"images": pad_rows(self.resize(images), self.batch),
                  "state": pad_rows(self.states.normalize(states), self.batch)}
        out = []
        for prompts in prompt_sets:
            emb, mask = self.prompts.encode(pad_prompts(list(prompts), self.batch))
            out.append(self.backend.run("context", {
                **shared, "prompt_emb": np.asarray(emb, np.float32),
                "prompt_mask": np.asarray(mask, np.float32)}))
        return out

    def _sample(self, ctx: dict[str, np.ndarray], mode: Mode, actions: np.ndarray | None = None,
                future: np.ndarray | None = None,
                unprompted: dict[str, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """One sample for the rows of ``ctx``: (denormalised actions, normalised latents).
        unprompted: the same rows' context with empty prompts, to guide by (``guidance``)."""
        c, rows = self.config, ctx["key_bias"].shape[0]
        amask = np.zeros((rows, c.max_action_dim), np.float32)
        amask[:, : self.domain.action_dim] = 1.0
        a_shape = (rows, c.chunk, c.max_action_dim)
        l_shape = (rows, c.n_cameras, c.latent_channels, c.latent_size, c.latent_size)
        x_a, x_l = draw_noise(self._gen, a_shape, l_shape, amask, self.noise_scale)
        loop = getattr(self.backend, "denoise_loop", None)
        if loop is not None and unprompted is None:  # the whole loop (native TensorRT)
            acts, lat = loop(ctx, x_a, x_l, mode, amask, self.steps, actions, future)
        else:
            def velocity(context: dict[str, np.ndarray], xa: np.ndarray, xl: np.ndarray,
                         ta: np.ndarray, tl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                out = self.backend.run("denoise", {
                    "context_kv": context["context_kv"], "key_bias": context["key_bias"],
                    "noisy_actions": xa, "noisy_latents": xl, "t_actions": ta, "t_latents": tl})
                return out["v_actions"], out["v_latents"]

            def step(xa: np.ndarray, xl: np.ndarray, ta: np.ndarray, tl: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
                v_a, v_l = velocity(ctx, xa, xl, ta, tl)
                if unprompted is None:
                    return v_a, v_l
                u_a, u_l = velocity(unprompted, xa, xl, ta, tl)
                w = np.float32(self.guidance)
                return u_a + w * (v_a - u_a), u_l + w * (v_l - u_l)

            acts, lat = euler_sample(step, x_a, x_l, mode, amask, self.steps, actions, future)
        return self.actions.denormalize(acts), lat

    def _frames(self, latents: np.ndarray, like: dict[str, np.ndarray]
                ) -> list[dict[str, np.ndarray]]:
        decoded = self.backend.run("decode_latents", {"latents": latents})["decoded"]
        return self.restore(decoded, like)
