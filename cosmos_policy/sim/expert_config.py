"""The scripted experts' settings: motion limits and heights, how far off its own path a
state still counts as a manoeuvre under way (DAgger labels), and what a label starts from
(``feedback``). :mod:`cosmos_policy.sim.experts` holds the experts themselves."""

from __future__ import annotations

from dataclasses import dataclass

from cosmos_policy.errors import UnknownNameError

FEEDBACK = ("command", "state")  # ExpertConfig.feedback


@dataclass(frozen=True)
class ExpertConfig:
    """Motion limits and heights of the scripted experts (m, m/s, m/s^2, rad/s)."""

    fast: float = 0.35
    slow: float = 0.12
    accel: float = 1.5
    yaw_rate: float = 2.0
    hover: float = 0.10  # above the cube centre before descending
    carry_z: float = 0.14  # tcp height while carrying
    push_back: float = 0.075  # pusher start behind the cube centre
    push_z: float = 0.022  # tcp height while pushing
    push_home: float = 0.012  # cube centre to region centre (m) at which pushing stops
    push_near: float = 0.04  # closer than this (m) the push slows down (the cube slides on)
    push_over_cube: bool = False  # the way to the push start passes above the cube
    push_lateral: float = 0.02  # tcp off the cube's line to the region (m): stop, re-align
    tol: float = 0.012  # tcp reached target
    # A state the expert did not drive to (a policy's, labelled for DAgger: phase_from_state)
    # counts as its manoeuvre under way within these offsets; beyond them the label starts the
    # manoeuvre over (lift, go back above). The defaults are the expert's own entry conditions.
    label_push_lateral: float = 0.02  # tcp off the push line: still pushing (steering back)
    label_grasp_xy: float = 0.012  # tcp to cube centre at the cube's height: close
    label_descend_xy: float = 0.015  # above the cube, open: descend (towards its centre)
    label_descend_yaw: float = 0.05  # jaw to cube faces (rad), for descending
    # What :meth:`Expert.label` starts its step from: ``command``, the commanded pose read back
    # from the env's last joint targets and the tool's measured velocity (what a controller
    # that remembers its command knows), or ``state``, the measured pose, moving at the speed
    # its trapezoidal profile has at that distance from the target (a velocity field: what a
    # model that sees joint positions and no velocity can reproduce).
    feedback: str = "command"
    # feedback="state": the command leads the measured pose by this many steps of the velocity
    # field. More keeps the planning expert's pace when it drives the env directly (pick_place
    # median 47 and 57 steps on franka and ur5e at 2, 81 and 98 at 1, the plan's 58 and 61) but
    # the loop gain with it: through eval's runtime (50 ms latency, chunks cross-faded) the arm
    # swings round the plate and the phases flap (franka: seeds 0-2 0/3 at 2; seeds 0-3 3/4 at
    # 1.5, 4/4 at 1; benchmarks/expert_success.py --runtime)
    state_lead: float = 1.0
    # feedback="state": a target height within this of the tool's (m) is commanded exactly, as
    # the planning expert's command holds it: a command a step ahead of the measured pusher
    # presses the cube too lightly and rides up it (push on ur5e, seeds 2000-2019: 13/20
    # without, 20/20 with; franka and so100 20/20)
    state_hold_z: float = 0.02

    def __post_init__(self) -> None:
        if self.feedback not in FEEDBACK:
            raise UnknownNameError("expert feedback", self.feedback, list(FEEDBACK))
        if not 0.5 <= self.state_lead <= 5.0:
            raise ValueError(f"state_lead: expected 0.5 to 5 steps, got {self.state_lead}")


# The widest offsets from which the expert's own manoeuvre still succeeds, measured with
# benchmarks/expert_tolerance.py (6 episodes per cell and arm, franka and ur5e; docs/DAGGER.md):
# jaws closed up to 2 cm beside the cube's centre and 0.3 rad off its faces lifted it 48/48
# (2.5 cm: 16/24, 3 cm: 5/24); a push begun 3 cm off the line and let go on to 4.5 cm won
# 11/12 (the strict expert lifts off at 2 cm to re-align).
TOLERANT = {"push_lateral": 0.045, "label_push_lateral": 0.03, "label_grasp_xy": 0.018,
            "label_descend_xy": 0.025, "label_descend_yaw": 0.3}
LABELS = ("strict", "tolerant")


def label_config(labels: str, feedback: str = "command") -> ExpertConfig:
    """The expert's config for DAgger labels: ``strict`` (its own entry conditions) or
    ``tolerant`` (:data:`TOLERANT`: a policy's state within what the expert's manoeuvre
    survives is labelled as that manoeuvre going on, corrected, instead of starting over);
    ``feedback``: see :class:`ExpertConfig`."""
    if labels not in LABELS:
        raise UnknownNameError("label tolerance", labels, list(LABELS))
    return ExpertConfig(**(TOLERANT if labels == "tolerant" else {}), feedback=feedback)
