"""Tiny in-memory LeRobot-like datasets and settings shared by the model-training tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cosmos_policy.models.config import WAMConfig
from cosmos_policy.spec import Observation
from cosmos_policy.training.trainer import TrainConfig

TINY = WAMConfig(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2, image_size=32,
                 latent_channels=4, ae_downsample=4, ae_width=8, patch=2, chunk=4, horizon=4,
                 max_state_dim=8, max_action_dim=10, max_prompt_tokens=12)


FAST = TrainConfig(steps=6, batch=4, ae_steps=2, ae_batch=4, warmup=2, log_every=2,
                   ckpt_every=100, seed=3)


class FakeDataset:
    """A LeRobot-like dataset: a bright square moves with the first state dimension."""

    def __init__(self, robot_type: str, state_dim: int, n_episodes: int = 2, length: int = 10,
                 size: int = 48, seed: int = 0) -> None:
        self.info = {"robot_type": robot_type, "fps": 10}
        self.num_episodes, self.state_dim, self.length, self.size = n_episodes, state_dim, \
            length, size
        self.rng = np.random.default_rng(seed)
        self.root = f"fake://{robot_type}"

    def episode(self, i: int) -> dict[str, Any]:
        rng = np.random.default_rng(i)
        n, s = self.length, self.size
        state = np.cumsum(rng.normal(0, 0.1, (n, self.state_dim)), 0).astype(np.float32)
        action = np.concatenate([state[1:], state[-1:]])[:, :1].repeat(10, 1).astype(np.float32)
        frames = np.zeros((n, s, s, 3), np.uint8)
        for t in range(n):
            x = int(np.clip((state[t, 0] + 1) / 2 * (s - 8), 0, s - 8))
            frames[t, 10:18, x: x + 8] = (255, 80, 0)
        return {"observation.images.front": frames, "observation.images.wrist": 255 - frames,
                "observation.state": state, "action": action,
                "task": ["push the block", "slide the block"][i % 2]}


def obs(state_dim: int = 8, seed: int = 0) -> Observation:
    rng = np.random.default_rng(seed)
    imgs = {c: rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for c in ("front", "wrist")}
    return Observation(images=imgs, state=rng.normal(size=state_dim).astype(np.float32),
                       prompt="push the block", timestamp=1.5)


class ObjectDataset(FakeDataset):
    """FakeDataset with a colour in the prompt and the object state (12,): the named cube,
    then red, green, blue; the red cube is the moving square, green and blue stand still."""

    def episode(self, i: int) -> dict[str, Any]:
        ep = super().episode(i)
        x = ep["observation.state"][:, :1]
        cube = lambda v: np.concatenate([v, np.zeros_like(x), np.full_like(x, 0.02)], 1)
        red, green, blue = cube(x), cube(np.full_like(x, 0.5)), cube(np.full_like(x, -0.5))
        ep["observation.environment_state"] = np.concatenate([red, red, green, blue], 1)
        ep["task"] = f"push the red block{' now' * (i % 2)}"
        return ep


class FixtureDataset(ObjectDataset):
    """ObjectDataset recorded with the fixtures too (18,): the region and the plate stand
    still at a place that differs per episode."""

    def episode(self, i: int) -> dict[str, Any]:
        ep = super().episode(i)
        n = len(ep["action"])
        fixtures = np.tile(np.array([0.1 * i, 0.3, 0.0, -0.2, 0.1 * i, 0.01], np.float32), (n, 1))
        ep["observation.environment_state"] = np.concatenate(
            [ep["observation.environment_state"], fixtures], 1)
        return ep


def objects_data(datasets: list[Any]) -> Any:
    from cosmos_policy.training.datacache import TrainingData

    data = TrainingData.build(datasets, TINY)
    data.encode_latents(lambda x: torch.zeros(len(x), 2, 4, 8, 8))
    return data
