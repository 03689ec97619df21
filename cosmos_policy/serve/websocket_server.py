"""A WebSocket + msgpack policy server speaking openpi's client protocol.

On connect the server sends one binary frame: the metadata (``protocol``, embodiment,
observation and action specs, action rate). Then, per request, the client sends a msgpack
map (arrays as in :mod:`cosmos_policy.serve.wire_msgpack`)::

    {"images": {camera: uint8 (H, W, 3)}, "state": float32 (n + 1,), "prompt": str,
     "timestamp": float (optional)}

and receives ``{"actions": float32 (T, D), "joint_targets": float32 (T, n + 1) | absent,
"dt": float, "safety": [reason, ...], "server_timing": {"infer_ms": float}}``: absolute
actions in the embodiment's action space, the chunk's first action one ``dt`` after the
observation. ``joint_targets`` have passed the same safety layer as streamed commands
(:mod:`cosmos_policy.serve.chunk_safety`): finite, inside the position limits and the
workspace box, within the velocity and acceleration limits from the state given (at rest),
gripper in [0, 1]; ``safety`` names what the layer changed (empty: nothing). A chunk the
model made non-finite is answered with a hold (``hold:non_finite``). The ``actions`` of a
joint-space embodiment are those safe targets; for an end-effector one, the gripper is
clipped to [0, 1].

A malformed or refused request (a joint state of 1e30 or NaN, a gripper opening of 5)
gets a *text* frame naming what was wrong (openpi clients raise on a text frame) and the
connection stays open. Refusal counts and the last reason are in :meth:`metadata_now`
and are sent, with the handshake, to every new client. Nothing is ever unpickled.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.errors import SpecError
from cosmos_policy.runtime import ActionProcessor
from cosmos_policy.serve import robolab
from cosmos_policy.serve.chunk_safety import ChunkLimiter
from cosmos_policy.serve.node_core import check_prompt, default_guard
from cosmos_policy.serve.wire_msgpack import MAX_MESSAGE_BYTES, DecodeError, packb, unpackb
from cosmos_policy.spec import Observation, WorldActionModel

log = logging.getLogger("cosmos_policy.serve")

PROTOCOL = "cosmos-policy/ws-msgpack/1"
LOG_INTERVAL_S = 5.0  # at most one log line per kind of refusal per interval


def metadata(embodiment: Embodiment) -> dict[str, Any]:
    """The handshake: what the server expects and answers."""
    spec = embodiment.observation_spec()
    return {
        "protocol": PROTOCOL,
        "embodiment": embodiment.name,
        "observation": {
            "images": {cam: {"shape": list(s.shape), "dtype": s.dtype}
                       for cam, s in spec.images.items()},
            "state": {"shape": [embodiment.state_dim], "dtype": "float32",
                      "joints": list(embodiment.joints), "gripper": "opening in [0, 1]"},
            "prompt": f"str, at most {spec.max_prompt_chars} characters",
        },
        "action": {"type": embodiment.action_type,
                   "representation": "absolute",
                   "dim": embodiment.action_dim, "rate_hz": embodiment.control_rate_hz},
    }


class PolicyWebSocketServer:
    """Serves one model to any number of clients (requests run one at a time).

    workspace: keep answered targets in the embodiment's workspace box (as the policy node
    does); False only for an arm without a kinematic model.
    record: an MCAP file to record each answered request and its reply to, as ROS 2
    messages (:class:`cosmos_policy.viz.mcap_serve.WebSocketRecording`).
    """

    def __init__(self, embodiment: Embodiment, model: WorldActionModel, *,
                 host: str = "127.0.0.1", port: int = 8000,
                 projector: object | None = None, workspace: bool = True,
                 record: str | None = None) -> None:
        self.embodiment, self.model, self.host = embodiment, model, host
        self.processor = ActionProcessor(embodiment, projector)
        self.limiter = ChunkLimiter(embodiment, default_guard(embodiment, workspace))
        self.metadata = metadata(embodiment)
        self.spec = embodiment.observation_spec()
        self._model_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.refusals: dict[str, int] = {}
        self.last_refusal: str | None = None
        self._logged_at: dict[str, float] = {}
        self.safety_counts: dict[str, int] = {}
        self.requests = 0
        self.recording = None
        if record is not None:  # made before the socket: a bad path fails before serving
            from cosmos_policy.viz.mcap_serve import WebSocketRecording

            self.recording = WebSocketRecording(record, embodiment)
        try:
            self._server = serve(self._handle, host, port, max_size=MAX_MESSAGE_BYTES,
                                 compression=None)
        except Exception:
            if self.recording is not None:
                self.recording.close()
            raise
        self.port = self._server.socket.getsockname()[1]
        self._thread: threading.Thread | None = None

    def start(self) -> PolicyWebSocketServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="cosmos-websocket", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.recording is not None:
            self.recording.close()

    # ------------------------------------------------------------------ requests
    def observation(self, request: Any) -> Observation:
        """A decoded request -> a validated Observation; raises ValueError with the reason."""
        if not isinstance(request, dict):
            raise ValueError("request must be a map")
        images, state, prompt = (request.get(k) for k in ("images", "state", "prompt"))
        if not isinstance(images, dict) or not all(isinstance(v, np.ndarray)
                                                   for v in images.values()):
            raise ValueError("images: expected a map camera -> uint8 array")
        if set(images) != set(self.spec.images):
            raise ValueError(f"images: expected cameras {sorted(self.spec.images)}, "
                             f"got {sorted(images)}")
        if not isinstance(state, np.ndarray):
            raise ValueError("state: expected an array")
        if state.shape == (self.embodiment.state_dim,) and state.dtype.kind in "iuf":
            why = self.limiter.check_state(state)  # NaN, 1e30, a gripper opening of 5
            if why is not None:
                raise ValueError(why)
        reason = check_prompt(prompt)
        if reason is not None:
            raise ValueError(f"prompt: {reason}")
        stamp = request.get("timestamp", time.time())
        if not isinstance(stamp, (int, float)) or not np.isfinite(stamp):
            raise ValueError("timestamp: expected a finite number")
        obs = Observation(images=images, state=state, prompt=prompt.strip(),
                          timestamp=float(stamp))
        try:
            obs.validate(self.spec)
        except SpecError as exc:
            raise ValueError(str(exc)) from exc
        return obs

    def infer(self, request: Any) -> dict[str, Any]:
        """One request -> the response map (raises ValueError on a refused request)."""
        received_ns = time.time_ns()
        droid = robolab.is_robolab(request)  # NVIDIA's RoboLab keys in, its reply out
        if droid:
            obs = robolab.observation(request, self.embodiment, self.model)
            why = self.limiter.check_state(np.asarray(obs.state))  # the same input limits
            if why is not None:
                raise ValueError(why)
        else:
            obs = self.observation(request)  # decoding and checks: concurrently, per connection
        # The model, the projector's IK and the workspace guard's forward kinematics keep
        # state between calls (MuJoCo data): one request at a time through all of them, or
        # concurrent clients get each other's joint targets.
        with self._model_lock:
            response = self._answer(obs)
        if self.recording is not None:
            self.recording.exchange(obs, response, received_ns)
        return robolab.reply(response) if droid else response

    def _answer(self, obs: Observation) -> dict[str, Any]:
        t0 = time.perf_counter()
        chunk = self.model.policy(obs)
        infer_ms = (time.perf_counter() - t0) * 1e3
        actions = self.processor.to_absolute(chunk.actions, obs.state)
        state = np.asarray(obs.state, np.float64)
        finite = bool(np.all(np.isfinite(actions)))
        if not finite:  # answer a hold, never NaN: the layer brakes and stays at the state
            actions = np.tile(self.processor.current_action(state), (len(actions), 1))
        response: dict[str, Any] = {"dt": chunk.dt, "server_timing": {"infer_ms": infer_ms}}
        reasons: list[str] = []
        if self.processor.projector is not None or self.embodiment.action_type == "joint":
            targets = np.full((len(actions), self.embodiment.n_joints + 1), np.nan)
            q = state[: self.embodiment.n_joints]
            for k, a in enumerate(actions if finite else ()):  # not finite: NaN, the layer holds
                targets[k] = self.processor.to_joint_targets(a, q)
                if np.all(np.isfinite(targets[k, :-1])):  # a failed projection seeds nothing
                    q = targets[k, :-1]
            safe, reasons = self.limiter.limit(state, targets, chunk.dt)
            response["joint_targets"] = safe.astype(np.float32)
            if self.embodiment.action_type == "joint":
                actions = safe
        grip = np.clip(actions[:, -1], 0.0, 1.0)
        if np.any(grip != actions[:, -1]) and "gripper_clip" not in reasons:
            reasons = sorted([*reasons, "gripper_clip"])  # the projector clips it silently
        actions[:, -1] = grip
        response["actions"] = actions.astype(np.float32)
        response["safety"] = reasons
        with self._count_lock:
            for r in reasons:
                self.safety_counts[r] = self.safety_counts.get(r, 0) + 1
        return response

    def metadata_now(self) -> dict[str, Any]:
        """The handshake plus what this server refused and limited so far."""
        with self._count_lock:
            return {**self.metadata, "requests": self.requests,
                    "rejections": {"counts": dict(self.refusals), "last": self.last_refusal,
                                   "total": sum(self.refusals.values())},
                    "safety": dict(self.safety_counts)}

    def _refuse(self, conn: ServerConnection, reason: str) -> None:
        key = reason.split(":")[0]
        now = time.monotonic()
        with self._count_lock:
            count = self.refusals[key] = self.refusals.get(key, 0) + 1
            self.last_refusal = reason
            # One line per kind of refusal per interval: a storm of bad requests must not
            # flood the log (the counts and the last reason are in the metadata).
            logged = now - self._logged_at.get(key, -math.inf) >= LOG_INTERVAL_S
            if logged:
                self._logged_at[key] = now
        if logged:
            log.warning("refused request (%d %s so far): %s", count, key, reason)
        conn.send(f"refused: {reason}")

    def _handle(self, conn: ServerConnection) -> None:
        conn.send(packb(self.metadata_now()))
        try:
            for message in conn:
                if isinstance(message, str):
                    self._refuse(conn, "text frame; send msgpack binary frames")
                    continue
                try:
                    response = self.infer(unpackb(message))
                except (DecodeError, ValueError) as exc:
                    self._refuse(conn, str(exc))
                    continue
                with self._count_lock:
                    self.requests += 1
                conn.send(packb(response))
        except ConnectionClosed:
            pass


__all__ = ["PROTOCOL", "PolicyWebSocketServer", "metadata"]
