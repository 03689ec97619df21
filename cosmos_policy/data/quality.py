"""How close are predicted actions to true ones? R^2 and normalised error per dimension.

Per action dimension: R^2 (1 - SSE / SST over all frames; 1 is perfect, 0 is no better than
the mean, constant true dimensions give ``None``) and the normalised error (mean absolute
error divided by the true action's std; ``None`` where that std is 0). Shared by labelling
(:mod:`cosmos_policy.label.quality`) and the inverse-dynamics evaluation
(:mod:`cosmos_policy.sim.eval_dynamics`), which sit side by side above this layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cosmos_policy.errors import UserError


def action_quality(predicted: np.ndarray, true: np.ndarray,
                   names: list[str] | None = None) -> dict[str, Any]:
    """predicted, true: (N, D). Returns per-dimension R^2 and normalised error, and means."""
    p, t = np.asarray(predicted, np.float64), np.asarray(true, np.float64)
    if p.shape != t.shape or p.ndim != 2:
        raise UserError(f"predicted {p.shape} and true {t.shape} actions must both be (N, D)")
    names = names or [f"a{i}" for i in range(t.shape[1])]
    sse = ((p - t) ** 2).sum(axis=0)
    sst = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    std = t.std(axis=0)
    mae = np.abs(p - t).mean(axis=0)
    dims = {}
    for i, name in enumerate(names):
        dims[name] = {"r2": None if sst[i] < 1e-12 else round(float(1 - sse[i] / sst[i]), 4),
                      "nmae": None if std[i] < 1e-9 else round(float(mae[i] / std[i]), 4),
                      "mae": round(float(mae[i]), 5)}
    r2 = [d["r2"] for d in dims.values() if d["r2"] is not None]
    ne = [d["nmae"] for d in dims.values() if d["nmae"] is not None]
    return {"frames": int(t.shape[0]), "dims": dims,
            "mean_r2": round(float(np.mean(r2)), 4) if r2 else None,
            "mean_nmae": round(float(np.mean(ne)), 4) if ne else None}
