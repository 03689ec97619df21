"""Rerun recordings of offline runs: ``label --rerun`` (inferred actions and their
confidence beside the frames) and ``eval-dynamics --rerun`` (imagined frames beside the
simulator's). No control loop here, so they log from the calling thread. Entity paths:
docs/VIZ.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.viz.rerun_log import TIMELINE, open_recording, require_rerun


def _series(rec: Any, path: str, times: np.ndarray, values: np.ndarray) -> None:
    rr = require_rerun()
    rec.send_columns(path, indexes=[rr.TimeColumn(TIMELINE, duration=times)],
                     columns=rr.Scalars.columns(scalars=np.asarray(values, np.float64)))


def record_labelled(dataset: Path, *, path: str | Path | None = None,
                    connect: str | None = None) -> list[Path]:
    """Write each episode of a labelled LeRobot dataset (``label``'s OUT) as a recording:
    ``camera/<name>`` frames, ``action/inferred/<dim>`` and ``action/confidence`` per
    frame. One episode: ``path``; several: ``<stem>-episode<i><suffix>`` beside it."""
    from cosmos_policy.data.lerobot_reader import open_dataset

    rr = require_rerun()
    data = open_dataset(dataset)
    cams = list(data.video_keys) + [k for k, f in data.features.items()
                                    if f.get("dtype") == "image"]
    names = (data.features.get("action", {}).get("names") or [])
    written = []
    for i in range(data.num_episodes):
        ep = data.episode(i)
        file = None
        if path is not None:
            file = Path(path)
            if data.num_episodes > 1:
                file = file.with_name(f"{file.stem}-episode{i}{file.suffix}")
            written.append(file)
        rec = open_recording(f"label-episode{i}", path=file, connect=connect,
                             name=f"labelled episode {i}: {ep['task']}")
        times = np.asarray(ep["timestamp"], np.float64)
        actions = np.asarray(ep["action"], np.float64)
        for d in range(actions.shape[1]):
            label = names[d] if len(names) == actions.shape[1] else f"a{d}"
            _series(rec, f"action/inferred/{label}", times, actions[:, d])
        if "action_confidence" in ep:
            _series(rec, "action/confidence", times,
                    np.asarray(ep["action_confidence"]).reshape(len(times)))
        for key in cams:
            cam = key.rsplit(".", 1)[-1]
            for t, frame in zip(times, ep[key], strict=False):
                rec.set_time(TIMELINE, duration=float(t))
                rec.log(f"camera/{cam}", rr.Image(frame))
        rec.flush()
        rec.disconnect()  # closes the file with its footer
    return written


class RecordingDynamics:
    """Wraps a model for ``eval-dynamics --rerun``: :meth:`add_episode` logs an episode's
    simulator frames (``dynamics/<cam>/simulator``) and expert actions into its own
    recording; each forward-dynamics call then logs the imagined frames
    (``dynamics/<cam>/imagined``) at ``t + horizon`` beside them. ``sim_time`` = step / rate.
    The episode of a call is the one whose frames the observation's images are views of."""

    def __init__(self, model: Any, rate_hz: float) -> None:
        self.model = model
        self.rate_hz = float(rate_hz)
        self._episodes: list[tuple[Any, dict[str, np.ndarray]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def add_episode(self, rec: Any, frames: dict[str, np.ndarray], actions: np.ndarray) -> None:
        rr = require_rerun()
        self._episodes.append((rec, frames))
        n = len(next(iter(frames.values())))
        for k in range(n):
            rec.set_time(TIMELINE, duration=k / self.rate_hz)
            for cam, f in frames.items():
                rec.log(f"dynamics/{cam}/simulator", rr.Image(f[k]))
        actions = np.asarray(actions, np.float64)
        times = np.arange(len(actions)) / self.rate_hz
        for d in range(actions.shape[1]):
            _series(rec, f"action/expert/a{d}", times, actions[:, d])

    def _recording(self, obs: Any) -> Any:
        for rec, frames in self._episodes:
            if all(np.shares_memory(img, frames[c]) for c, img in obs.images.items()
                   if c in frames):
                return rec
        return None

    def forward_dynamics(self, obs: Any, actions: Any) -> Any:
        pred = self.model.forward_dynamics(obs, actions)
        rec = self._recording(obs)
        if rec is not None:
            rr = require_rerun()
            horizon = int(self.model.config.horizon)
            rec.set_time(TIMELINE, duration=(float(obs.timestamp) + horizon) / self.rate_hz)
            for cam, frames in pred.items():
                rec.log(f"dynamics/{cam}/imagined", rr.Image(np.asarray(frames)[0]))
        return pred

    def close(self) -> None:
        for rec, _ in self._episodes:
            rec.flush()
            rec.disconnect()


def dynamics_file(path: str | Path, seed: int, seeds: Sequence[int]) -> Path:
    """``path`` for one episode, ``<stem>-seed<seed><suffix>`` for several."""
    path = Path(path)
    return path if len(seeds) == 1 else path.with_name(f"{path.stem}-seed{seed}{path.suffix}")
