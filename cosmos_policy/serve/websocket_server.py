"""A WebSocket + msgpack policy server speaking openpi's client protocol.

On connect the server sends one binary frame: the metadata (``protocol``, embodiment,
observation and action specs, action rate). Then, per request, the client sends a msgpack
map (arrays as in :mod:`cosmos_policy.serve.wire_msgpack`)::

    {"images": {camera: uint8 (H, W, 3)}, "state": float32 (n + 1,), "prompt": str,
     "timestamp": float (optional)}

and receives ``{"actions": float32 (T, D), "joint_targets": float32 (T, n + 1) | absent,
"dt": float, "server_timing": {"infer_ms": float}}``: absolute actions in the embodiment's
action space, the chunk's first action one ``dt`` after the observation. A malformed or
refused request gets a *text* frame naming what was wrong (openpi clients raise on a text
frame) and the connection stays open. Nothing is ever unpickled.
"""

from __future__ import annotations

import logging
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
from cosmos_policy.serve.node_core import check_prompt
from cosmos_policy.serve.wire_msgpack import MAX_MESSAGE_BYTES, DecodeError, packb, unpackb
from cosmos_policy.spec import Observation, WorldActionModel

log = logging.getLogger("cosmos_policy.serve")

PROTOCOL = "cosmos-policy/ws-msgpack/1"


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
    """Serves one model to any number of clients (requests run one at a time)."""

    def __init__(self, embodiment: Embodiment, model: WorldActionModel, *,
                 host: str = "127.0.0.1", port: int = 8000,
                 projector: object | None = None) -> None:
        self.embodiment, self.model, self.host = embodiment, model, host
        self.processor = ActionProcessor(embodiment, projector)
        self.metadata = metadata(embodiment)
        self.spec = embodiment.observation_spec()
        self._model_lock = threading.Lock()
        self.refusals: dict[str, int] = {}
        self.requests = 0
        self._server = serve(self._handle, host, port, max_size=MAX_MESSAGE_BYTES,
                             compression=None)
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
        droid = robolab.is_robolab(request)  # NVIDIA's RoboLab keys in, its reply out
        obs = (robolab.observation(request, self.embodiment, self.model) if droid
               else self.observation(request))
        t0 = time.perf_counter()
        with self._model_lock:
            chunk = self.model.policy(obs)
        infer_ms = (time.perf_counter() - t0) * 1e3
        actions = self.processor.to_absolute(chunk.actions, obs.state)
        response: dict[str, Any] = {"actions": actions.astype(np.float32), "dt": chunk.dt,
                                    "server_timing": {"infer_ms": infer_ms}}
        if self.processor.projector is not None or self.embodiment.action_type == "joint":
            q = np.asarray(obs.state[: self.embodiment.n_joints], np.float64)
            targets = []
            for a in actions:
                t = self.processor.to_joint_targets(a, q)
                q = t[:-1]
                targets.append(t)
            response["joint_targets"] = np.asarray(targets, np.float32)
        return robolab.reply(response) if droid else response

    def _refuse(self, conn: ServerConnection, reason: str) -> None:
        key = reason.split(":")[0]
        self.refusals[key] = self.refusals.get(key, 0) + 1
        log.warning("refused request: %s", reason)
        conn.send(f"refused: {reason}")

    def _handle(self, conn: ServerConnection) -> None:
        conn.send(packb(self.metadata))
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
                self.requests += 1
                conn.send(packb(response))
        except ConnectionClosed:
            pass


__all__ = ["PROTOCOL", "PolicyWebSocketServer", "metadata"]
