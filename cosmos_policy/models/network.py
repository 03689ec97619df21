"""The compact mixture-of-transformers world-action network.

Token layout (see docs/MODEL.md):

    reasoner  [prompt x P | camera_0 latents x N | ... | camera_{V-1} x N | state x 1]
    generator [action x T | future camera_0 x N | ... | future camera_{V-1} x N]

Each tower has its own weights; in every layer the two attend jointly, with reasoner tokens
causal among themselves and blind to generator tokens, and generator tokens seeing all
(valid) reasoner tokens and each other. So the reasoner runs once per observation
(:meth:`WorldActionNet.encode_context`) and its per-layer keys/values are reused by every
denoising step (:meth:`WorldActionNet.denoise_step`). Both are pure tensor functions with
static shapes, for ONNX export. :meth:`WorldActionNet.forward_full` computes the same thing
in one joint pass with an explicit block mask; tests hold the two paths equal.

Latents are the frame autoencoder's outputs normalised per channel (buffers
``latent_mean``/``latent_std``); all action/state tensors here are normalised and padded
to ``max_action_dim``/``max_state_dim``.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from cosmos_policy.models.autoencoder import FrameAutoencoder
from cosmos_policy.models.config import WAMConfig
from cosmos_policy.models.layers import (
    NEG,
    DomainLinear,
    GeneratorLayer,
    ReasonerLayer,
    attention,
    timestep_embedding,
)


class WorldActionNet(nn.Module):
    """Reasoner + generator towers, embodiment-domain projectors and the frame autoencoder."""

    def __init__(self, config: WAMConfig) -> None:
        super().__init__()
        c = self.config = config
        d = c.d_model
        self.ae = FrameAutoencoder(c.latent_channels, c.ae_downsample, c.ae_width)
        self.register_buffer("latent_mean", torch.zeros(c.latent_channels))
        self.register_buffer("latent_std", torch.ones(c.latent_channels))
        # Reasoner tower.
        self.text_in = nn.Linear(c.text_dim, d)
        self.image_in = nn.Linear(c.patch_dim, d)
        self.state_in = DomainLinear(c.n_domains, c.max_state_dim, d)
        self.pos_r = nn.Parameter(torch.randn(c.reasoner_len, d) * 0.02)
        self.reasoner = nn.ModuleList(
            ReasonerLayer(d, c.n_heads, c.mlp_ratio, kv_only=i == c.n_layers - 1)
            for i in range(c.n_layers))
        # Generator tower.
        self.action_in = DomainLinear(c.n_domains, c.max_action_dim, d)
        self.future_in = nn.Linear(c.patch_dim, d)
        self.pos_g = nn.Parameter(torch.randn(c.generator_len, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.generator = nn.ModuleList(
            GeneratorLayer(d, c.n_heads, c.mlp_ratio) for _ in range(c.n_layers))
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_ada = nn.Linear(d, 2 * d)
        nn.init.zeros_(self.out_ada.weight)
        nn.init.zeros_(self.out_ada.bias)
        self.action_out = DomainLinear(c.n_domains, d, c.max_action_dim, zero=True)
        self.future_out = nn.Linear(d, c.patch_dim)
        nn.init.zeros_(self.future_out.weight)
        nn.init.zeros_(self.future_out.bias)
        causal = torch.triu(torch.full((c.reasoner_len, c.reasoner_len), NEG), diagonal=1)
        self.register_buffer("causal_bias", causal, persistent=False)

    # Frames <-> latents --------------------------------------------------------------
    def encode_frames(self, images: Tensor) -> Tensor:
        """images: (B, V, 3, S, S) in [0, 1] -> normalised latents (B, V, C, s, s)."""
        b, v = images.shape[:2]
        z = self.ae.encode(images.flatten(0, 1))
        z = (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]
        return z.reshape(b, v, *z.shape[1:])

    def decode_latents(self, latents: Tensor) -> Tensor:
        """normalised latents (B, V, C, s, s) -> images (B, V, 3, S, S) in [0, 1]."""
        b, v = latents.shape[:2]
        z = latents.flatten(0, 1) * self.latent_std[:, None, None] + self.latent_mean[:, None,
                                                                                      None]
        return self.ae.decode(z).clamp(0, 1).reshape(b, v, 3, *self.ae_image_hw)

    @property
    def ae_image_hw(self) -> tuple[int, int]:
        return self.config.image_size, self.config.image_size

    def patchify(self, latents: Tensor) -> Tensor:
        """(B, V, C, s, s) -> (B, V * N, C * p * p), row-major patches per camera."""
        p = self.config.patch
        b, v, ch, s, _ = latents.shape
        g = s // p
        x = latents.reshape(b, v, ch, g, p, g, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(b, v * g * g, ch * p * p)

    def unpatchify(self, tokens: Tensor) -> Tensor:
        """(B, V * N, C * p * p) -> (B, V, C, s, s)."""
        c = self.config
        p, g, ch = c.patch, c.latent_size // c.patch, c.latent_channels
        b = tokens.shape[0]
        x = tokens.reshape(b, c.n_cameras, g, g, ch, p, p).permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(b, c.n_cameras, ch, c.latent_size, c.latent_size)

    # Reasoner ------------------------------------------------------------------------
    def _reasoner_input(self, latents: Tensor, prompt_emb: Tensor, prompt_mask: Tensor,
                        state: Tensor, domain: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Tokens (B, Lr, d), self-attention bias (B, 1, Lr, Lr), key bias (B, Lr)."""
        b = latents.shape[0]
        x = torch.cat([self.text_in(prompt_emb), self.image_in(self.patchify(latents)),
                       self.state_in(state, domain).unsqueeze(1)], dim=1) + self.pos_r
        n_rest = self.config.reasoner_len - self.config.max_prompt_tokens
        valid = torch.cat([prompt_mask, torch.ones(b, n_rest, dtype=prompt_mask.dtype)], dim=1)
        key_bias = (1.0 - valid) * NEG
        self_bias = self.causal_bias[None, None] + key_bias[:, None, None, :]
        return x, self_bias, key_bias

    def _reason(self, latents: Tensor, prompt_emb: Tensor, prompt_mask: Tensor,
                state: Tensor, domain: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The reasoner tower alone: its per-layer K/V (n_layers, 2, B, h, Lr, dh), the key
        bias (B, Lr) and the summary (the state token's input to the final layer, (B, d))."""
        x, self_bias, key_bias = self._reasoner_input(latents, prompt_emb, prompt_mask, state,
                                                      domain)
        kvs = []
        for i, layer in enumerate(self.reasoner):
            q, k, v = layer.qkv_heads(x)
            kvs.append(torch.stack([k, v]))
            if i < len(self.reasoner) - 1:
                x = layer.finish(x, attention(q, k, v, self_bias))
        return torch.stack(kvs), key_bias, x[:, -1]

    def summarise(self, latents: Tensor, prompt_emb: Tensor, prompt_mask: Tensor,
                  state: Tensor, domain: Tensor) -> Tensor:
        """The last (state) token's input to the final reasoner layer (B, d): it has seen every
        reasoner token, and it is what training's object head reads."""
        return self._reason(latents, prompt_emb, prompt_mask, state, domain)[2]

    def encode_context(self, latents: Tensor, prompt_emb: Tensor, prompt_mask: Tensor,
                       state: Tensor, domain: Tensor, return_summary: bool = False
                       ) -> tuple[Tensor, ...]:
        """Run the reasoner once; return what every denoising step needs.

        latents: (B, V, C, s, s) normalised latents of the current frames.
        prompt_emb: (B, P, text_dim) MiniLM token states; prompt_mask: (B, P) float, 1 valid.
        state: (B, max_state_dim) normalised, zero-padded; domain: (B,) int64.
        Returns context_kv (n_layers, 2, B, h, Lr, dh) and key_bias (B, Lr) (0 or -1e9),
        Lr = ``config.reasoner_len``; with ``return_summary`` also :meth:`summarise`'s output.
        """
        context_kv, key_bias, summary = self._reason(latents, prompt_emb, prompt_mask, state,
                                                     domain)
        if return_summary:
            return context_kv, key_bias, summary
        return context_kv, key_bias

    # Generator -----------------------------------------------------------------------
    def _generator_input(self, noisy_actions: Tensor, noisy_latents: Tensor, t_actions: Tensor,
                         t_latents: Tensor, domain: Tensor) -> tuple[Tensor, Tensor]:
        """Tokens (B, Lg, d) and per-token time embeddings (B, Lg, d)."""
        c = self.config
        y = torch.cat([self.action_in(noisy_actions, domain),
                       self.future_in(self.patchify(noisy_latents))], dim=1) + self.pos_g
        n_lat = c.generator_len - c.chunk
        t = torch.cat([t_actions[:, None].expand(-1, c.chunk),
                       t_latents[:, None].expand(-1, n_lat)], dim=1)
        temb = self.time_mlp(timestep_embedding(t, c.d_model))
        return y, temb

    def _generator_output(self, y: Tensor, temb: Tensor, domain: Tensor) -> tuple[Tensor, Tensor]:
        shift, scale = self.out_ada(nn.functional.silu(temb)).chunk(2, dim=-1)
        y = self.out_norm(y) * (1 + scale) + shift
        c = self.config
        v_actions = self.action_out(y[:, : c.chunk], domain)
        v_latents = self.unpatchify(self.future_out(y[:, c.chunk:]))
        return v_actions, v_latents

    def denoise_step(self, context_kv: Tensor, key_bias: Tensor, noisy_actions: Tensor,
                     noisy_latents: Tensor, t_actions: Tensor, t_latents: Tensor,
                     domain: Tensor) -> tuple[Tensor, Tensor]:
        """One flow-matching velocity evaluation of the generator.

        context_kv, key_bias: from :meth:`encode_context`.
        noisy_actions: (B, T, max_action_dim); noisy_latents: (B, V, C, s, s).
        t_actions, t_latents: (B,) flow time in [0, 1] (1 = clean: a condition token).
        Returns velocities (d x / d t) of the same shapes as the noisy inputs.
        """
        y, temb = self._generator_input(noisy_actions, noisy_latents, t_actions, t_latents,
                                        domain)
        lg = y.shape[1]
        bias = torch.cat([key_bias, torch.zeros(key_bias.shape[0], lg)], dim=1)[:, None, None]
        for i, layer in enumerate(self.generator):
            mod = layer.modulation(temb)
            q, k, v = layer.qkv_heads(y, mod)
            keys = torch.cat([context_kv[i, 0], k], dim=2)
            values = torch.cat([context_kv[i, 1], v], dim=2)
            y = layer.finish(y, attention(q, keys, values, bias), mod)
        return self._generator_output(y, temb, domain)

    # Reference: one joint pass with the block mask -----------------------------------
    def forward_full(self, latents: Tensor, prompt_emb: Tensor, prompt_mask: Tensor,
                     state: Tensor, domain: Tensor, noisy_actions: Tensor, noisy_latents: Tensor,
                     t_actions: Tensor, t_latents: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Both towers in one joint sequence under the MoT block mask (the reference path).

        Returns (v_actions, v_latents, context_kv) as :meth:`denoise_step` and
        :meth:`encode_context` would.
        """
        x, self_bias, key_bias = self._reasoner_input(latents, prompt_emb, prompt_mask, state,
                                                      domain)
        y, temb = self._generator_input(noisy_actions, noisy_latents, t_actions, t_latents,
                                        domain)
        b, lr, lg = x.shape[0], x.shape[1], y.shape[1]
        top = torch.cat([self_bias, torch.full((b, 1, lr, lg), NEG)], dim=3)
        bottom = torch.cat([key_bias[:, None, None, :].expand(b, 1, lg, lr),
                            torch.zeros(b, 1, lg, lg)], dim=3)
        mask = torch.cat([top, bottom], dim=2)  # (B, 1, Lr + Lg, Lr + Lg)
        kvs = []
        for i, (rl, gl) in enumerate(zip(self.reasoner, self.generator, strict=True)):
            mod = gl.modulation(temb)
            qr, kr, vr = rl.qkv_heads(x)
            qg, kg, vg = gl.qkv_heads(y, mod)
            kvs.append(torch.stack([kr, vr]))
            out = attention(torch.cat([qr, qg], 2), torch.cat([kr, kg], 2),
                            torch.cat([vr, vg], 2), mask)
            if i < len(self.reasoner) - 1:
                x = rl.finish(x, out[:, :, :lr])
            y = gl.finish(y, out[:, :, lr:], mod)
        v_actions, v_latents = self._generator_output(y, temb, domain)
        return v_actions, v_latents, torch.stack(kvs)

    # Embodiment domains --------------------------------------------------------------
    def projector_parameters(self) -> list[nn.Parameter]:
        """The per-domain weights (state-in, action-in, action-out)."""
        return [p for m in (self.state_in, self.action_in, self.action_out)
                for p in (m.weight, m.bias)]

    def add_domain(self) -> int:
        """Append a domain to every projector (initialised from the mean of the others)."""
        idx = [m.add_domain() for m in (self.state_in, self.action_in, self.action_out)][0]
        self.config = replace(self.config, n_domains=self.config.n_domains + 1)
        return idx

    # Re-tokenising -------------------------------------------------------------------
    def repatched(self, patch: int) -> WorldActionNet:
        """A copy of this network that cuts each camera's latents into ``patch``-side tokens,
        finer than now (``patch`` divides the current side), as a fine-tuning start.

        Every weight but those that touch image tokens is copied as is. Each finer token
        gets the coarse token's embedding of a uniform patch (``image_in``/``future_in``
        summed over the sub-cells), the coarse token's position embedding (nearest-neighbour
        upsampling), and ``future_out`` averaged over the sub-cells. So a uniform latent
        region embeds as before; the attention then sees each coarse token split in r^2
        parts, which fine-tuning has to adapt to, not a trained model.
        """
        c = self.config
        if not (isinstance(patch, int) and patch >= 1 and c.patch % patch == 0):
            raise ValueError(f"patch must divide the current patch side {c.patch}, got {patch}")
        new = WorldActionNet(replace(c, patch=patch))
        r, ch, d = c.patch // patch, c.latent_channels, c.d_model
        src = self.state_dict()
        dst = {k: v for k, v in src.items() if not k.startswith(("image_in.", "future_in.",
                                                                "future_out.", "pos_"))}
        for name in ("image_in", "future_in"):  # (d, C*p*p) -> (d, C*p'*p')
            w = src[f"{name}.weight"].reshape(d, ch, r, patch, r, patch)
            dst[f"{name}.weight"] = w.sum((2, 4)).reshape(d, -1)
            dst[f"{name}.bias"] = src[f"{name}.bias"]
        w = src["future_out.weight"].reshape(ch, r, patch, r, patch, d)
        dst["future_out.weight"] = w.mean((1, 3)).reshape(-1, d)
        dst["future_out.bias"] = src["future_out.bias"].reshape(
            ch, r, patch, r, patch).mean((1, 3)).reshape(-1)
        g = c.latent_size // c.patch

        def upsample(pos: Tensor, before: int) -> Tensor:
            grid = pos[before: before + c.n_cameras * g * g].reshape(c.n_cameras, g, g, d)
            grid = grid.repeat_interleave(r, 1).repeat_interleave(r, 2).reshape(-1, d)
            return torch.cat([pos[:before], grid, pos[before + c.n_cameras * g * g:]])

        dst["pos_r"] = upsample(src["pos_r"], c.max_prompt_tokens)
        dst["pos_g"] = upsample(src["pos_g"], c.chunk)
        new.load_state_dict(dst)
        return new
