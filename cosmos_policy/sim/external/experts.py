"""Scripted experts for the external suites, reading privileged simulator state.

Each expert is a small phase machine that emits the *unified* absolute action (10,) (base-frame
EE target + 6-D rotation + gripper in [0, 1]), so it exercises each adapter's action mapping end
to end. ``reset()`` at every episode start, then ``act(obs)`` once per step.

Experts, by task: ``fetch/Reach`` (go to the goal), ``fetch/Push`` (get behind the block on the
goal line, push, re-aim when it drifts), ``fetch/PickAndPlace`` (grasp, carry to the goal),
``robosuite/Lift`` (align yaw with the cube, grasp, lift), ``robosuite/Stack`` (grasp the red cube,
carry it over the green one, lower it, let go, back off).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from cosmos_policy.errors import UnknownNameError
from cosmos_policy.sim.external._common import pose9

# A phase maps (privileged state, the phase's scratch memory) to
# (target position (3,) in the base frame, gripper in [0, 1], done?).
Phase = Callable[[dict[str, np.ndarray], dict[str, Any]], tuple[np.ndarray, float, bool]]


class PhaseExpert:
    """Runs ``phases`` in order; a phase ends when it says so or after ``timeout`` steps.

    ``max_step_m`` bounds how far ahead of the gripper the emitted target is (per step);
    ``rotation`` maps the privileged state to the target rotation (3, 3) (default: keep the
    rotation the gripper had when the episode began).
    """

    def __init__(
        self,
        env: gym.Env,
        phases: list[Phase],
        *,
        max_step_m: float,
        rotation: Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray] | None = None,
        timeout: int = 60,
    ) -> None:
        self.env = env.unwrapped
        self.phases, self.max_step_m = phases, max_step_m
        self.rotation, self.timeout = rotation, timeout
        self.reset()

    def reset(self) -> None:
        """Start from the first phase; call after every ``env.reset``."""
        self.phase, self.steps_in_phase = 0, 0
        self.memory: dict[str, Any] = {}
        self._rot0: np.ndarray | None = None

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        """The unified action (10,) float32 for this step."""
        priv = self.env.privileged()
        ee_rot = _rot9(obs["ee_pose"])
        if self._rot0 is None:
            self._rot0 = ee_rot
        while True:
            target, grip, done = self.phases[self.phase](priv, self.memory)
            last = self.phase == len(self.phases) - 1
            if (done or self.steps_in_phase >= self.timeout) and not last:
                self.phase, self.steps_in_phase, self.memory = self.phase + 1, 0, {}
                continue
            break
        self.steps_in_phase += 1
        step = target - priv["grip"]
        norm = float(np.linalg.norm(step))
        if norm > self.max_step_m:
            target = priv["grip"] + step * (self.max_step_m / norm)
        rot = self.rotation(priv, self._rot0) if self.rotation else self._rot0
        return np.append(pose9(target, rot), grip).astype(np.float32)

    @property
    def phase_index(self) -> int:
        """Which phase runs now (for tests and debugging)."""
        return self.phase


def _rot9(ee_pose: np.ndarray) -> np.ndarray:
    a, b = np.asarray(ee_pose[3:6], float), np.asarray(ee_pose[6:9], float)
    return np.stack([a, b, np.cross(a, b)], axis=1)


def _near(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return bool(np.linalg.norm(np.asarray(a) - np.asarray(b)) < tol)


def _wait(n: int) -> Callable[[dict[str, Any]], bool]:
    """A counter kept in the expert's memory: True on the n-th call within a phase."""

    def tick(memory: dict[str, Any]) -> bool:
        memory["wait"] = memory.get("wait", 0) + 1
        if memory["wait"] >= n:
            memory["wait"] = 0
            return True
        return False

    return tick


# ------------------------------------------------------------------------------------ Fetch
def _fetch_reach(env: gym.Env) -> PhaseExpert:
    def go(p, m):
        return p["goal"], 0.0, False

    return PhaseExpert(env, [go], max_step_m=0.05)


