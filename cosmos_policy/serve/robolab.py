"""RoboLab / RoboArena requests on our WebSocket server (NVIDIA's DROID policy protocol).

NVIDIA serves its Cosmos 3 DROID policies over openpi's WebSocket + msgpack protocol with
DROID's observation keys; a client written for that server (RoboLab's, RoboArena's) runs
against ``cosmos-policy serve --transport websocket`` unchanged. A request is a map::

    "observation/image"                   uint8 (H, W, 3): a ready concat_view canvas, or
    "observation/wrist_image_left"        uint8 (H, W, 3)  the three DROID cameras
    "observation/exterior_image_1_left"   uint8 (H, W, 3)
    "observation/exterior_image_2_left"   uint8 (H, W, 3)
    "observation/joint_position"          float (7,) or (T, 7): the last row is now
    "observation/gripper_position"        float, (T,) or (T, 1): DROID's *closedness*
    "prompt"                              str

and the reply is ``{"action": float32 (T, 8)}``: absolute joint positions and the gripper
closedness, one row per action step of the model's chunk (32 for the released checkpoints).

Translation, both ways: DROID's gripper is 1 = closed; ours (and the Cosmos 3 policy
model's) is an opening, so the gripper is flipped (``1 - g``) going in and coming out, as
NVIDIA's server does. A model that takes the canvas (:class:`Cosmos3PolicyWAM`) gets it
under ``concat_view``; any other model gets the views as the embodiment's cameras (wrist
camera <- wrist view, world cameras <- the exterior views in order), resized to their size.
The request then goes through the same safety checks and joint projection as ours.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.errors import SpecError
from cosmos_policy.models.cosmos3_views import CANVAS_SIZE, CANVAS_VIEWPOINT, compose_canvas, resize
from cosmos_policy.serve.node_core import check_prompt
from cosmos_policy.spec import Observation

PREFIX = "observation/"
CANVAS_KEY = "observation/image"
VIEW_KEYS = ("observation/wrist_image_left", "observation/exterior_image_1_left",
             "observation/exterior_image_2_left")
JOINTS_KEY = "observation/joint_position"
GRIPPER_KEY = "observation/gripper_position"


def is_robolab(request: Any) -> bool:
    """True for a map with DROID ``observation/...`` keys (ours has ``images``/``state``)."""
    return isinstance(request, dict) and any(
        isinstance(k, str) and k.startswith(PREFIX) for k in request)


def _image(request: dict, key: str) -> np.ndarray:
    img = np.asarray(request[key])
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype.kind not in "uif":
        raise ValueError(f"{key}: expected an (H, W, 3) image, got {img.dtype} {img.shape}")
    return img if img.dtype == np.uint8 else np.clip(img, 0, 255).astype(np.uint8)


def _last_row(request: dict, key: str, width: int) -> np.ndarray:
    if key not in request:
        raise ValueError(f"{key}: missing")
    a = np.asarray(request[key], dtype=np.float64)
    a = a.reshape(-1, width) if a.size and a.size % width == 0 else a
    if a.ndim != 2 or a.shape[1] != width or not np.all(np.isfinite(a[-1])):
        raise ValueError(f"{key}: expected {width} finite values per row, got shape "
                         f"{np.shape(request[key])}")
    return a[-1]


def _images(request: dict, embodiment: Embodiment, model: Any) -> dict[str, np.ndarray]:
    have_views = all(k in request for k in VIEW_KEYS)
    if getattr(model, "consumes_canvas", False):
        size = tuple(getattr(getattr(model, "config", None), "canvas", CANVAS_SIZE))
        if CANVAS_KEY in request:
            return {CANVAS_VIEWPOINT: _image(request, CANVAS_KEY)}
        if have_views:
            return {CANVAS_VIEWPOINT: compose_canvas(*(_image(request, k) for k in VIEW_KEYS),
                                                     size=size)}
        raise ValueError(f"images: send {CANVAS_KEY} or all of {', '.join(VIEW_KEYS)}")
    if not have_views:
        raise ValueError(f"images: this model takes camera views, not a canvas; send all of "
                         f"{', '.join(VIEW_KEYS)}")
    wrist = [c for c in embodiment.cameras if c.mount != "world"][:1]
    world = [c for c in embodiment.cameras if c.mount == "world"][:2]
    keys = {c.name: VIEW_KEYS[0] for c in wrist}
    keys.update({c.name: key for c, key in zip(world, VIEW_KEYS[1:], strict=False)})
    missing = [c.name for c in embodiment.cameras if c.name not in keys]
    if missing:
        raise ValueError(f"embodiment {embodiment.name!r} has cameras {missing} that no DROID "
                         "view maps to (one wrist camera and up to two world cameras)")
    return {c.name: resize(_image(request, keys[c.name]), (c.height, c.width))
            for c in embodiment.cameras}


def observation(request: dict, embodiment: Embodiment, model: Any) -> Observation:
    """A RoboLab request -> our Observation; raises ValueError naming what was wrong."""
    prompt = request.get("prompt")
    reason = check_prompt(prompt)
    if reason is not None:
        raise ValueError(f"prompt: {reason}")
    n = embodiment.n_joints
    q = _last_row(request, JOINTS_KEY, n)
    closed = float(_last_row(request, GRIPPER_KEY, 1)[0])
    state = np.append(q, 1.0 - closed).astype(np.float32)  # DROID closedness -> opening
    obs = Observation(images=_images(request, embodiment, model), state=state,
                      prompt=str(prompt).strip(), timestamp=time.time())
    if CANVAS_VIEWPOINT not in obs.images:
        try:
            obs.validate(embodiment.observation_spec())
        except SpecError as exc:
            raise ValueError(str(exc)) from exc
    return obs


def reply(response: dict[str, Any]) -> dict[str, Any]:
    """Our response map -> RoboLab's ``{"action": (T, n + 1)}`` (joints, gripper closedness)."""
    joints = response.get("joint_targets")
    if joints is None:
        raise ValueError("RoboLab replies are joint positions; serve this embodiment with a "
                         "joint projector (an end-effector embodiment needs its kinematics)")
    action = np.array(joints, dtype=np.float32)
    action[:, -1] = 1.0 - action[:, -1]  # opening -> DROID closedness
    return {"action": action, "server_timing": response.get("server_timing", {})}


__all__ = ["CANVAS_KEY", "GRIPPER_KEY", "JOINTS_KEY", "VIEW_KEYS", "is_robolab", "observation",
           "reply"]
