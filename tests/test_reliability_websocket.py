"""WebSocket replies pass the safety layer (issue #25), with a real websocket client
speaking the openpi-client protocol (msgpack numpy frames, metadata first, text = refusal)."""

from __future__ import annotations

import numpy as np
import pytest
from websockets.sync.client import connect

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.kinematics import workspace_guard
from cosmos_policy.policy.stand_ins import RandomWalkModel
from cosmos_policy.runtime import SafetyConfig
from cosmos_policy.serve.node_core import default_projector
from cosmos_policy.serve.websocket_server import PolicyWebSocketServer
from cosmos_policy.serve.wire_msgpack import packb, unpackb
from cosmos_policy.spec import ActionChunk

pytestmark = pytest.mark.timeout(120)
EMB = load_embodiment("franka")
N = EMB.n_joints


class Rewritten:
    """A model whose chunks are rewritten by ``fn`` (a faulty or hostile model)."""

    def __init__(self, base, fn) -> None:
        self.base, self.fn = base, fn

    def policy(self, obs):
        c = self.base.policy(obs)
        return ActionChunk(actions=self.fn(np.array(c.actions)), timestamp=c.timestamp, dt=c.dt)

    def reset(self) -> None:
        self.base.reset()


def wild(actions: np.ndarray) -> np.ndarray:
    actions[:, 0] += np.linspace(0.0, 1.5, len(actions))  # 1.5 m away within one chunk
    actions[:, 2] -= 1.0  # through the table
    actions[:, -1] = 5.0  # a gripper opening of 5
    return actions


@pytest.fixture(scope="module")
def projector():
    return default_projector(EMB)


def _server(projector, fn=None) -> PolicyWebSocketServer:
    model = RandomWalkModel(EMB, projector, seed=0)
    if fn is not None:
        model = Rewritten(model, fn)
    return PolicyWebSocketServer(EMB, model, port=0, projector=projector).start()


def _obs(state=None) -> dict:
    rng = np.random.default_rng(0)
    state = np.append(EMB.home, 0.5).astype(np.float32) if state is None else state
    return {"images": {c.name: rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
                       for c in EMB.cameras},
            "state": np.asarray(state, np.float32), "prompt": "reach the red cube"}


def _ask(port: int, obs: dict):
    with connect(f"ws://127.0.0.1:{port}", open_timeout=10) as ws:
        unpackb(ws.recv(timeout=10))
        ws.send(packb(obs))
        answer = ws.recv(timeout=60)
    return answer if isinstance(answer, str) else unpackb(answer)


def test_a_wild_chunk_comes_back_inside_every_limit(projector):
    server = _server(projector, wild)
    try:
        state = np.append(EMB.home, 0.5)
        reply = _ask(server.port, _obs(state))
    finally:
        server.close()
    q = reply["joint_targets"].astype(np.float64)
    dt = reply["dt"]
    assert np.all(np.isfinite(q))
    lim = EMB.position_limits
    assert np.all(q[:, :N] >= lim[:, 0] - 1e-6)
    assert np.all(q[:, :N] <= lim[:, 1] + 1e-6)
    assert np.all(q[:, N] >= 0.0)
    assert np.all(q[:, N] <= 1.0)
    assert np.all(reply["actions"][:, -1] <= 1.0)
    path = np.vstack([state[:N], q[:, :N]])
    v = np.vstack([np.zeros(N), np.diff(path, axis=0) / dt])  # from the state, at rest
    cfg = SafetyConfig.from_embodiment(EMB)
    assert np.all(np.abs(v) <= cfg.velocity + 1e-4)
    assert np.all(np.abs(np.diff(v, axis=0)) / dt <= cfg.accel + 1e-3)
    fk, _ = workspace_guard(EMB)
    for row in q:
        p = fk(row[:N])
        assert np.all(p >= EMB.workspace_low - 1e-3)
        assert np.all(p <= EMB.workspace_high + 1e-3)
    assert "gripper_clip" in reply["safety"]
    assert reply["safety"]


def test_a_non_finite_chunk_is_answered_with_a_hold(projector):
    server = _server(projector, lambda a: np.full_like(a, np.nan))
    try:
        state = np.append(EMB.home, 0.25)
        reply = _ask(server.port, _obs(state))
    finally:
        server.close()
    assert "hold:non_finite" in reply["safety"]
    assert np.all(np.isfinite(reply["joint_targets"]))
    assert np.all(np.isfinite(reply["actions"]))
    np.testing.assert_allclose(reply["joint_targets"][:, :N], np.tile(EMB.home, (16, 1)),
                               atol=1e-6)


def test_an_untouched_chunk_is_answered_as_planned(projector):
    """A calm chunk from rest: the layer changes nothing beyond its speed limits."""
    server = _server(projector)
    try:
        reply = _ask(server.port, _obs())
    finally:
        server.close()
    assert reply["joint_targets"].shape == (16, N + 1)
    assert "hold:non_finite" not in reply["safety"]
    assert "gripper_clip" not in reply["safety"]


@pytest.mark.parametrize(("joint", "value", "needle"), [
    (0, 1e30, "joint1 = 1e+30 outside its limits"),
    (3, np.nan, "non-finite value for joint4"),
    (N, 5.0, "gripper opening 5 outside [0, 1]"),
    (N, np.inf, "non-finite value for gripper"),
])
def test_out_of_range_states_are_refused_with_the_reason(projector, joint, value, needle):
    server = _server(projector)
    try:
        state = np.append(EMB.home, 0.0)
        state[joint] = value
        answer = _ask(server.port, _obs(state))
        good = _ask(server.port, _obs())
        meta = _handshake(server.port)
    finally:
        server.close()
    assert isinstance(answer, str)
    assert answer.startswith("refused")
    assert needle in answer
    assert "joint_targets" in good  # the server keeps serving
    assert meta["rejections"]["total"] == 1
    assert needle in meta["rejections"]["last"]
    assert meta["requests"] == 1


def _handshake(port: int) -> dict:
    with connect(f"ws://127.0.0.1:{port}", open_timeout=10) as ws:
        return unpackb(ws.recv(timeout=10))
