"""robosuite (Panda Lift and Stack) behind the cosmos-policy contract.

The arm runs robosuite's OSC_POSE controller in its *absolute* mode (``input_type="absolute"``,
``input_ref_frame="base"``): its native action is ``[x, y, z, rx, ry, rz, g]``, a target position
and axis-angle orientation of the grip site in the robot base frame, plus the gripper in [-1, 1]
(+1 closes). The unified action maps onto it directly: translation as is, the 6-D rotation
Gram-Schmidt'd into a matrix and then an axis-angle, the gripper ``2 g - 1``. Success is the
environment's own ``_check_success()``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from cosmos_policy.errors import UnknownNameError
from cosmos_policy.sim.external import _common as C

CAMERAS = ("agentview", "robot0_eye_in_hand", "frontview", "birdview", "sideview")
DEFAULT_CAMERAS = ("agentview", "robot0_eye_in_hand")
FINGER_OPEN_M = 0.08  # Panda: finger_joint1 in [0, 0.04], finger_joint2 in [-0.04, 0]
CONTROL_HZ = 20
ARM = "right"  # robosuite's name for a single arm's controller


def _controller_config(suite: Any) -> dict[str, Any]:
    """robosuite's default Panda config with the arm switched to absolute OSC_POSE."""
    from robosuite.controllers import load_composite_controller_config

    cfg = copy.deepcopy(load_composite_controller_config(controller="BASIC", robot="Panda"))
    arm = cfg["body_parts"][ARM]
    arm.update(type="OSC_POSE", input_type="absolute", input_ref_frame="base")
    cfg["body_parts"] = {ARM: arm}  # the other parts (torso, head, base, legs) are not Panda's
    return cfg


class RobosuiteAdapter(gym.Env):
    """A robosuite manipulation task with the contract's observations and the unified action.

    ``native``: the robosuite environment name (``"Lift"``, ``"Stack"``). Runs at 20 Hz (one env
    step = one policy step); ``terminated`` stays False, ``truncated`` is True at the step limit.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(
        self,
        native: str,
        prompt: str,
        *,
        cameras: Sequence[str] | None = None,
        image_size: int | Sequence[int] | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        suite = C.require("robosuite")
        self.native, self.prompt, self.render_mode = native, prompt, render_mode
        self.cameras = tuple(cameras) if cameras is not None else DEFAULT_CAMERAS
        for cam in self.cameras:
            if cam not in CAMERAS:
                raise UnknownNameError("robosuite camera", cam, list(CAMERAS))
        self.hw = C.image_hw(image_size)
        self.max_episode_steps = int(max_episode_steps or 200)
        render = bool(self.cameras)
        self._env = suite.make(
            native,
            robots="Panda",
            controller_configs=_controller_config(suite),
            has_renderer=False,
            has_offscreen_renderer=render,
            use_camera_obs=render,
            camera_names=list(self.cameras) if render else "agentview",
            camera_heights=self.hw[0],
            camera_widths=self.hw[1],
            control_freq=CONTROL_HZ,
            horizon=10**9,  # we count steps ourselves; robosuite raises past its horizon
            ignore_done=True,
            hard_reset=False,  # reloading the model every episode is slow and changes nothing
            reward_shaping=False,
        )
        from robosuite import macros

        self._flip = macros.IMAGE_CONVENTION == "opengl"  # robosuite renders bottom row first
        self._robot = self._env.robots[0]
        self._controller = self._robot.part_controllers[ARM]
        self.control_dt = 1.0 / CONTROL_HZ
        self.observation_space = C.observation_space(self.cameras, self.hw, 7)
        self.action_space = C.action_space()
        self._raw: dict[str, np.ndarray] = {}
        self._steps = 0

    # ----------------------------------------------------------------------------- frames
    def _base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos, rot = self._robot.composite_controller.get_controller_base_pose(controller_name=ARM)
        return np.asarray(pos, float), np.asarray(rot, float).reshape(3, 3)

    def _ee_world(self) -> tuple[np.ndarray, np.ndarray]:
        data = self._env.sim.data
        site = self._controller.ref_name
        return np.array(data.get_site_xpos(site)), np.array(data.get_site_xmat(site)).reshape(3, 3)

    def _body_in_base(self, body_id: int) -> tuple[np.ndarray, np.ndarray]:
        data = self._env.sim.data
        rot = np.array(data.body_xmat[body_id]).reshape(3, 3)
        return C.pose_in_base(*self._base_pose(), np.array(data.body_xpos[body_id]), rot)

    def privileged(self) -> dict[str, np.ndarray]:
        """Simulator truth for experts, base frame: ``grip`` (3,), ``grip_rot`` (3, 3), and per
        cube ``<name>`` (3,) and ``<name>_rot`` (3, 3) for ``cube`` (Lift) or ``cubeA``/``cubeB``
        (Stack); ``cube_half`` / ``cubeA_half`` / ``cubeB_half`` give their half sizes (m)."""
        pos, rot = C.pose_in_base(*self._base_pose(), *self._ee_world())
        out: dict[str, np.ndarray] = {"grip": pos, "grip_rot": rot}
        for name in ("cube", "cubeA", "cubeB"):
            body_id = getattr(self._env, f"{name}_body_id", None)
            if body_id is None:
                continue
            out[name], out[f"{name}_rot"] = self._body_in_base(body_id)
            out[f"{name}_half"] = np.asarray(getattr(self._env, name).size, float)
        return out

    # ------------------------------------------------------------------------ observations
    def _images(self) -> dict[str, np.ndarray]:
        out = {}
        for cam in self.cameras:
            img = self._raw[f"{cam}_image"]
            out[cam] = np.ascontiguousarray(img[::-1] if self._flip else img, dtype=np.uint8)
        return out

    def _obs(self) -> dict[str, Any]:
        raw = self._raw
        fingers = raw["robot0_gripper_qpos"]
        grip = C.closure(float(fingers[0] - fingers[1]), FINGER_OPEN_M)
        pos, rot = C.pose_in_base(*self._base_pose(), *self._ee_world())
        return {
            "images": self._images(),
            "state": np.append(raw["robot0_joint_pos"], grip).astype(np.float32),
            "joint_vel": raw["robot0_joint_vel"].astype(np.float32),
            "ee_pose": C.pose9(pos, rot),
            "prompt": self.prompt,
        }

    # ------------------------------------------------------------------------------ gym API
    @staticmethod
    def native_action(action: np.ndarray) -> np.ndarray:
        """Unified (10,) -> robosuite's absolute OSC_POSE (7,): pos, axis-angle, gripper."""
        a = C.check_action(action)
        rotvec = C.rotvec_from_matrix(C.rot_from_6d(a[3:9]))
        gripper = 2.0 * float(np.clip(a[9], 0.0, 1.0)) - 1.0
        return np.concatenate([a[:3], rotvec, [gripper]])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            # The placement samplers hold this very generator: reseed it in place.
            fresh = np.random.default_rng(seed)
            self._env.rng.bit_generator.state = fresh.bit_generator.state
        self._raw = self._env.reset()
        self._steps = 0
        return self._obs(), {"is_success": bool(self._env._check_success())}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._raw, reward, _, _ = self._env.step(self.native_action(action))
        self._steps += 1
        success = bool(self._env._check_success())
        info = {"is_success": success, "native_reward": float(reward)}
        truncated = self._steps >= self.max_episode_steps
        return self._obs(), float(success), False, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or not self.cameras:
            return None
        return self._images()[self.cameras[0]]

    def close(self) -> None:
        self._env.close()
