"""``serve --transport websocket`` answering NVIDIA's RoboLab/RoboArena DROID requests.

Protocol as NVIDIA's published DROID policy server speaks it (openpi's WebSocket + msgpack):
observation keys ``observation/{image | wrist_image_left, exterior_image_1_left,
exterior_image_2_left}``, ``observation/joint_position`` (7), ``observation/gripper_position``
(closedness, flipped to the model and back), ``prompt``; reply ``{"action": (chunk, 8)}``.
Driven by openpi's own client when it is installed, else by the same framing by hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from websockets.sync.client import connect

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.policy.stand_ins import RandomWalkModel
from cosmos_policy.serve.node_core import default_projector
from cosmos_policy.serve.websocket_server import PolicyWebSocketServer
from cosmos_policy.serve.wire_msgpack import packb, unpackb
from cosmos_policy.spec import ActionChunk, Observation

pytestmark = pytest.mark.timeout(300)
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


class CanvasPolicy:
    """A stand-in for a Cosmos 3 policy checkpoint: takes the canvas, returns 32 joint rows
    (the state plus 0.01 rad per step on joint 1, the gripper opening as given)."""

    consumes_canvas = True

    def __init__(self) -> None:
        self.seen: list[Observation] = []

    def policy(self, obs: Observation) -> ActionChunk:
        self.seen.append(obs)
        rows = np.repeat(np.asarray(obs.state, np.float32)[None], 32, axis=0)
        rows[:, 0] += 0.01 * np.arange(1, 33)
        return ActionChunk(actions=rows, timestamp=obs.timestamp, dt=1 / 15)

    def forward_dynamics(self, obs, actions):  # pragma: no cover - not served
        raise NotImplementedError

    def inverse_dynamics(self, frames, state, prompt=""):  # pragma: no cover
        raise NotImplementedError

    def reset(self) -> None:
        pass


def solid(colour, h=180, w=320) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (h, w, 3)).copy()


def droid_request(**over) -> dict:
    req = {"observation/wrist_image_left": solid(RED),
           "observation/exterior_image_1_left": solid(GREEN),
           "observation/exterior_image_2_left": solid(BLUE),
           "observation/joint_position": HOME.copy(),
           "observation/gripper_position": np.array([0.2]),
           "prompt": "put the marker in the cup"}
    req.update(over)
    return req


@pytest.fixture(scope="module")
def joint_franka():
    return dataclasses.replace(load_embodiment("franka"), action_type="joint")


@pytest.fixture
def canvas_server(joint_franka):
    model = CanvasPolicy()
    srv = PolicyWebSocketServer(joint_franka, model, port=0).start()
    yield srv, model
    srv.close()


def ask(port: int, request: dict):
    with connect(f"ws://127.0.0.1:{port}", open_timeout=5, compression=None) as ws:
        unpackb(ws.recv(timeout=5))  # the metadata frame
        ws.send(packb(request))
        answer = ws.recv(timeout=120)
    return answer if isinstance(answer, str) else unpackb(answer)


def test_droid_keys_in_action_out(canvas_server) -> None:
    srv, model = canvas_server
    reply = ask(srv.port, droid_request())
    assert set(reply) >= {"action"}
    action = reply["action"]
    assert action.shape == (32, 8)
    assert action.dtype == np.float32
    # joints as the model gave them (absolute), gripper back in DROID's closedness
    np.testing.assert_allclose(action[:, 0], 0.01 * np.arange(1, 33), atol=1e-6)
    np.testing.assert_allclose(action[:, 1:7], np.tile(HOME[1:], (32, 1)), atol=1e-6)
    np.testing.assert_allclose(action[:, 7], 0.2, atol=1e-6)
    obs = model.seen[-1]
    assert obs.state[7] == pytest.approx(0.8)  # 0.2 closed -> 0.8 open, to the model
    canvas = obs.images["concat_view"]
    assert canvas.shape == (540, 640, 3)
    assert np.all(canvas[:360] == RED)
    assert np.all(canvas[360:, :320] == GREEN)
    assert np.all(canvas[360:, 320:] == BLUE)


def test_a_ready_canvas_and_history_rows_are_accepted(canvas_server) -> None:
    srv, model = canvas_server
    canvas = solid(GREEN, 540, 640)
    req = droid_request(**{"observation/image": canvas,
                           "observation/joint_position": np.stack([HOME * 0, HOME]),
                           "observation/gripper_position": np.array([[1.0], [0.0]])})
    for k in ("observation/wrist_image_left", "observation/exterior_image_1_left",
              "observation/exterior_image_2_left"):
        req.pop(k)
    reply = ask(srv.port, req)
    assert reply["action"].shape == (32, 8)
    np.testing.assert_array_equal(model.seen[-1].images["concat_view"], canvas)
    np.testing.assert_allclose(model.seen[-1].state, [*HOME, 1.0], atol=1e-6)  # last rows


@pytest.mark.parametrize(("change", "needle"), [
    ({"observation/joint_position": np.zeros(3)}, "joint_position"),
    ({"observation/gripper_position": np.array([np.nan])}, "gripper_position"),
    ({"prompt": ""}, "empty_prompt"),
    ({"observation/wrist_image_left": np.zeros((4, 4), np.uint8)}, "wrist_image_left"),
])
def test_bad_droid_requests_are_refused_in_one_line(canvas_server, change, needle) -> None:
    srv, _ = canvas_server
    answer = ask(srv.port, droid_request(**change))
    assert isinstance(answer, str)
    assert needle in answer


def test_a_camera_model_gets_the_views_as_its_cameras() -> None:
    emb = load_embodiment("franka")  # ee_pose: the projector gives the joint rows
    proj = default_projector(emb)
    srv = PolicyWebSocketServer(emb, RandomWalkModel(emb, proj, seed=0), port=0,
                                projector=proj).start()
    try:
        reply = ask(srv.port, droid_request())
        assert reply["action"].shape == (16, 8)
        assert np.all(np.isfinite(reply["action"]))
        req = droid_request(**{"observation/image": solid(RED, 540, 640)})
        for k in ("observation/wrist_image_left", "observation/exterior_image_2_left"):
            req.pop(k)
        assert "camera views" in ask(srv.port, req)
    finally:
        srv.close()


def test_openpi_client_runs_unchanged(canvas_server) -> None:
    client_mod = pytest.importorskip("openpi_client.websocket_client_policy",
                                     reason="openpi-client (needs numpy<2) not installed")
    srv, _ = canvas_server
    client = client_mod.WebsocketClientPolicy(host="127.0.0.1", port=srv.port)
    out = client.infer(droid_request())
    assert out["action"].shape == (32, 8)
    np.testing.assert_allclose(out["action"][:, 7], 0.2, atol=1e-6)


def test_a_tiny_policy_checkpoint_served_with_droid_keys(tmp_path, joint_franka) -> None:
    pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos3_omni")
    from cosmos_policy.models.cosmos3_policy import load_policy
    from cosmos_policy.models.cosmos3_policy_testing import TINY_POLICY, tiny_policy_checkpoint
    from cosmos_policy.models.cosmos3_use import Cosmos3Options

    folder = tiny_policy_checkpoint(tmp_path / "policy")
    model = load_policy(folder, joint_franka, Cosmos3Options(dtype="float32", device="cpu"))
    srv = PolicyWebSocketServer(joint_franka, model, port=0).start()
    try:
        reply = ask(srv.port, droid_request())
    finally:
        srv.close()
    assert reply["action"].shape == (TINY_POLICY.chunk_size, 8)  # the state row trimmed
    assert np.all(np.isfinite(reply["action"]))
