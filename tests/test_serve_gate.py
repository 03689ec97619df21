"""The silent-robot gate every server shell puts before its transport (serve/shell.py): hold
commands at rest are withheld from a robot whose joint states fell silent, until one of its
states is accepted and fresh again. No DDS or ROS needed: a recording wire stands in."""

from __future__ import annotations

import time

import numpy as np

from cosmos_policy.runtime import SentCommand
from cosmos_policy.serve.shell import SilentRobotGate


class Wire:
    """A transport that keeps what it is sent and when it last saw a joint state."""

    def __init__(self) -> None:
        self.sent: list = []
        self.joint_states_seen: float | None = None

    def send(self, command) -> None:
        self.sent.append(command)


def _gate() -> tuple[Wire, list[bool], SilentRobotGate]:
    """A gate on a recording wire; ``fresh[0]`` says whether the newest state is fresh."""
    wire, fresh = Wire(), [False]
    return wire, fresh, SilentRobotGate(wire, silent_s=0.2, state_fresh=lambda: fresh[0])


def cmd(v: float, *reasons: str) -> SentCommand:
    return SentCommand(0.0, np.zeros(8), np.full(7, v), reasons)


def test_the_gate_sends_nothing_more_to_a_silent_robot_once_braked() -> None:
    wire, fresh, gate = _gate()
    wire.joint_states_seen = time.monotonic() - 1.0  # silent for a second
    for c in (cmd(0.5), cmd(0.1, "hold:stale_state"), cmd(0.0, "hold:stale_state"),
              cmd(0.0, "hold:stale_state"), cmd(0.0, "hold:estop")):
        gate.send(c)
    # The braking commands and the first at rest went out; the rest were withheld.
    assert [c.velocities[0] for c in wire.sent] == [0.5, 0.1, 0.0]
    assert gate.withheld == 2
    wire.joint_states_seen = time.monotonic()  # talking again, but refused: still gone
    gate.send(cmd(0.0, "hold:stale_state"))
    assert len(wire.sent) == 3
    fresh[0] = True  # a state accepted: holds reach the robot again
    gate.send(cmd(0.0, "hold:estop"))
    assert len(wire.sent) == 4
    # A robot that keeps talking (a NaN storm: every state refused) keeps getting holds.
    for _ in range(3):
        fresh[0] = False
        gate.send(cmd(0.0, "hold:stale_state"))
    assert len(wire.sent) == 7


def test_a_hold_computed_before_the_robot_came_back_is_not_sent() -> None:
    """The race the rclpy test once hit: the loop computes a hold for stale joint states (at
    the old pose), the returning robot's first state is accepted before that hold reaches
    the gate; the gate must not send it (the driver would take the old pose as its target)
    but the next command, computed from the new state."""
    wire, fresh, gate = _gate()
    wire.joint_states_seen = time.monotonic() - 1.0  # silent for a second
    for c in (cmd(0.1, "hold:stale_state"), cmd(0.0, "hold:stale_state"),
              cmd(0.0, "hold:stale_state")):
        gate.send(c)
    assert len(wire.sent) == 2  # braked, at rest, ...
    assert gate.withheld == 1  # ... then withheld
    wire.joint_states_seen, fresh[0] = time.monotonic(), True  # the robot is back ...
    gate.send(cmd(0.0, "hold:stale_state"))  # ... after this hold was computed
    assert len(wire.sent) == 2
    assert gate.withheld == 2
    gate.send(cmd(0.0, "hold:stale_observation"))  # from the new state: frames not yet back
    assert len(wire.sent) == 3
