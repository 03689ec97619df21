"""The Gymnasium env of the tabletop tasks (docs/CONTRACTS.md, ``cosmos_policy.sim``).

One step = one policy step at the embodiment's ``control.rate_hz``: the action becomes joint
targets (through :class:`cosmos_policy.kinematics.KinematicProjector` for ``ee_pose``) that
the position actuators track over ``1 / rate_hz`` s of physics, ramped linearly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from cosmos_policy import geometry
from cosmos_policy.embodiment import Embodiment, load_embodiment
from cosmos_policy.errors import UserError
from cosmos_policy.sim.scene import Scene
from cosmos_policy.sim.suite import MAX_PROMPT_CHARS, PROMPT_CHARSET, PROMPT_STYLES
from cosmos_policy.sim.tasks import make_task

ACTION_MODES = ("ee_pose", "joint")


def _image_hw(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    hw = (int(image_size),) * 2 if np.isscalar(image_size) else tuple(int(v) for v in image_size)
    if len(hw) != 2 or min(hw) <= 0:
        raise UserError(f"image_size must be a positive int or (height, width), got {image_size!r}")
    return hw  # type: ignore[return-value]


def pose9(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Translation (3,) + rotation (3, 3) -> float32 (9,): :func:`geometry.pose9` as the
    observation space's dtype."""
    return geometry.pose9(pos, rot).astype(np.float32)


