"""The object head's targets: where the cubes and the goals are, read off the reasoner.

Training's auxiliary object head (train-time only) regresses the recorded objects of the task
layout (:class:`~cosmos_policy.training.layout.TaskLayout`; the tabletop suite's are 18
numbers): the named cube's position, each colour's cube's, then each fixture's (the yellow
region's and the plate's), normalised like the action's xyz. Here: the head itself and its
counterfactual targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from cosmos_policy.errors import UserError
from cosmos_policy.training.layout import TaskLayout


def make_object_head(d_model: int, n_out: int) -> nn.Module:
    """The auxiliary object head: the reasoner's state token (d_model) -> the recorded objects'
    positions (``n_out`` = the layout's ``objects_dim``, normalised like the action's xyz).
    Train-time only; stored in ``RUN/train/object_head.safetensors``."""
    return nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, n_out))


def load_object_head(path: str | Path, d_model: int, n_out: int) -> nn.Module:
    """A head of ``n_out`` outputs saved by a run; one from before the fixtures were added
    (cube outputs only) keeps its cube rows and starts the fixture rows anew."""
    head = make_object_head(d_model, n_out)
    saved = load_file(str(path))
    state = head.state_dict()
    for name, value in saved.items():
        if name not in state:
            raise UserError(f"{path}: not an object head (unexpected tensor {name!r})")
        if value.shape == state[name].shape:
            state[name] = value
        elif value.shape[1:] == state[name].shape[1:] and len(value) < len(state[name]):
            state[name][: len(value)] = value  # the output layer of a cubes-only head
        else:
            raise UserError(f"{path}: object head tensor {name} is {tuple(value.shape)}, "
                            f"expected {tuple(state[name].shape)} (another model width?)")
    head.load_state_dict(state)
    return head


def counterfactual_objects(b: dict[str, Any], rng: np.random.Generator, layout: TaskLayout
                           ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Counterfactual prompts and targets of the object head for the examples ``b``.

    Each prompt's colour word is replaced by a colour drawn uniformly (the true one a third
    of the time) and the named-cube target becomes that cube's position: the same frames
    asked for different cubes, which a demonstration never shows, so the reasoner must read
    the colour to answer (it cannot recall the answer from the layout). The colours are
    ``layout.colors``, whose cubes follow the target in the recording. Returns (prompts,
    targets (B, objects_dim), mask (B, objects_dim)); the named-cube part is masked where
    the prompt names no single colour, every part where the dataset did not record it.
    """
    prompts, targets, mask = [], b["objects"].clone(), b["objects_mask"].clone()
    for i, p in enumerate(b["prompts"]):
        if layout.named_color(p) is None:
            prompts.append(p)
            mask[i, :3] = 0.0
            continue
        k = int(rng.integers(len(layout.colors)))
        prompts.append(layout.color_word.sub(layout.colors[k], p))
        targets[i, :3] = b["objects"][i, 3 + 3 * k: 6 + 3 * k]
        mask[i, :3] = b["objects_mask"][i, 3 + 3 * k: 6 + 3 * k]
    return prompts, targets, mask

