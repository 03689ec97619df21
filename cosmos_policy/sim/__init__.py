"""MuJoCo/Gymnasium simulation harness: tabletop scenes, tasks, scripted experts, rollouts.

    from cosmos_policy.sim import make_env, make_expert
    env = make_env("pick_place", "franka", image_size=128)
    expert = make_expert(env)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(expert.act(obs))

Gymnasium ids ``cosmos_policy/Reach-v0``, ``cosmos_policy/Push-v0`` and
``cosmos_policy/PickPlace-v0`` take the embodiment as a keyword. With only gymnasium imported,
name this module in front of the id (Gymnasium 1.x imports it, which registers the ids):

    import gymnasium
    env = gymnasium.make("cosmos_policy.sim:cosmos_policy/Push-v0", embodiment="ur5e")

Gymnasium 1.0 removed the ``gymnasium.envs`` entry-point plugins that 0.26-0.29 loaded on
``import gymnasium``, so a package can no longer register ids before it is imported; after
``import cosmos_policy.sim`` the bare id works too.
"""

from __future__ import annotations

import gymnasium as gym

from cosmos_policy.sim.env import ACTION_MODES, TabletopEnv, make_env
from cosmos_policy.sim.experts import EXPERTS, Expert, make_expert
from cosmos_policy.sim.tasks import TASKS

# Gymnasium id -> task name (Gymnasium's register is the one accepted implicit registry).
GYM_IDS: dict[str, str] = {
    "cosmos_policy/Reach-v0": "reach",
    "cosmos_policy/Push-v0": "push",
    "cosmos_policy/PickPlace-v0": "pick_place",
}
for _gym_id, _task in GYM_IDS.items():
    if _gym_id not in gym.registry:
        gym.register(id=_gym_id, entry_point="cosmos_policy.sim.env:TabletopEnv",
                     kwargs={"task": _task})

__all__ = [
    "ACTION_MODES",
    "EXPERTS",
    "GYM_IDS",
    "TASKS",
    "Expert",
    "TabletopEnv",
    "make_env",
    "make_expert",
]
