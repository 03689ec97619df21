"""Kinematics: FK -> IK -> FK round trips, the unified-action projector, the workspace guard.

The rotation helpers it uses are tested on their own in test_geometry.py."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy.embodiment import available_embodiments, load_embodiment
from cosmos_policy.geometry import matrix_from_rot6d, rot6d_from_matrix, rotation_error_deg
from cosmos_policy.kinematics import KinematicModel, KinematicProjector, workspace_guard


@pytest.mark.parametrize("name", available_embodiments())
def test_fk_ik_fk_round_trip_1000_poses(name: str) -> None:
    """p99 over 1000 random reachable poses: < 1 mm and < 0.5 deg (issue requirement)."""
    e = load_embodiment(name)
    kin = KinematicModel(e)
    rng = np.random.default_rng(42)
    pos_err, rot_err = [], []
    for i in range(1000):
        q = rng.uniform(kin.lower, kin.upper)
        pos, R = kin.fk(q)
        # Start from home or from a perturbed solution, never from the answer itself.
        start = e.home if i % 2 else np.clip(q + rng.normal(0, 0.3, e.n_joints),
                                             kin.lower, kin.upper)
        result = kin.ik(pos, R, start)
        pos2, R2 = kin.fk(result.q)
        pos_err.append(np.linalg.norm(pos2 - pos))
        rot_err.append(rotation_error_deg(R, R2))
        assert np.all(result.q >= kin.lower - 1e-9)
        assert np.all(result.q <= kin.upper + 1e-9)
    assert np.percentile(pos_err, 99) < 1e-3
    assert np.percentile(rot_err, 99) < 0.5


@pytest.mark.parametrize("name", available_embodiments())
def test_jacobian_matches_finite_differences(name: str) -> None:
    e = load_embodiment(name)
    kin = KinematicModel(e)
    q = e.home + 0.1
    J = kin.jacobian(q)
    eps = 1e-6
    for j in range(e.n_joints):
        dq = np.zeros(e.n_joints)
        dq[j] = eps
        p_plus, _ = kin.fk(q + dq)
        p_minus, _ = kin.fk(q - dq)
        np.testing.assert_allclose((p_plus - p_minus) / (2 * eps), J[:3, j], atol=1e-6)


@pytest.mark.parametrize("name", available_embodiments())
def test_projector_absolute_and_delta_agree(name: str) -> None:
    e = load_embodiment(name)
    proj = KinematicProjector(e)
    q = e.home.copy()
    current = proj.to_unified(q, 0.0)
    target = current.copy()
    target[:3] += [0.02, -0.01, -0.015]
    target[9] = 0.7
    absolute = proj.to_joint_targets(target, q, "absolute")
    delta = np.zeros(10)
    delta[:3] = [0.02, -0.01, -0.015]
    delta[3:9] = [1, 0, 0, 0, 1, 0]  # identity rotation
    delta[9] = 0.7
    from_delta = proj.to_joint_targets(delta, q, "delta")
    assert absolute.shape == (e.n_joints + 1,)
    reached = proj.kin.fk(absolute[:-1])[0]
    np.testing.assert_allclose(reached, target[:3], atol=1e-3)
    np.testing.assert_allclose(proj.kin.fk(from_delta[:-1])[0], reached, atol=1e-3)
    assert absolute[-1] == pytest.approx(0.7)


def test_projector_clamps_gripper_and_respects_joint_limits() -> None:
    e = load_embodiment("franka")
    proj = KinematicProjector(e)
    far = proj.to_unified(e.home, 0.0)
    far[:3] = [3.0, 0.0, 0.0]  # far out of reach
    far[9] = 5.0
    out = proj.to_joint_targets(far, e.home)
    assert out[-1] == 1.0
    assert np.all(out[:-1] >= e.position_limits[:, 0])
    assert np.all(out[:-1] <= e.position_limits[:, 1])


def test_projector_rejects_bad_shapes() -> None:
    proj = KinematicProjector(load_embodiment("franka"))
    with pytest.raises(ValueError, match="shape"):
        proj.to_joint_targets(np.zeros(7), np.zeros(7))


def test_five_dof_arm_gets_position_exactly_when_orientation_is_unreachable() -> None:
    """SO-100 cannot point straight down at the far edge of its area: position wins."""
    e = load_embodiment("so100")
    proj = KinematicProjector(e)
    target = np.array([0.25, 0.1, 0.02, 1, 0, 0, 0, -1, 0, 0.0])
    q = proj.to_joint_targets(target, e.home)
    pos, R = proj.kin.fk(q[:-1])
    assert np.linalg.norm(pos - target[:3]) < 1e-3
    assert rotation_error_deg(R, matrix_from_rot6d(target[3:9])) < 45.0


@pytest.mark.parametrize("name", ["franka", "ur5e"])
def test_projector_delta_rotation_is_applied_on_the_left(name: str) -> None:
    """A delta of R_d reaches R_d @ R_current, the same as the absolute action for it."""
    e = load_embodiment(name)
    proj = KinematicProjector(e)
    q = e.home.copy()
    pos, R = proj.kin.fk(q)
    angle = np.radians(10.0)
    Rd = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                   [0, 0, 1]])
    delta = np.concatenate([[0.01, 0.0, 0.0], rot6d_from_matrix(Rd), [0.0]])
    absolute = np.concatenate([pos + [0.01, 0.0, 0.0], rot6d_from_matrix(Rd @ R), [0.0]])
    for action, rep in ((delta, "delta"), (absolute, "absolute")):
        reached_pos, reached_R = proj.kin.fk(proj.to_joint_targets(action, q, rep)[:-1])
        np.testing.assert_allclose(reached_pos, pos + [0.01, 0.0, 0.0], atol=1e-3)
        assert rotation_error_deg(reached_R, Rd @ R) < 0.5
    assert rotation_error_deg(R, Rd @ R) == pytest.approx(10.0)


@pytest.mark.parametrize("name", available_embodiments())
def test_warm_started_ik_is_fast(name: str) -> None:
    """Control-loop use: small steps from the current q. Measured ~0.1 ms; bound 2 ms."""
    import time

    e = load_embodiment(name)
    proj = KinematicProjector(e)
    q = e.home.copy()
    start = proj.to_unified(q, 0.0)
    times = []
    for k in range(200):
        action = start.copy()
        action[:3] += [0.03 * np.sin(0.05 * k), 0.03 * np.sin(0.07 * k), -0.02 * np.sin(0.03 * k)]
        t0 = time.perf_counter()
        q = proj.to_joint_targets(action, q)[:-1]
        times.append(time.perf_counter() - t0)
        assert np.linalg.norm(proj.kin.fk(q)[0] - action[:3]) < 1e-3
    assert np.median(times) < 2e-3


def test_ik_slides_along_joint_limits_instead_of_stopping_at_them() -> None:
    """One descent (no restarts) from a perturbed start: joints pushed into a limit are held
    and the others take up the motion (clipping the step instead converged on 288/300)."""
    e = load_embodiment("franka")
    kin = KinematicModel(e)
    rng = np.random.default_rng(5)
    reached = 0
    for _ in range(300):
        q_goal = rng.uniform(kin.lower, kin.upper)
        start = np.clip(q_goal + rng.normal(0.0, 0.3, e.n_joints), kin.lower, kin.upper)
        pos, R = kin.fk(q_goal)
        result = kin.ik(pos, R, start, restarts=0)
        assert np.all(result.q <= kin.upper)
        assert np.all(result.q >= kin.lower)
        reached += result.converged
    assert reached >= 296


def test_workspace_guard_gives_the_tool_position_and_a_reach_that_bounds_it() -> None:
    e = load_embodiment("franka")
    fk, reach = workspace_guard(e)
    kin = KinematicModel(e)
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.uniform(kin.lower, kin.upper)
        np.testing.assert_allclose(fk(q), kin.fk(q)[0], atol=1e-12)
        # A small joint step moves the tool by at most sum_i reach_i |dq_i|.
        dq = rng.normal(0.0, 0.01, e.n_joints)
        moved = np.linalg.norm(fk(np.clip(q + dq, kin.lower, kin.upper)) - fk(q))
        assert moved <= reach @ np.abs(dq) + 1e-9
    assert reach.shape == (e.n_joints,)
    assert np.all(reach > 0)
