"""What one worker does: load the model once, then label episodes named by (format, key).

The same code runs in-process (``--workers 1``), in spawned processes (a
``ProcessPoolExecutor`` whose initializer loads the model) and in Ray actors. A worker
returns labels as arrays; the driver alone writes shards, so Ray nodes need to read IN but
never write anywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmos_policy.errors import UserError
from cosmos_policy.label.cycle import cycle_check
from cosmos_policy.label.infer import label_episode
from cosmos_policy.label.readers import load_episode


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs; pickled to worker processes and Ray actors."""

    input: str
    format: str
    model: str | None
    embodiment: str
    samples: int = 4
    seed: int = 0
    steps: int = 10
    batch: int = 32
    cycle: bool = True
    cycle_windows: int = 4
    cycle_min_psnr: float = 20.0
    camera_map: dict[str, str] = field(default_factory=dict)
    threads: int = 0
    cosmos3: Any = None  # Cosmos3Options when ``model`` is a Cosmos 3 checkpoint folder


class Labeller:
    """Holds one loaded model; :meth:`run` labels one episode and never raises for a bad
    episode (the reason comes back in the result)."""

    def __init__(self, settings: Settings) -> None:
        import torch

        from cosmos_policy.models.cosmos3_use import Cosmos3Labelling
        from cosmos_policy.policy.registry import find_model, load_model

        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.settings = settings
        # Labelling drives the model's batched torch calls, so ``auto`` means torch here.
        model = load_model(settings.model, settings.embodiment, runs_on=("torch",),
                           steps=settings.steps, seed=settings.seed, cosmos3=settings.cosmos3)
        if find_model(settings.model).kind == "cosmos3":
            model = Cosmos3Labelling(model)
        self.model = model

    def run(self, key: str) -> dict[str, Any]:
        s, t0 = self.settings, time.perf_counter()
        try:
            episode = load_episode(s.format, Path(s.input), key)
            labels = label_episode(self.model, episode, samples=s.samples, batch=s.batch,
                                   camera_map=s.camera_map)
            cycle = (cycle_check(self.model, episode, labels, max_windows=s.cycle_windows,
                                 min_psnr=s.cycle_min_psnr, camera_map=s.camera_map)
                     if s.cycle else None)
        except UserError as exc:
            return {"key": key, "status": "skipped", "reason": str(exc)}
        except Exception as exc:  # a damaged file must not stop the run; keep the type
            return {"key": key, "status": "skipped",
                    "reason": f"{type(exc).__name__}: {exc}"}
        return {"key": key, "status": "labelled", "frames": episode.length,
                "action": labels.action, "confidence": labels.confidence,
                "state": labels.state, "notes": labels.notes, "cycle": cycle,
                "seconds": time.perf_counter() - t0}


_LABELLER: Labeller | None = None


def init_process(settings: Settings) -> None:
    """ProcessPool initializer: load the model once per process."""
    global _LABELLER
    _LABELLER = Labeller(settings)


def run_in_process(key: str) -> dict[str, Any]:
    if _LABELLER is None:
        raise RuntimeError("worker process was not initialised")
    return _LABELLER.run(key)
