"""Cycle check: do the inferred actions explain the recorded frames?

The first state of a recorded episode cannot in general be restored in a simulator (our
own datasets keep the task and embodiment but not the object layout), so the check uses
the model's forward-dynamics mode: from frame t and the inferred actions t..t+H-1 it
predicts frame t + H, which is compared with the recorded one (PSNR at the model's
resolution, averaged over cameras and windows). ``baseline_psnr`` compares frame t with
frame t + H directly (the "nothing moved" prediction), as a reference for the scale.
"""

from __future__ import annotations

import numpy as np

from cosmos_policy.label.episode import Episode
from cosmos_policy.label.infer import Labels, map_cameras, window_starts
from cosmos_policy.models.autoencoder import resize_frames
from cosmos_policy.spec import Observation


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images (capped at 100 dB)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def cycle_check(model, episode: Episode, labels: Labels, *, max_windows: int = 4,  # noqa: ANN001
                min_psnr: float = 20.0, camera_map: dict[str, str] | None = None,
                ) -> dict[str, object]:
    """Score the labels of ``episode``; returns psnr, baseline_psnr, windows and ok."""
    horizon, size = int(model.config.horizon), int(model.config.image_size)
    full = [s for s in window_starts(episode.length, horizon) if s + horizon < episode.length]
    if not full:
        return {"psnr": None, "baseline_psnr": None, "windows": 0, "ok": None}
    pick = sorted({full[int(i)] for i in np.linspace(0, len(full) - 1, min(max_windows,
                                                                         len(full)))})
    cams, _ = map_cameras(model.config.cameras, episode.cameras, camera_map)
    obs = [Observation(images={m: episode.frames[e][s] for m, e in cams.items()},
                       state=labels.state[s], prompt=episode.task or "",
                       timestamp=float(episode.timestamps[s])) for s in pick]
    acts = np.stack([labels.action[s:s + horizon] for s in pick])
    predicted = model.forward_dynamics_batch(obs, acts)
    scores, base = [], []
    for s, pred in zip(pick, predicted, strict=True):
        for m, e in cams.items():
            truth = resize_frames(episode.frames[e][s + horizon][None], size)[0]
            start = resize_frames(episode.frames[e][s][None], size)[0]
            guess = resize_frames(np.asarray(pred[m])[:1], size)[0]
            scores.append(psnr(guess, truth))
            base.append(psnr(start, truth))
    score = float(np.mean(scores))
    return {"psnr": round(score, 3), "baseline_psnr": round(float(np.mean(base)), 3),
            "windows": len(pick), "ok": bool(score >= min_psnr), "min_psnr": min_psnr}


def explain_failure(result: dict[str, object]) -> str:
    """One line for a failed check: the measured PSNR, the threshold, and what to do."""
    base = result.get("baseline_psnr")
    versus = f" (copying frame t scores {base} dB)" if base is not None else ""
    return (f"cycle PSNR {result.get('psnr')} dB is below --cycle-min-psnr "
            f"{result.get('min_psnr')} dB{versus}. The labels were kept and flagged: check "
            "--embodiment and --camera, or lower --cycle-min-psnr (--no-cycle skips the "
            "check) if this model's forward dynamics is the weak part (docs/LABELLING.md)")
