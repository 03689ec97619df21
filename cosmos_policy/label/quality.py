"""How good are inferred actions? Compare them with the true actions of the same episodes.

The measure (per-dimension R^2 and normalised error) is :func:`cosmos_policy.data.quality.
action_quality`, shared with the inverse-dynamics evaluation in sim/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data import open_dataset
from cosmos_policy.data.quality import action_quality
from cosmos_policy.errors import UserError

__all__ = ["action_quality", "compare_datasets"]


def compare_datasets(labelled: str | Path, truth: str | Path) -> dict[str, Any]:
    """Quality of a labelled dataset against the LeRobot dataset it was labelled from
    (episodes matched through the provenance's source ids; both need ``action``)."""
    lab, src = open_dataset(labelled), open_dataset(truth)
    records = lab.info.get("cosmos_policy", {}).get("label", {}).get("episodes")
    if not records:
        raise UserError(f"{labelled} has no labelling provenance (not made by `label`)")
    preds, trues = [], []
    for rec in records:
        true = src.episode(int(rec["source_id"])).get("action")
        if true is None:
            raise UserError(f"{truth} has no 'action' feature to compare with")
        preds.append(lab.episode(int(rec["episode_index"]))["action"])
        trues.append(true)
    names = lab.features["action"].get("names")
    return action_quality(np.concatenate(preds), np.concatenate(trues), names)
