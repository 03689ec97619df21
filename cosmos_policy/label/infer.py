"""Inverse-dynamics labels for one episode: sliding windows, several samples, stitching.

Windows of H + 1 frames start every H frames (t = 0, H, 2H, ...); each gives the H actions
between its first and last frame, so stitched they cover the T - 1 transitions of the
episode. The last window, when short, is padded by repeating the final frame and its
padded actions are dropped. Frame T - 1 has no successor; it repeats the last action.

Each window is sampled ``samples`` times (the sampler's noise differs per sample); the
label is the mean, and the per-step confidence is ``1 / (1 + u)`` with ``u`` the std across
samples divided by the domain's action std, averaged over action dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.label.episode import Episode


@dataclass
class Labels:
    """action: float32 (T, A); confidence: float32 (T,) in (0, 1]; state: the (T, S) state
    the model saw; notes: what was assumed (camera mapping, missing state)."""

    action: np.ndarray
    confidence: np.ndarray
    state: np.ndarray
    notes: list[str] = field(default_factory=list)


def window_starts(length: int, horizon: int) -> list[int]:
    """Start frames of the windows that cover ``length`` frames (needs length >= 2)."""
    return list(range(0, length - 1, horizon))


def map_cameras(model_cameras: tuple[str, ...] | list[str], episode_cameras: list[str],
                explicit: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """model camera -> episode camera, and notes on what was assumed."""
    explicit = explicit or {}
    out, notes = {}, []
    for cam in model_cameras:
        if cam in explicit:
            out[cam] = explicit[cam]
        elif cam in episode_cameras:
            out[cam] = cam
    missing = [c for c in model_cameras if c not in out]
    if not missing:
        bad = [v for v in out.values() if v not in episode_cameras]
        if bad:
            raise UserError(f"--camera maps to {bad}, which the episode lacks "
                            f"(cameras: {episode_cameras})")
        return out, notes
    if len(episode_cameras) == len(model_cameras) and not explicit:
        out = dict(zip(model_cameras, episode_cameras, strict=True))
        notes.append(f"cameras mapped by order: {out}")
        return out, notes
    raise UserError(f"the model needs cameras {list(model_cameras)}, the episode has "
                    f"{episode_cameras}; pass --camera MODEL=SOURCE for each")


def episode_state(model, episode: Episode) -> tuple[np.ndarray, list[str]]:  # noqa: ANN001
    """The (T, S) state fed to the model: the episode's, or the domain mean when absent."""
    d = model.domain
    if episode.state is None:
        mean = np.asarray(d.state_mean, np.float32)
        return np.tile(mean, (episode.length, 1)), ["no state in the source: the domain's "
                                                    "mean state was used"]
    state = np.asarray(episode.state, np.float32)
    if state.shape[1] != d.state_dim:
        raise UserError(f"state has {state.shape[1]} values per step, the {d.name!r} domain "
                        f"wants {d.state_dim}; choose the matching --embodiment")
    return state, []


def _window(frames: dict[str, np.ndarray], cams: dict[str, str], start: int, horizon: int,
            length: int) -> dict[str, np.ndarray]:
    idx = np.minimum(np.arange(start, start + horizon + 1), length - 1)
    return {m: frames[e][idx] for m, e in cams.items()}


def label_episode(model, episode: Episode, *, samples: int = 4, batch: int = 32,  # noqa: ANN001
                  camera_map: dict[str, str] | None = None) -> Labels:
    """Labels for ``episode`` from ``model`` (a CompactWAM); seeded per episode."""
    if samples < 1:
        raise UserError("--samples must be at least 1")
    length, horizon = episode.length, int(model.config.horizon)
    if length < 2:
        raise UserError(f"episode has {length} frame(s); labelling needs at least 2")
    cams, notes = map_cameras(model.config.cameras, episode.cameras, camera_map)
    state, state_notes = episode_state(model, episode)
    model.reset()  # the same noise for an episode whichever worker labels it
    starts = window_starts(length, horizon)
    jobs = [(k, s) for k in range(samples) for s in starts]
    out = np.zeros((samples, len(starts) * horizon, model.domain.action_dim), np.float32)
    for i in range(0, len(jobs), batch):
        part = jobs[i:i + batch]
        frames = [_window(episode.frames, cams, s, horizon, length) for _, s in part]
        acts = model.inverse_dynamics_batch(frames, state[[s for _, s in part]])
        for (k, s), a in zip(part, acts, strict=True):
            out[k, s:s + horizon] = a
    out = out[:, : length - 1]
    mean = out.mean(axis=0)
    spread = out.std(axis=0) / np.asarray(model.domain.action_std, np.float32)
    conf = 1.0 / (1.0 + spread.mean(axis=1))
    action = np.concatenate([mean, mean[-1:]]).astype(np.float32)
    confidence = np.concatenate([conf, conf[-1:]]).astype(np.float32)
    return Labels(action=action, confidence=confidence, state=state,
                  notes=notes + state_notes)
