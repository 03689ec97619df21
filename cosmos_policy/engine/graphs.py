"""The exported graphs: static-shape torch wrappers of the network's seams and their I/O.

An engine is four graphs of one network, one embodiment domain and one batch size; the
domain index is a constant inside every graph, so an engine serves exactly one embodiment.

| graph | runs | inputs -> outputs |
| --- | --- | --- |
| ``context`` | once per observation | uint8 frames, prompt states, state -> per-layer K/V |
| ``denoise`` | ``steps`` times per sample | K/V, noisy tokens, flow times -> velocities |
| ``encode_frames`` | inverse dynamics (frame t + H) | uint8 frames -> latents |
| ``decode_latents`` | imagined frames | latents -> images in [0, 1] |

Frames enter as uint8 (B, V, S, S, 3) already resized by
:func:`cosmos_policy.models.autoencoder.resize_frames`; the graph converts them to float
in [0, 1] exactly as :func:`~cosmos_policy.models.autoencoder.frames_to_tensor` does. The
sampling loop stays outside the graphs (:mod:`cosmos_policy.policy.sampler`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from cosmos_policy.models.config import WAMConfig
from cosmos_policy.models.network import WorldActionNet

GRAPHS = ("context", "denoise", "encode_frames", "decode_latents")


@dataclass(frozen=True)
class TensorSpec:
    """Name, numpy dtype name and static shape of one graph input or output."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> TensorSpec:
        return cls(str(d["name"]), str(d["dtype"]), tuple(int(x) for x in d["shape"]))


@dataclass(frozen=True)
class GraphIO:
    """Inputs and outputs of one graph, in call order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def graph_io(c: WAMConfig, batch: int) -> dict[str, GraphIO]:
    """The static I/O of every graph for config ``c`` at batch size ``batch``."""
    b, v, s = batch, c.n_cameras, c.image_size
    frames = TensorSpec("images", "uint8", (b, v, s, s, 3))
    lat = (b, v, c.latent_channels, c.latent_size, c.latent_size)
    kv = TensorSpec("context_kv", "float32",
                    (c.n_layers, 2, b, c.n_heads, c.reasoner_len, c.head_dim))
    key_bias = TensorSpec("key_bias", "float32", (b, c.reasoner_len))

    def f32(name: str, *shape: int) -> TensorSpec:
        return TensorSpec(name, "float32", tuple(shape))

    return {
        "context": GraphIO(
            (frames, f32("prompt_emb", b, c.max_prompt_tokens, c.text_dim),
             f32("prompt_mask", b, c.max_prompt_tokens), f32("state", b, c.max_state_dim)),
            (kv, key_bias)),
        "denoise": GraphIO(
            (kv, key_bias, f32("noisy_actions", b, c.chunk, c.max_action_dim),
             f32("noisy_latents", *lat), f32("t_actions", b), f32("t_latents", b)),
            (f32("v_actions", b, c.chunk, c.max_action_dim), f32("v_latents", *lat))),
        "encode_frames": GraphIO((frames,), (f32("latents", *lat),)),
        "decode_latents": GraphIO((f32("latents", *lat),), (f32("decoded", b, v, 3, s, s),)),
    }


def _to_unit(images: Tensor) -> Tensor:
    """uint8 (B, V, S, S, 3) -> float (B, V, 3, S, S) in [0, 1], as frames_to_tensor."""
    return images.permute(0, 1, 4, 2, 3).float() / 255.0  # explicit perm: ONNX-valid


class _Graph(nn.Module):
    def __init__(self, net: WorldActionNet, domain_index: int, batch: int) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("domain", torch.full((batch,), domain_index, dtype=torch.long),
                             persistent=False)


class ContextGraph(_Graph):
    """Reasoner: frames + prompt + normalised padded state -> (context_kv, key_bias)."""

    def forward(self, images: Tensor, prompt_emb: Tensor, prompt_mask: Tensor,
                state: Tensor) -> tuple[Tensor, Tensor]:
        latents = self.net.encode_frames(_to_unit(images))
        return self.net.encode_context(latents, prompt_emb, prompt_mask, state, self.domain)


class DenoiseGraph(_Graph):
    """One generator velocity evaluation (the denoising step the sampler repeats)."""

    def forward(self, context_kv: Tensor, key_bias: Tensor, noisy_actions: Tensor,
                noisy_latents: Tensor, t_actions: Tensor, t_latents: Tensor
                ) -> tuple[Tensor, Tensor]:
        return self.net.denoise_step(context_kv, key_bias, noisy_actions, noisy_latents,
                                     t_actions, t_latents, self.domain)


class EncodeFramesGraph(_Graph):
    """uint8 frames -> normalised latents (the clean future of inverse dynamics)."""

    def forward(self, images: Tensor) -> Tensor:
        return self.net.encode_frames(_to_unit(images))


class DecodeLatentsGraph(_Graph):
    """Normalised latents -> images (B, V, 3, S, S) in [0, 1]."""

    def forward(self, latents: Tensor) -> Tensor:
        return self.net.decode_latents(latents)


_MODULES: dict[str, type[_Graph]] = {
    "context": ContextGraph, "denoise": DenoiseGraph, "encode_frames": EncodeFramesGraph,
    "decode_latents": DecodeLatentsGraph,
}


def graph_modules(net: WorldActionNet, domain_index: int, batch: int) -> dict[str, nn.Module]:
    """One eval-mode torch module per graph name (what is exported and the torch reference)."""
    return {name: cls(net, domain_index, batch).eval() for name, cls in _MODULES.items()}


def random_feeds(io: GraphIO, seed: int) -> dict[str, np.ndarray]:
    """Fresh random inputs that respect each input's meaning (masks, times, key biases)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in io.inputs:
        if spec.dtype == "uint8":
            feeds[spec.name] = rng.integers(0, 256, spec.shape, dtype=np.uint8)
        elif spec.name == "prompt_mask":
            n = spec.shape[1]
            valid = rng.integers(2, n + 1, spec.shape[0])
            feeds[spec.name] = (np.arange(n)[None] < valid[:, None]).astype(np.float32)
        elif spec.name == "key_bias":
            mask = np.ones(spec.shape, np.float32)
            mask[:, int(rng.integers(2, 4)):4] = 0.0  # a padded prompt
            feeds[spec.name] = ((1.0 - mask) * -1e9).astype(np.float32)
        elif spec.name.startswith("t_"):
            feeds[spec.name] = rng.uniform(0, 1, spec.shape).astype(np.float32)
        else:
            feeds[spec.name] = rng.standard_normal(spec.shape).astype(np.float32)
    if "prompt_emb" in feeds:  # padded prompt positions carry nothing, as PromptEncoder gives
        feeds["prompt_emb"] *= feeds["prompt_mask"][..., None]
    return feeds


def run_torch(module: nn.Module, io: GraphIO, feeds: dict[str, np.ndarray]
              ) -> dict[str, np.ndarray]:
    """Run one graph module on numpy feeds; returns outputs by name (the torch reference)."""
    args = [torch.from_numpy(np.ascontiguousarray(feeds[s.name])) for s in io.inputs]
    with torch.no_grad():
        out = module(*args)
    outs = out if isinstance(out, tuple) else (out,)
    return {s.name: o.numpy() for s, o in zip(io.outputs, outs, strict=True)}
