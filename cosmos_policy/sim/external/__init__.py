"""Adapters for simulation suites nobody here wrote: gymnasium-robotics Fetch and robosuite.

Each adapter is a ``gymnasium.Env`` that speaks the contract of docs/CONTRACTS.md (observation
dict with ``images``, ``state``, ``joint_vel``, ``ee_pose``, ``prompt``; the unified (10,) action;
``info["is_success"]`` from the suite's own criterion). The suites are optional (the ``sim``
extra): importing this package needs neither; making an env without its suite raises a
:class:`~cosmos_policy.errors.UserError` naming the install command.

    env = make_external_env("robosuite/Lift", image_size=128, seed=0)
    expert = make_external_expert(env)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym

from cosmos_policy.errors import UnknownNameError


@dataclass(frozen=True)
class ExternalTask:
    """One task of an external suite: which suite, its native name, our prompt, its length."""

    suite: str  # "fetch" or "robosuite"
    native: str  # gymnasium id (Fetch) or robosuite environment name
    prompt: str
    max_episode_steps: int
    default_cameras: tuple[str, ...]


EXTERNAL_TASKS: dict[str, ExternalTask] = {
    "fetch/Reach": ExternalTask(
        "fetch", "FetchReach-v4", "move the gripper to the red target", 50, ("front", "wrist")
    ),
    "fetch/Push": ExternalTask(
        "fetch", "FetchPush-v4", "push the black block to the red target", 50, ("front", "wrist")
    ),
    "fetch/PickAndPlace": ExternalTask(
        "fetch", "FetchPickAndPlace-v4", "pick up the black block and place it at the red target",
        50, ("front", "wrist"),
    ),
    "robosuite/Lift": ExternalTask(
        "robosuite", "Lift", "pick up the cube and lift it", 200,
        ("agentview", "robot0_eye_in_hand"),
    ),
    "robosuite/Stack": ExternalTask(
        "robosuite", "Stack", "stack the red cube on the green cube", 300,
        ("agentview", "robot0_eye_in_hand"),
    ),
}


def _make_fetch(task: ExternalTask, **kw: object) -> gym.Env:
    from cosmos_policy.sim.external.fetch import FetchAdapter

    return FetchAdapter(task.native, task.prompt, **kw)  # type: ignore[arg-type]


def _make_robosuite(task: ExternalTask, **kw: object) -> gym.Env:
    from cosmos_policy.sim.external.robosuite_env import RobosuiteAdapter

    return RobosuiteAdapter(task.native, task.prompt, **kw)  # type: ignore[arg-type]


SUITES: dict[str, Callable[..., gym.Env]] = {"fetch": _make_fetch, "robosuite": _make_robosuite}


def make_external_env(
    name: str,
    *,
    image_size: int | Sequence[int] | None = None,
    cameras: Sequence[str] | None = None,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """Make the external task ``name`` (a key of :data:`EXTERNAL_TASKS`).

    image_size: ``n`` or ``(height, width)`` of every camera image (default 128 x 128).
    cameras: names to render (see docs/EXTERNAL_SUITES.md); ``()`` renders none (fast).
    seed: if given, the env is reset once with it so the first episode is reproducible.
    """
    if name not in EXTERNAL_TASKS:
        raise UnknownNameError("external task", name, list(EXTERNAL_TASKS))
    task = EXTERNAL_TASKS[name]
    env = SUITES[task.suite](
        task,
        cameras=task.default_cameras if cameras is None else tuple(cameras),
        image_size=image_size,
        max_episode_steps=max_episode_steps or task.max_episode_steps,
        render_mode=render_mode,
    )
    env.task_name = name  # type: ignore[attr-defined]
    if seed is not None:
        env.reset(seed=seed)
    return env


def make_external_expert(env: gym.Env) -> object:
    """The scripted expert (privileged state) for an env made by :func:`make_external_env`."""
    from cosmos_policy.sim.external.experts import make_expert_for

    return make_expert_for(env)


__all__ = [
    "EXTERNAL_TASKS",
    "ExternalTask",
    "make_external_env",
    "make_external_expert",
]
