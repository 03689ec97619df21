"""Real observations from the simulator for checks that need more than random inputs.

:func:`verify_observations` is the ``sim`` source of
:func:`cosmos_policy.policy.verify.verify_engine`: engine/ sits below sim/, so the command
that runs the check passes it in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cosmos_policy.sim.env import make_env
from cosmos_policy.spec import Observation


def verify_observations(manifest: Any, n: int, seed: int) -> list[Observation]:
    """``n`` first observations of the reach task (seeds ``seed``, ``seed + 1``, ...) for the
    engine ``manifest``'s embodiment and cameras, rendered at twice the model's image size
    (so resizing is part of the check)."""
    env = make_env("reach", manifest.embodiment, cameras=list(manifest.config.cameras),
                   image_size=manifest.config.image_size * 2, action_mode="joint")
    out = []
    try:
        for i in range(n):
            obs, _ = env.reset(seed=seed + i)
            out.append(Observation({k: np.asarray(v) for k, v in obs["images"].items()},
                                   np.asarray(obs["state"], np.float32), obs["prompt"], 0.0))
    finally:
        env.close()
    return out
