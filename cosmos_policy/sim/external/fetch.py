"""gymnasium-robotics Fetch (Reach, Push, PickAndPlace) behind the cosmos-policy contract.

Fetch is driven through a mocap body: its native action is a 4-D vector in [-1, 1], a Cartesian
step of at most 5 cm per env step (world frame) plus a finger command (+1 opens, -1 closes); the
gripper's orientation is held fixed by the suite (pointing down). The adapter turns the unified
absolute EE target into that step, ``clip((target - grip) / 0.05, -1, 1)``; the 6-D rotation of
the unified action is ignored (documented in docs/EXTERNAL_SUITES.md). Success is the suite's own
``info["is_success"]`` (goal within 5 cm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from cosmos_policy.errors import UnknownNameError
from cosmos_policy.sim.external import _common as C

ARM_JOINTS = tuple(
    f"robot0:{j}_joint"
    for j in (
        "shoulder_pan", "shoulder_lift", "upperarm_roll", "elbow_flex",
        "forearm_roll", "wrist_flex", "wrist_roll",
    )
)
FINGER_JOINTS = ("robot0:r_gripper_finger_joint", "robot0:l_gripper_finger_joint")
FINGER_OPEN_M = 0.1  # both fingers at their 0.05 m limit
MAX_STEP_M = 0.05  # the suite scales its [-1, 1] position action by this
BASE_BODY = "robot0:base_link"
GRIP_SITE = "robot0:grip"



@dataclass(frozen=True)
class FreeView:
    """A MuJoCo free camera; with ``follow`` its ``lookat`` is an offset from the grip site."""

    lookat: tuple[float, float, float]
    distance: float
    azimuth: float
    elevation: float
    follow: bool = False


# Our camera names -> a free view (world-fixed, or riding with the gripper). Fetch's own
# gripper_camera_rgb looks into the fingers, so "wrist" is a view that rides with the grip site,
# 30 cm in front of and above it, looking down at the fingers and what is below them.
CAMERAS: dict[str, FreeView] = {
    "front": FreeView((1.3, 0.75, 0.42), 1.1, 180.0, -55.0),
    "side": FreeView((1.3, 0.75, 0.5), 1.6, 90.0, -25.0),
    "wrist": FreeView((0.0, 0.0, -0.1), 0.3, 180.0, -50.0, follow=True),
}
DEFAULT_CAMERAS = ("front", "wrist")


class FetchAdapter(gym.Env):
    """A Fetch task with the contract's observations and the unified (10,) action.

    ``native_id``: the gymnasium id, e.g. ``"FetchPush-v4"``. ``max_episode_steps`` defaults to
    the suite's 50 (2 s at 25 Hz). ``terminated`` stays False (the suite's convention);
    ``truncated`` becomes True at the step limit.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        native_id: str,
        prompt: str,
        *,
        cameras: Sequence[str] | None = None,
        image_size: int | Sequence[int] | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        gr = C.require("gymnasium_robotics")
        gym.register_envs(gr)
        self._env = gym.make(native_id).unwrapped
        self.native_id, self.prompt, self.render_mode = native_id, prompt, render_mode
        self.cameras = tuple(cameras) if cameras is not None else DEFAULT_CAMERAS
        for cam in self.cameras:
            if cam not in CAMERAS:
                raise UnknownNameError("Fetch camera", cam, list(CAMERAS))
        self.hw = C.image_hw(image_size)
        self.max_episode_steps = int(max_episode_steps or 50)
        self.control_dt = float(self._env.dt)
        model, data = self._env.model, self._env.data
        self._model, self._data = model, data
        self._arm_q = np.array([model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._arm_v = np.array([model.joint(j).dofadr[0] for j in ARM_JOINTS])
        self._finger_q = np.array([model.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self._base = model.body(BASE_BODY).id
        self._grip = model.site(GRIP_SITE).id
        self.has_object = bool(self._env.has_object)
        self.observation_space = C.observation_space(self.cameras, self.hw, len(ARM_JOINTS))
        self.action_space = C.action_space()
        self._renderer: mujoco.Renderer | None = None
        self._steps = 0

    # ----------------------------------------------------------------------------- frames
    def _base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        d = self._data
        return d.xpos[self._base].copy(), d.xmat[self._base].reshape(3, 3).copy()

    def to_base(self, world_pos: np.ndarray) -> np.ndarray:
        """A world point (3,) in the robot base frame."""
        bp, br = self._base_pose()
        return br.T @ (np.asarray(world_pos, float) - bp)

    def privileged(self) -> dict[str, np.ndarray]:
        """Simulator truth for experts, base frame: ``grip``, ``goal`` and ``object``."""
        d = self._data
        out = {"grip": self.to_base(d.site_xpos[self._grip]), "goal": self.to_base(self._env.goal)}
        if self.has_object:
            out["object"] = self.to_base(d.site("object0").xpos)
        return out

    # ------------------------------------------------------------------------ observations
    def _render_images(self) -> dict[str, np.ndarray]:
        if not self.cameras:
            return {}
        if self._renderer is None:
            vis = self._model.vis.global_
            vis.offheight = max(vis.offheight, self.hw[0])
            vis.offwidth = max(vis.offwidth, self.hw[1])
            self._renderer = mujoco.Renderer(self._model, *self.hw)
        self._env._render_callback()  # moves the visible target sphere onto the goal
        images = {}
        for cam in self.cameras:
            view, free = CAMERAS[cam], mujoco.MjvCamera()
            origin = self._data.site_xpos[self._grip] if view.follow else 0.0
            free.lookat[:] = np.asarray(view.lookat) + origin
            free.distance, free.azimuth = view.distance, view.azimuth
            free.elevation = view.elevation
            self._renderer.update_scene(self._data, camera=free)
            images[cam] = self._renderer.render().copy()
        return images

    def _obs(self) -> dict[str, Any]:
        d = self._data
        bp, br = self._base_pose()
        grip_rot = d.site_xmat[self._grip].reshape(3, 3)
        pos, rot = C.pose_in_base(bp, br, d.site_xpos[self._grip], grip_rot)
        gap = float(d.qpos[self._finger_q].sum())
        state = np.append(d.qpos[self._arm_q], C.closure(gap, FINGER_OPEN_M)).astype(np.float32)
        return {
            "images": self._render_images(),
            "state": state,
            "joint_vel": d.qvel[self._arm_v].astype(np.float32),
            "ee_pose": C.pose9(pos, rot),
            "prompt": self.prompt,
        }

    # ------------------------------------------------------------------------------ gym API
    def native_action(self, action: np.ndarray) -> np.ndarray:
        """Unified (10,) -> Fetch's (4,): bounded Cartesian step toward the target + fingers."""
        a = C.check_action(action)
        bp, br = self._base_pose()
        target_world = bp + br @ a[:3]
        step = (target_world - self._data.site_xpos[self._grip]) / MAX_STEP_M
        fingers = 1.0 - 2.0 * float(np.clip(a[9], 0.0, 1.0))
        return np.append(np.clip(step, -1.0, 1.0), fingers).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._env.reset(seed=seed)
        self._steps = 0
        return self._obs(), {"is_success": self._success()}

    def _success(self) -> bool:
        achieved = self._env._get_obs()["achieved_goal"]
        return bool(self._env._is_success(achieved, self._env.goal))

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        _, reward, _, _, info = self._env.step(self.native_action(action))
        self._steps += 1
        info = {"is_success": bool(info["is_success"]), "native_reward": float(reward)}
        truncated = self._steps >= self.max_episode_steps
        return self._obs(), float(info["is_success"]), False, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or not self.cameras:
            return None
        return self._render_images()[self.cameras[0]]

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()
