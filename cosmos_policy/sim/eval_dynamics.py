"""Dynamics evaluation against the simulator, on expert episodes with evaluation seeds.

* forward: from the frames and state at ``t`` and the expert's next ``chunk`` actions, the
  model predicts the frame at ``t + horizon``; PSNR against the simulator's frame, next to
  the copy-the-last-frame baseline (PSNR of frame ``t`` against frame ``t + horizon``), per
  camera too, the ceiling the model's autoencoder sets (the simulator's frame encoded
  and decoded), and the prediction with the observed pixels kept where it predicts no
  change (:func:`~cosmos_policy.models.autoencoder.keep_static`).
* inverse: from frames ``t..t + horizon`` and the state at ``t`` the model infers the actions
  between them; R^2 and per-dimension normalised error against the expert's actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cosmos_policy.models.autoencoder import STATIC_THRESHOLD, keep_static
from cosmos_policy.spec import Observation

MODES = ("forward", "inverse")


@dataclass
class ExpertEpisode:
    """Frames per camera (T + 1, H, W, 3), states (T + 1, S), actions (T, D), prompt."""

    seed: int
    frames: dict[str, np.ndarray]
    states: np.ndarray
    actions: np.ndarray
    prompt: str


def expert_episode(env: Any, seed: int, max_steps: int | None = None) -> ExpertEpisode:
    """Roll the scripted expert of ``env`` with ``seed`` (to success or the step limit)."""
    from cosmos_policy.sim.experts import make_expert

    expert = make_expert(env)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    frames = {c: [img] for c, img in obs["images"].items()}
    states, actions = [obs["state"]], []
    for _ in range(int(max_steps or env.max_episode_steps)):
        action = expert.act(obs)
        obs, _, terminated, truncated, _ = env.step(action)
        actions.append(np.asarray(action, np.float32))
        states.append(obs["state"])
        for c, img in obs["images"].items():
            frames[c].append(img)
        if terminated or truncated:
            break
    return ExpertEpisode(seed, {c: np.stack(v) for c, v in frames.items()}, np.stack(states),
                         np.stack(actions), obs["prompt"])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _windows(n_actions: int, span: int, stride: int) -> list[int]:
    return list(range(0, n_actions - span + 1, max(1, stride)))


def spans(model: Any) -> tuple[int, int]:
    """(actions a forward call takes, frames ahead its last predicted frame lies): the compact
    model's ``config.chunk``/``config.horizon``; a Cosmos 3 model's chunk for both (it predicts
    every frame of its chunk, the last one ``chunk`` frames ahead)."""
    cfg = getattr(model, "config", None)
    if cfg is not None:
        return int(cfg.chunk), int(cfg.horizon)
    chunk = int(model.chunk_size)
    return chunk, chunk


def forward_eval(model: Any, episodes: list[ExpertEpisode], stride: int = 4,
                 video: Path | None = None, fps: float = 5.0,
                 static_threshold: int = STATIC_THRESHOLD) -> dict[str, Any]:
    """PSNR (dB) of predicted frames at t + horizon vs the simulator, and the baseline.

    Also per camera and, for a model with ``reconstruct`` (its autoencoder), two more: the
    PSNR of the simulator's frame at t + horizon through that autoencoder (what a perfect
    prediction of the future latents would score, so a low figure says whether the
    predictor or the autoencoder falls short), and the PSNR of the prediction composed with
    the observation by :func:`keep_static` at ``static_threshold`` (``composed_*``).
    """
    chunk, horizon = spans(model)
    reconstruct = getattr(model, "reconstruct", None)
    scores: dict[str, dict[str, list[float]]] = {}
    # per episode: (gain summed over its windows and cameras, their number), plain / composed
    per_episode: dict[str, list[tuple[float, int]]] = {"gain": [], "comp": []}
    movie = []
    for ep in tqdm(episodes, desc="forward dynamics", leave=False):
        mine: dict[str, list[float]] = {"pred": [], "base": [], "comp": []}
        decoded: dict[int, dict[str, np.ndarray]] = {}  # frame index -> through the autoencoder
        for t in _windows(len(ep.actions), max(chunk, horizon), stride):
            now = {c: f[t] for c, f in ep.frames.items()}
            obs = Observation(now, ep.states[t], ep.prompt, float(t))
            # the last predicted frame is t + horizon; a model predicting fewer cameras than
            # the simulator renders (Cosmos 3: its one camera) is scored on its own
            pred = {c: v[-1:] for c, v in model.forward_dynamics(
                obs, ep.actions[t:t + chunk]).items() if c in ep.frames}
            cams = [c for c in ep.frames if c in pred]
            truth = {c: ep.frames[c][t + horizon] for c in cams}
            composed = {}
            for c in cams:
                s = scores.setdefault(c, {"pred": [], "base": [], "recon": [], "comp": []})
                for k, v in (("pred", _psnr(pred[c][0], truth[c])),
                             ("base", _psnr(now[c], truth[c]))):
                    s[k].append(v)
                    mine[k].append(v)
            if reconstruct is not None:
                for i in (t, t + horizon):  # window t's future is a later window's present
                    if i not in decoded:
                        decoded[i] = reconstruct({c: f[i] for c, f in ep.frames.items()})
                recon, now_decoded = decoded[t + horizon], decoded[t]
                for c in cams:
                    composed[c] = keep_static(now[c], pred[c][0], now_decoded[c][0],
                                              static_threshold)
                    scores[c]["recon"].append(_psnr(recon[c][0], truth[c]))
                    scores[c]["comp"].append(_psnr(composed[c], truth[c]))
                    mine["comp"].append(scores[c]["comp"][-1])
            if video is not None and len(movie) < 200:
                movie.append(_video_frame(cams, pred, composed, truth))
        base = float(np.sum(mine["base"]))
        for key, k in (("gain", "pred"), ("comp", "comp")):
            if mine[k]:
                per_episode[key].append((float(np.sum(mine[k])) - base, len(mine[k])))

    def summary(s: dict[str, list[float]]) -> dict[str, Any]:
        if not s["pred"]:
            return {"psnr_db": None, "baseline_copy_last_psnr_db": None}
        base = float(np.mean(s["base"]))
        row: dict[str, Any] = {"psnr_db": round(float(np.mean(s["pred"])), 3),
                               "baseline_copy_last_psnr_db": round(base, 3)}
        row["gain_over_baseline_db"] = round(row["psnr_db"] - row["baseline_copy_last_psnr_db"],
                                             3)
        if s["recon"]:
            row["autoencoder_psnr_db"] = round(float(np.mean(s["recon"])), 3)
            row["composed_psnr_db"] = round(float(np.mean(s["comp"])), 3)
            row["composed_gain_over_baseline_db"] = round(
                row["composed_psnr_db"] - row["baseline_copy_last_psnr_db"], 3)
        return row

    every = {k: [v for s in scores.values() for v in s[k]]
             for k in ("pred", "base", "recon", "comp")}
    out: dict[str, Any] = {"mode": "forward", "horizon": horizon, "windows": len(every["pred"]),
                           **summary(every),
                           "per_camera": {c: summary(s) for c, s in scores.items()}}
    for key, name in (("gain", "gain_ci95_db"), ("comp", "composed_gain_ci95_db")):
        if len(per_episode[key]) >= 2:
            out[name] = _ci95(per_episode[key])
    if reconstruct is not None:
        out["static_threshold"] = static_threshold
    if video is not None and movie:
        from cosmos_policy.sim.video import write_video

        scale = max(1, math.ceil(256 / movie[0].shape[0]))
        movie = [np.repeat(np.repeat(m, scale, axis=0), scale, axis=1) for m in movie]
        out["video"] = str(write_video(video, movie, fps))
    return out


def _ci95(episodes: list[tuple[float, int]], resamples: int = 2000) -> list[float]:
    """95 % interval of a mean over windows, from a bootstrap over episodes: the episodes are
    the independent units, the windows inside one are not. ``episodes``: each one's figure
    summed over its windows and cameras, and their number. Seeded, so a report is
    reproducible; coarse with few episodes (at least 2)."""
    x = np.asarray([e[0] for e in episodes], np.float64)
    n = np.asarray([e[1] for e in episodes], np.float64)
    pick = np.random.default_rng(0).integers(0, len(x), (resamples, len(x)))
    means = x[pick].sum(axis=1) / n[pick].sum(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [round(float(lo), 3), round(float(hi), 3)]


def _video_frame(cameras: list[str], pred: dict[str, np.ndarray],
                 composed: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> np.ndarray:
    """Prediction | composed prediction (when there is one) | simulator, cameras side by side
    in each panel (:func:`~cosmos_policy.sim.env.side_by_side`, as the eval videos)."""
    from cosmos_policy.sim.env import side_by_side

    panels = [side_by_side([pred[c][0] for c in cameras])]
    if composed:
        panels.append(side_by_side([composed[c] for c in cameras]))
    panels.append(side_by_side([truth[c] for c in cameras]))
    gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
    return side_by_side([x for panel in panels for x in (gap, panel)][1:])


def inverse_eval(model: Any, episodes: list[ExpertEpisode], stride: int = 4) -> dict[str, Any]:
    """R^2 and normalised error (per dimension) of inferred vs expert actions."""
    from cosmos_policy.data.quality import action_quality

    horizon = spans(model)[1]
    preds, trues = [], []
    for ep in tqdm(episodes, desc="inverse dynamics", leave=False):
        for t in _windows(len(ep.actions), horizon, stride):
            frames = {c: f[t:t + horizon + 1] for c, f in ep.frames.items()}
            pred = np.asarray(model.inverse_dynamics(frames, ep.states[t]))
            preds.append(pred[:horizon])
            trues.append(ep.actions[t:t + horizon])
    if not preds:
        return {"mode": "inverse", "horizon": horizon, "windows": 0}
    q = action_quality(np.concatenate(preds), np.concatenate(trues))
    return {"mode": "inverse", "horizon": horizon, "windows": len(preds), **q}
