"""Run the scripted expert in a tabletop env: episodes, success, optional video frames."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cosmos_policy.sim.env import TabletopEnv, make_env, side_by_side
from cosmos_policy.sim.experts import Expert, make_expert
from cosmos_policy.sim.video import write_video


@dataclass
class EpisodeResult:
    """One episode: its seed, outcome, length (policy steps), return, prompt and frames."""

    seed: int
    success: bool
    steps: int
    episode_return: float
    prompt: str
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def run_episode(env: TabletopEnv, expert: Expert, seed: int, record: bool = False
                ) -> EpisodeResult:
    """Reset ``env`` with ``seed`` and run ``expert`` until success or the step limit
    (:meth:`~cosmos_policy.sim.experts.Expert.drive`: its plan, or with ``feedback="state"``
    its answers from each measured state).

    record: keep the cameras side by side (uint8 (H, W_total, 3)) of every step, the reset
        observation included.
    """
    obs, info = env.reset(seed=seed)
    expert.reset()
    frames = [side_by_side(list(obs["images"].values()))] if record and obs["images"] else []
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(expert.drive(obs))
        total += reward
        steps += 1
        if frames:
            frames.append(side_by_side(list(obs["images"].values())))
        if terminated or truncated:
            break
    return EpisodeResult(seed, bool(info["is_success"]), steps, total, obs["prompt"], frames)


def expert_episodes(task: str, embodiment: str, episodes: int, seed: int = 0, *,
                    record: bool = False, image_size: int | None = None,
                    prompt_style: str = "canonical", feedback: str = "command"
                    ) -> Iterator[EpisodeResult]:
    """Yield ``episodes`` expert episodes with seeds ``seed, seed + 1, ...``; ``feedback``
    ``state``: the expert answers from each measured state (``record --feedback state``).

    Without ``record`` no camera is rendered (fast).
    """
    from cosmos_policy.sim.experts import ExpertConfig

    config = ExpertConfig(feedback=feedback)  # an unknown name fails before a scene is built
    env = make_env(task, embodiment, cameras=None if record else (), image_size=image_size,
                   prompt_style=prompt_style)
    try:
        expert = make_expert(env, config)
        for i in range(episodes):
            yield run_episode(env, expert, seed + i, record=record)
    finally:
        env.close()


def save_video(result: EpisodeResult, out_dir: str | Path, name: str, fps: float) -> Path:
    """Write the episode's frames to ``out_dir/<name>_seed<seed>.mp4``."""
    return write_video(Path(out_dir) / f"{name}_seed{result.seed}.mp4", result.frames, fps)
