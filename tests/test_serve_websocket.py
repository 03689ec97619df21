"""WebSocket + msgpack server on 127.0.0.1: metadata handshake, a round trip, refusals;
the msgpack codec never unpickles."""

from __future__ import annotations

import pickle
import time

import msgpack
import numpy as np
import pytest
from websockets.sync.client import connect

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.policy.stand_ins import RandomWalkModel
from cosmos_policy.serve.node_core import default_projector
from cosmos_policy.serve.websocket_server import PROTOCOL, PolicyWebSocketServer
from cosmos_policy.serve.wire_msgpack import DecodeError, packb, unpackb

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server():
    emb = load_embodiment("franka")
    proj = default_projector(emb)
    srv = PolicyWebSocketServer(emb, RandomWalkModel(emb, proj, seed=0), port=0,
                                projector=proj).start()
    yield srv
    srv.close()


def _obs(seed=0, **over):
    rng = np.random.default_rng(seed)
    emb = load_embodiment("franka")
    obs = {"images": {c.name: rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
                      for c in emb.cameras},
           "state": np.append(emb.home, 0.0).astype(np.float32),
           "prompt": "reach the red cube"}
    obs.update(over)
    return obs


def test_round_trip_with_metadata(server):
    with connect(f"ws://127.0.0.1:{server.port}", open_timeout=5) as ws:
        meta = unpackb(ws.recv(timeout=5))
        assert meta["protocol"] == PROTOCOL
        assert meta["embodiment"] == "franka"
        assert meta["observation"]["images"]["front"]["shape"] == [128, 128, 3]
        assert meta["observation"]["state"]["shape"] == [8]
        assert meta["action"]["dim"] == 10
        t0 = time.perf_counter()
        ws.send(packb(_obs()))
        reply = unpackb(ws.recv(timeout=30))
        round_trip_ms = (time.perf_counter() - t0) * 1e3
        assert reply["actions"].shape == (16, 10)
        assert reply["actions"].dtype == np.float32
        assert reply["joint_targets"].shape == (16, 8)
        assert np.all(np.isfinite(reply["joint_targets"]))
        # The server times the model call alone, in milliseconds: inside the round trip.
        assert 0 < reply["server_timing"]["infer_ms"] < round_trip_ms


@pytest.mark.parametrize(("payload", "needle"), [
    (b"\xc1garbage", "not msgpack"),
    ("a text frame", "text frame"),
    (lambda: packb(_obs(state=np.zeros(3, np.float32))), "state"),
    (lambda: packb(_obs(prompt="")), "empty_prompt"),
    (lambda: packb(_obs(prompt="x" * 600)), "huge_prompt"),
    (lambda: packb(_obs(images={"front": np.zeros((64, 64, 3), np.uint8)})), "cameras"),
    (lambda: msgpack.packb({"images": {b"__ndarray__": True, b"data": b"\x00",
                                       b"dtype": "|O", b"shape": [1]}}), "refused"),
    (lambda: msgpack.packb(msgpack.ExtType(42, pickle.dumps(1))), "ext type"),
])
def test_malformed_requests_are_refused_and_connection_survives(server, payload, needle):
    data = payload() if callable(payload) else payload
    with connect(f"ws://127.0.0.1:{server.port}", open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.send(data)
        answer = ws.recv(timeout=10)
        assert isinstance(answer, str)
        assert answer.startswith("refused")
        assert needle in answer
        ws.send(packb(_obs()))  # still serving on the same connection
        assert "actions" in unpackb(ws.recv(timeout=30))


def test_codec_round_trip_and_checks():
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.uint8(7),
              "c": np.array([True, False])}
    back = unpackb(packb(arrays))
    assert np.array_equal(back["a"], arrays["a"])
    assert back["a"].dtype == np.float32
    assert back["b"] == 7
    assert back["c"].dtype == bool
    short = msgpack.packb({b"__ndarray__": True, b"data": b"\x00" * 5, b"dtype": "<f4",
                           b"shape": [2]})
    with pytest.raises(DecodeError, match="expected 8 bytes"):
        unpackb(short)
    with pytest.raises(TypeError):
        packb(np.array([object()]))