def _fetch_push(env: gym.Env) -> PhaseExpert:
    back, contact, hover = 0.06, 0.04, 0.06  # start behind, hand-to-block gap, clearance (m)

    def line(p):
        d = p["goal"][:2] - p["object"][:2]
        return d / max(np.linalg.norm(d), 1e-6)

    def behind(p, z_up):
        xy = p["object"][:2] - line(p) * back
        return np.array([*xy, p["object"][2] + z_up])

    def approach(p, m):
        """Rise, move over the start point behind the block, go down; returns the target or None."""
        stage = m.setdefault("stage", 0)
        rise = np.array([*p["grip"][:2], p["object"][2] + hover])
        targets = [rise, behind(p, hover), behind(p, 0)]
        if stage == 0 and p["grip"][2] > p["object"][2] + hover - 0.01:
            stage = 1
        if stage == 1 and _near(p["grip"], targets[1], 0.015):
            stage = 2
        if stage == 2 and _near(p["grip"], targets[2], 0.01):
            stage = 3
        m["stage"] = stage
        return targets[stage] if stage < 3 else None

    def push(p, m):
        t = approach(p, m)
        if t is not None:
            return t, 1.0, False
        d = line(p)
        off = p["grip"][:2] - p["object"][:2]
        lateral = abs(off[0] * d[1] - off[1] * d[0])
        if lateral > 0.02 and np.linalg.norm(p["object"][:2] - p["goal"][:2]) > 0.03:
            m["stage"] = 0  # drifted off the line: lift and come again from behind
            return approach(p, m), 1.0, False
        remaining = float(np.linalg.norm(p["goal"][:2] - p["object"][:2]))
        if remaining < 0.015:  # there: stop pushing, or the block slides past the goal
            return np.array([*p["grip"][:2], p["object"][2]]), 1.0, False
        t = np.array([*(p["goal"][:2] - d * contact), p["object"][2]])
        step = t - p["grip"]
        n = float(np.linalg.norm(step))
        speed = float(np.clip(0.5 * remaining, 0.01, 0.025))  # slow down near the goal
        return (p["grip"] + step * min(1.0, speed / max(n, 1e-9))), 1.0, False

    return PhaseExpert(env, [push], max_step_m=0.05)


def _fetch_pick_place(env: gym.Env) -> PhaseExpert:
    wait = _wait(4)

    def above(p, m):
        t = p["object"] + [0, 0, 0.06]
        return t, 0.0, _near(p["grip"][:2], t[:2], 0.01) and _near(p["grip"], t, 0.02)

    def down(p, m):
        t = p["object"] + [0, 0, -0.005]
        return t, 0.0, _near(p["grip"], t, 0.012)

    def grasp(p, m):
        return p["object"] + [0, 0, -0.005], 1.0, wait(m)

    def carry(p, m):
        return p["goal"] + (p["grip"] - p["object"]), 1.0, False

    return PhaseExpert(env, [above, down, grasp, carry], max_step_m=0.05, timeout=15)


# -------------------------------------------------------------------------------- robosuite
def _topdown(yaw_of: str) -> Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]:
    """Keep the start rotation, turned about the vertical by the cube's yaw modulo 90 degrees
    (the smaller way), so the fingers close on two faces of the cube."""

    def rotation(p: dict[str, np.ndarray], rot0: np.ndarray) -> np.ndarray:
        r = p[f"{yaw_of}_rot"]
        yaw = np.arctan2(r[1, 0], r[0, 0])
        yaw = (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4
        c, s = np.cos(yaw), np.sin(yaw)
        z_down = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])  # Panda's nominal grasp frame
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ z_down

    return rotation


def _grasp_phases(cube: str) -> list[Phase]:
    wait = _wait(8)

    def above(p, m):
        t = p[cube] + [0, 0, 0.08]
        aligned = np.linalg.norm(p["grip_rot"][:, 2] - [0, 0, -1]) < 0.05
        return t, 0.0, _near(p["grip"], t, 0.01) and aligned

    def down(p, m):
        t = p[cube] + [0, 0, -0.005]
        return t, 0.0, _near(p["grip"], t, 0.008)

    def grasp(p, m):
        m.setdefault("hold", p[cube] + [0, 0, -0.005])
        return m["hold"], 1.0, wait(m)

    return [above, down, grasp]


