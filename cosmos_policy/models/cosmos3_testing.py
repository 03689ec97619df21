"""A tiny, randomly initialised Cosmos 3 checkpoint built locally, for tests on the CPU.

Real components with toy sizes: a 2-layer ``Cosmos3OmniTransformer`` with action
generation, an 8-channel ``AutoencoderKLWan``, a character-level tokenizer with the chat
template and special tokens the pipeline needs, and a UniPC flow scheduler. Saved in
diffusers layout plus an ``action_statistics.json``; nothing comes from a hub.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cosmos_policy.models.cosmos3_stats import write_statistics

_SPECIAL = ["<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|vision_start|>"]
_CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tiny_tokenizer() -> object:
    """A character-level fast tokenizer with Qwen-style chat tokens and ``<|vision_start|>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(_SPECIAL)}
    for c in map(chr, range(32, 127)):
        vocab.setdefault(c, len(vocab))
    vocab.setdefault("\n", len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>",
                                  eos_token="<|endoftext|>",
                                  additional_special_tokens=_SPECIAL[1:3] + _SPECIAL[4:])
    tok.chat_template = _CHAT
    return tok


def tiny_pipeline(seed: int = 0, z_dim: int = 8, action_dim: int = 12) -> object:
    """A randomly initialised ``Cosmos3OmniPipeline`` small enough for a CPU test."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        Cosmos3OmniPipeline,
        Cosmos3OmniTransformer,
        UniPCMultistepScheduler,
    )

    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    transformer = Cosmos3OmniTransformer(
        head_dim=16, hidden_size=32, intermediate_size=64, latent_channel=z_dim,
        latent_patch_size=2, num_attention_heads=2, num_hidden_layers=2, num_key_value_heads=1,
        patch_latent_dim=z_dim * 4, action_dim=action_dim, action_gen=True,
        num_embodiment_domains=32, vocab_size=len(tok), rope_axes_dim=[4, 2, 2],
        dtype="float32")
    # Random action heads with small weights keep the tiny model's outputs in a sane range.
    for p in (*transformer.action_proj_in.parameters(), *transformer.action_proj_out.parameters()):
        torch.nn.init.normal_(p, std=0.02)
    vae = AutoencoderKLWan(base_dim=8, z_dim=z_dim, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=3.0)
    return Cosmos3OmniPipeline(transformer=transformer, text_tokenizer=tok, vae=vae,
                               scheduler=scheduler, enable_safety_checker=False)


def tiny_statistics(kind: str = "quantile", representation: str = "absolute",
                    width: int = 10) -> dict:
    """Plausible statistics for a one-arm domain (metres around a table, rot6d, gripper)."""
    lo = np.array([0.3, -0.3, 0.05] + [-1.0] * 6 + [0.0])[:width]
    hi = np.array([0.7, 0.3, 0.5] + [1.0] * 6 + [1.0])[:width]
    if representation == "delta":
        lo[:3], hi[:3] = -0.05, 0.05
    if kind == "mean_std":
        entry = {"mean": ((lo + hi) / 2).tolist(), "std": ((hi - lo) / 4).tolist()}
    elif kind == "min_max":
        entry = {"min": lo.tolist(), "max": hi.tolist()}
    else:
        entry = {"q01": lo.tolist(), "q99": hi.tolist()}
    return {"normalization": kind, "representation": representation, **entry}


def tiny_checkpoint(path: str | Path, domain: str = "droid_lerobot", seed: int = 0,
                    kind: str = "quantile", representation: str = "absolute") -> Path:
    """Save a tiny pipeline to ``path`` in diffusers layout with its statistics file."""
    root = Path(path)
    tiny_pipeline(seed).save_pretrained(str(root))
    write_statistics(root, {domain: tiny_statistics(kind, representation)})
    return root