class TabletopEnv(gym.Env):
    """A tabletop task (``reach``, ``push``, ``pick_place``) for one embodiment.

    Observation (Dict): ``images`` {camera: uint8 (H, W, 3)}, ``state`` float32 (n+1,) joint
    positions + gripper in [0, 1] (1 closed), ``joint_vel`` float32 (n,), ``ee_pose`` float32
    (9,) tcp translation (m, base frame) + 6-D rotation, ``prompt`` str.
    Action: ``ee_pose`` -> float32 (10,) absolute unified pose [x, y, z, r1..r6, g];
    ``joint`` -> float32 (n+1,) joint targets + gripper command in [0, 1].
    ``cameras=()`` renders nothing (fast experts and data collection without images).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, task: str = "reach", embodiment: str | Embodiment = "franka", *,
                 cameras: Sequence[str] | None = None,
                 image_size: int | Sequence[int] | None = None,
                 action_mode: str = "ee_pose", render_mode: str | None = None,
                 max_episode_steps: int | None = None,
                 prompt_style: str = "canonical") -> None:
        emb = embodiment if isinstance(embodiment, Embodiment) else load_embodiment(embodiment)
        if action_mode not in ACTION_MODES:
            raise UserError(f"unknown action_mode '{action_mode}'; "
                            f"valid: {', '.join(ACTION_MODES)}")
        if prompt_style not in PROMPT_STYLES:
            raise UserError(f"unknown prompt_style '{prompt_style}'; "
                            f"valid: {', '.join(PROMPT_STYLES)}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise UserError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.embodiment = emb
        self.task = make_task(task)
        self.task_name = task
        self.action_mode = action_mode
        self.render_mode = render_mode
        self.prompt_style = prompt_style
        self.max_episode_steps = int(max_episode_steps or self.task.max_episode_steps)
        cams = [c.name for c in emb.cameras] if cameras is None else list(cameras)
        self.scene = Scene(emb, cams, _image_hw(image_size))
        self.projector = None
        if action_mode == "ee_pose":
            try:
                from cosmos_policy.kinematics import KinematicProjector
            except ImportError as exc:  # the kinematics module is another engineer's, may lag
                raise UserError("action_mode='ee_pose' needs cosmos_policy.kinematics; "
                                "use action_mode='joint'") from exc
            self.projector = KinematicProjector(emb)
        self.observation_space = self._observation_space()
        self.action_space = self._action_space()
        self._steps = 0
        self._q_target = emb.home.copy()

    # --- spaces ----------------------------------------------------------------------------
    def _observation_space(self) -> spaces.Dict:
        n = self.embodiment.n_joints
        images = {}
        for cam in self.scene.cameras:
            h, w = self.scene.image_hw or (cam.height, cam.width)
            images[cam.name] = spaces.Box(0, 255, (h, w, 3), np.uint8)
        vec = lambda k: spaces.Box(-np.inf, np.inf, (k,), np.float32)
        return spaces.Dict({
            "images": spaces.Dict(images), "state": vec(n + 1), "joint_vel": vec(n),
            "ee_pose": vec(9),
            "prompt": spaces.Text(MAX_PROMPT_CHARS, charset=PROMPT_CHARSET),
        })

    def _action_space(self) -> spaces.Box:
        emb = self.embodiment
        if self.action_mode == "joint":
            low = np.append(emb.position_limits[:, 0], 0.0)
            high = np.append(emb.position_limits[:, 1], 1.0)
        else:
            low = np.concatenate([emb.workspace_low, -np.ones(6), [0.0]])
            high = np.concatenate([emb.workspace_high, np.ones(6), [1.0]])
        return spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)

    # --- gym API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Home pose, gripper open, a new layout and prompt drawn from ``self.np_random``."""
        super().reset(seed=seed)
        self.scene.reset_robot()
        self.task.reset(self.scene, self.np_random, self.prompt_style)
        self.scene.forward()
        self._steps = 0
        self._q_target = self.embodiment.home.copy()
        return self._obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool,
                                                dict[str, Any]]:
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != self.action_space.shape or not np.all(np.isfinite(action)):
            raise UserError(f"action must be finite with shape {self.action_space.shape}, "
                            f"got shape {action.shape}")
        action = np.clip(action, self.action_space.low, self.action_space.high)
        if self.projector is not None:
            target = np.asarray(self.projector.to_joint_targets(action, self._q_target,
                                                                representation="absolute"))
        else:
            target = action
        lim = self.embodiment.position_limits
        self._q_target = np.clip(target[:-1], lim[:, 0], lim[:, 1])
        self.scene.step(self._q_target, float(target[-1]))
        self._steps += 1
        success = self.task.success(self.scene)
        truncated = self._steps >= self.max_episode_steps and not success
        return self._obs(), float(self.task.reward(self.scene)), success, truncated, self._info(
            success)

    def step_joint_targets(self, q: np.ndarray, gripper: float, duration_s: float) -> bool:
        """Track joint targets ``q`` (n,) for ``duration_s`` of physics, ramped linearly from
        the previous targets, gripper command in [0, 1] at once: one runtime command (not an
        env step; the step counter is unchanged). Returns the task's success now."""
        lim = self.embodiment.position_limits
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.shape != lim[:, 0].shape or not np.all(np.isfinite(q)) or not np.isfinite(gripper):
            raise ValueError(f"q: expected {len(lim)} finite targets and a finite gripper")
        q = np.clip(q, lim[:, 0], lim[:, 1])
        s = self.scene
        n = max(1, round(duration_s / s.model.opt.timestep))
        q0 = s.data.ctrl[s.arm_act].copy()
        s.data.ctrl[s.grip_act] = s.gripper_position(gripper)
        for i in range(1, n + 1):
            s.data.ctrl[s.arm_act] = q0 + (q - q0) * (i / n)
            mujoco.mj_step(s.model, s.data)
        self._q_target = q
        return bool(self.task.success(s))

    def render(self) -> np.ndarray | None:
        """rgb_array: the env's cameras side by side, uint8 (H, sum W, 3)."""
        if self.render_mode != "rgb_array":
            return None
        images = self.scene.render()
        if not images:
            return None
        return side_by_side(list(images.values()))

    def close(self) -> None:
        self.scene.close()

    # --- helpers ---------------------------------------------------------------------------
    def _obs(self) -> dict[str, Any]:
        s = self.scene
        state = np.append(s.arm_q(), s.gripper_opening()).astype(np.float32)
        return {"images": s.render(), "state": state,
                "joint_vel": s.arm_qvel().astype(np.float32),
                "ee_pose": pose9(s.tcp_pos(), s.tcp_rot()), "prompt": self.task.prompt}

    def _info(self, success: bool = False) -> dict[str, Any]:
        return {"is_success": bool(success), "color": self.task.color, "step": self._steps}


def side_by_side(images: Sequence[np.ndarray]) -> np.ndarray:
    """Images (H_i, W_i, 3) -> one uint8 image, padded to the tallest, left to right."""
    h = max(im.shape[0] for im in images)
    padded = [np.pad(im, ((0, h - im.shape[0]), (0, 0), (0, 0))) for im in images]
    return np.concatenate(padded, axis=1)


def make_env(task: str, embodiment: str | Embodiment = "franka", *,
             cameras: Sequence[str] | None = None,
             image_size: int | Sequence[int] | None = None, action_mode: str = "ee_pose",
             render_mode: str | None = None, max_episode_steps: int | None = None,
             prompt_style: str = "canonical") -> TabletopEnv:
    """A tabletop env (see :class:`TabletopEnv`); unknown names raise a :class:`UserError`."""
    return TabletopEnv(task, embodiment, cameras=cameras, image_size=image_size,
                       action_mode=action_mode, render_mode=render_mode,
                       max_episode_steps=max_episode_steps, prompt_style=prompt_style)