def _robosuite_lift(env: gym.Env) -> PhaseExpert:
    def lift(p, m):
        m.setdefault("top", p["cube"] + [0, 0, 0.15])
        return m["top"], 1.0, False

    phases = [*_grasp_phases("cube"), lift]
    return PhaseExpert(env, phases, max_step_m=0.02, rotation=_topdown("cube"), timeout=60)


def _robosuite_stack(env: gym.Env) -> PhaseExpert:
    wait = _wait(10)

    def place_height(p):
        return p["cubeB"][2] + p["cubeB_half"][2] + p["cubeA_half"][2] + 0.005

    def offset(p):  # grip minus cubeA: keeps the carried cube, not the hand, on target
        return p["grip"] - p["cubeA"]

    def lift(p, m):
        z = place_height(p) + 0.06 + offset(p)[2]
        t = np.array([*p["grip"][:2], z])
        return t, 1.0, _near(p["grip"], t, 0.015)

    def over(p, m):
        t = np.array([*(p["cubeB"][:2] + offset(p)[:2]), place_height(p) + 0.06 + offset(p)[2]])
        return t, 1.0, _near(p["grip"], t, 0.006)

    def lower(p, m):
        t = np.array([*(p["cubeB"][:2] + offset(p)[:2]), place_height(p) + offset(p)[2]])
        return t, 1.0, _near(p["grip"], t, 0.006)

    def release(p, m):
        m.setdefault("hold", p["grip"].copy())
        return m["hold"], 0.0, wait(m)

    def retreat(p, m):
        m.setdefault("up", p["grip"] + [0, 0, 0.1])
        return m["up"], 0.0, False

    phases = [*_grasp_phases("cubeA"), lift, over, lower, release, retreat]
    return PhaseExpert(env, phases, max_step_m=0.02, rotation=_topdown("cubeA"), timeout=60)


EXPERTS: dict[str, Callable[[gym.Env], PhaseExpert]] = {
    "fetch/Reach": _fetch_reach,
    "fetch/Push": _fetch_push,
    "fetch/PickAndPlace": _fetch_pick_place,
    "robosuite/Lift": _robosuite_lift,
    "robosuite/Stack": _robosuite_stack,
}


def make_expert_for(env: gym.Env) -> PhaseExpert:
    """The expert for an env from ``make_external_env`` (it carries ``task_name``)."""
    name = getattr(env.unwrapped, "task_name", None) or getattr(env, "task_name", "")
    if name not in EXPERTS:
        raise UnknownNameError("external expert", str(name), list(EXPERTS))
    return EXPERTS[name](env)


def run_expert_episode(env: gym.Env, expert: PhaseExpert, seed: int) -> tuple[bool, int]:
    """One seeded episode; returns (succeeded at any step, steps taken)."""
    obs, info = env.reset(seed=seed)
    expert.reset()
    steps, success = 0, bool(info["is_success"])
    while True:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        steps += 1
        success = success or bool(info["is_success"])
        if terminated or truncated:
            return success, steps


def evaluate_expert(name: str, episodes: int = 20, *, cameras: tuple[str, ...] = ()) -> dict:
    """Success of the expert for task ``name`` over seeds 0..episodes-1 (JSON-ready dict).

    ``success_any``: succeeded at some step; ``success_final``: still succeeding at the end.
    """
    from cosmos_policy.sim.external import make_external_env

    env = make_external_env(name, cameras=cameras)
    expert = make_expert_for(env)
    anys, finals = 0, 0
    for seed in range(episodes):
        obs, info = env.reset(seed=seed)
        expert.reset()
        hit, done = bool(info["is_success"]), False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            hit, done = hit or bool(info["is_success"]), terminated or truncated
        anys, finals = anys + hit, finals + bool(info["is_success"])
    env.close()
    return {"task": name, "episodes": episodes, "success_any": anys, "success_final": finals}


if __name__ == "__main__":  # python -m cosmos_policy.sim.external.experts [episodes]
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(json.dumps([evaluate_expert(task, n) for task in EXPERTS], indent=1))
