"""Building blocks of the mixture-of-transformers: tower layers, joint attention, projectors.

Every op here exports to ONNX (opset 17): matmuls, softmax with an additive mask, gathers,
layer norms. There is no data-dependent Python control flow.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

NEG = -1e9  # additive mask value for a forbidden key (finite, so no NaN from a 0 * inf)


def attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
    """Scaled dot-product attention with an additive bias.

    q: (B, h, Lq, dh); k, v: (B, h, Lk, dh); bias: broadcastable to (B, h, Lq, Lk).
    Returns (B, h, Lq, dh).
    """
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1])) + bias
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(B, L, d) -> (B, h, L, d / h)."""
    b, n, d = x.shape
    return x.reshape(b, n, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, h, L, dh) -> (B, L, h * dh)."""
    b, h, n, dh = x.shape
    return x.transpose(1, 2).reshape(b, n, h * dh)


class MLP(nn.Module):
    def __init__(self, d: int, ratio: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, d * ratio)
        self.fc2 = nn.Linear(d * ratio, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class ReasonerLayer(nn.Module):
    """Pre-norm transformer layer of the reasoner tower (split into qkv / finish for MoT).

    The last layer only supplies keys and values to the generator (nothing reads the
    reasoner's outputs), so it is built with ``kv_only=True``: no output projection or MLP.
    """

    def __init__(self, d: int, n_heads: int, mlp_ratio: int, kv_only: bool = False) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        if not kv_only:
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = MLP(d, mlp_ratio)

    def qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, L, d) -> q, k, v each (B, h, L, dh)."""
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        return split_heads(q, self.n_heads), split_heads(k, self.n_heads), split_heads(
            v, self.n_heads)

    def finish(self, x: Tensor, attn: Tensor) -> Tensor:
        """Residual attention output then MLP. attn: (B, h, L, dh)."""
        x = x + self.proj(merge_heads(attn))
        return x + self.mlp(self.ln2(x))


class GeneratorLayer(nn.Module):
    """Generator tower layer: like the reasoner's, with per-token adaLN-Zero on flow time.

    mod: (B, L, 6 d) shift/scale/gate for attention and MLP, computed from each token's
    own flow time, so clean (condition) and noisy tokens can share one sequence.
    """

    def __init__(self, d: int, n_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, elementwise_affine=False)
        self.mlp = MLP(d, mlp_ratio)
        self.ada = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def modulation(self, temb: Tensor) -> Tensor:
        """temb: (B, L, d) -> (B, L, 6 d)."""
        return self.ada(nn.functional.silu(temb))

    def qkv_heads(self, y: Tensor, mod: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        shift, scale = mod[..., : y.shape[-1]], mod[..., y.shape[-1]: 2 * y.shape[-1]]
        h = self.ln1(y) * (1 + scale) + shift
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        return split_heads(q, self.n_heads), split_heads(k, self.n_heads), split_heads(
            v, self.n_heads)

    def finish(self, y: Tensor, attn: Tensor, mod: Tensor) -> Tensor:
        gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)[2:]
        y = y + (1 + gate1) * self.proj(merge_heads(attn))
        return y + (1 + gate2) * self.mlp(self.ln2(y) * (1 + scale2) + shift2)


class DomainLinear(nn.Module):
    """A linear layer with one weight set per embodiment domain, chosen by index.

    x: (B, N, in) or (B, in); domain: (B,) int64 -> (B, N, out) or (B, out).
    """

    def __init__(self, n_domains: int, d_in: int, d_out: int, zero: bool = False) -> None:
        super().__init__()
        w = torch.zeros(n_domains, d_in, d_out)
        if not zero:
            nn.init.normal_(w, std=1.0 / math.sqrt(d_in))
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(torch.zeros(n_domains, d_out))

    def forward(self, x: Tensor, domain: Tensor) -> Tensor:
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(1)
        out = torch.matmul(x, self.weight[domain]) + self.bias[domain].unsqueeze(1)
        return out.squeeze(1) if squeeze else out

    def add_domain(self, source: int | None = None) -> int:
        """Append one domain, initialised from domain ``source`` (default: their mean)."""
        with torch.no_grad():
            w = self.weight[source] if source is not None else self.weight.mean(0)
            b = self.bias[source] if source is not None else self.bias.mean(0)
            self.weight = nn.Parameter(torch.cat([self.weight, w[None]], 0))
            self.bias = nn.Parameter(torch.cat([self.bias, b[None]], 0))
        return self.weight.shape[0] - 1


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of flow time. t: (...) in [0, 1] -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = (t.unsqueeze(-1) * 1000.0) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
