"""One prompt length limit: every entry point accepts exactly spec.MAX_PROMPT_CHARS."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.errors import SpecError
from cosmos_policy.serve.node_core import check_prompt
from cosmos_policy.serve.websocket_server import metadata
from cosmos_policy.sim.env import TabletopEnv
from cosmos_policy.sim.external import _common
from cosmos_policy.spec import MAX_PROMPT_CHARS, Observation
from cosmos_policy.transport import msgs
from cosmos_policy.transport.convert import prompt_from_msg
from cosmos_policy.transport.rejection import WireRejection

LONGEST, TOO_LONG = "x" * MAX_PROMPT_CHARS, "x" * (MAX_PROMPT_CHARS + 1)


def test_the_limit_is_the_documented_512() -> None:
    assert MAX_PROMPT_CHARS == 512  # docs/ROS2_WIRE.md and the WebSocket handshake say so


def test_observations_and_every_transport_accept_the_same_longest_prompt() -> None:
    emb = load_embodiment("franka")
    spec = emb.observation_spec()
    images = {c: np.zeros(s.shape, np.uint8) for c, s in spec.images.items()}
    state = np.zeros(emb.state_dim, np.float32)
    Observation(images, state, LONGEST, 0.0).validate(spec)
    with pytest.raises(SpecError, match="at most"):
        Observation(images, state, TOO_LONG, 0.0).validate(spec)
    assert check_prompt(LONGEST) is None
    assert check_prompt(TOO_LONG) == "huge_prompt"
    assert prompt_from_msg(msgs.String(LONGEST)) == LONGEST
    with pytest.raises(WireRejection):
        prompt_from_msg(msgs.String(TOO_LONG))
    assert str(MAX_PROMPT_CHARS) in metadata(emb)["observation"]["prompt"]


def test_simulator_observation_spaces_use_the_same_limit() -> None:
    env = TabletopEnv("reach", "franka", cameras=())
    try:
        assert env.observation_space["prompt"].max_length == MAX_PROMPT_CHARS
    finally:
        env.close()
    space = _common.observation_space(["front"], (8, 8), 7)
    assert space["prompt"].max_length == MAX_PROMPT_CHARS
