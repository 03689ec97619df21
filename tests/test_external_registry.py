"""The external-suite registry and helpers; needs neither robosuite nor gymnasium-robotics."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from cosmos_policy.errors import SpecError, UnknownNameError, UserError
from cosmos_policy.sim.external import EXTERNAL_TASKS, make_external_env
from cosmos_policy.sim.external import _common as C
from cosmos_policy.sim.external.experts import EXPERTS


def _rodrigues(rotvec: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def test_registry_names_and_experts_match() -> None:
    expected = {"fetch/Reach", "fetch/Push", "fetch/PickAndPlace"}
    expected |= {"robosuite/Lift", "robosuite/Stack"}
    assert set(EXTERNAL_TASKS) == expected
    assert set(EXPERTS) == expected
    for task in EXTERNAL_TASKS.values():
        assert task.prompt.strip()
        assert task.max_episode_steps > 0


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="fetch/Push.*robosuite/Lift"):
        make_external_env("fetch_teleport")


def test_missing_suite_names_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "robosuite", None)  # makes `import robosuite` fail
    with pytest.raises(UserError, match="--no-deps"):
        make_external_env("robosuite/Lift", cameras=())
    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)
    with pytest.raises(UserError, match="gymnasium-robotics"):
        make_external_env("fetch/Reach", cameras=())


@pytest.mark.parametrize("angle", [0.0, 0.3, 2.0, np.pi - 1e-4, np.pi])
def test_rotvec_round_trip(angle: float) -> None:
    rng = np.random.default_rng(int(angle * 1000))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    R = _rodrigues(axis * angle)
    rv = C.rotvec_from_matrix(R)
    np.testing.assert_allclose(_rodrigues(rv), R, atol=1e-6)
    assert np.linalg.norm(rv) == pytest.approx(angle, abs=1e-6)


def test_rot6d_round_trip_and_pose9() -> None:
    R = _rodrigues(np.array([0.2, -0.5, 1.0]))
    p9 = C.pose9(np.array([0.1, 0.2, 0.3]), R)
    assert p9.dtype == np.float32
    assert p9.shape == (9,)
    np.testing.assert_allclose(C.rot_from_6d(p9[3:9]), R, atol=1e-6)
    # A non-orthonormal 6-D input still gives a rotation.
    Rn = C.rot_from_6d(np.array([2.0, 0, 0, 0.5, 1.0, 0]))
    np.testing.assert_allclose(Rn.T @ Rn, np.eye(3), atol=1e-9)
    assert np.linalg.det(Rn) == pytest.approx(1.0)


def test_check_action_and_image_size() -> None:
    with pytest.raises(SpecError, match="shape"):
        C.check_action(np.zeros(7))
    with pytest.raises(SpecError, match="NaN"):
        C.check_action(np.full(10, np.nan))
    assert C.image_hw(None) == C.DEFAULT_IMAGE_SIZE
    assert C.image_hw(64) == (64, 64)
    assert C.image_hw((48, 80)) == (48, 80)
    with pytest.raises(UserError):
        C.image_hw((0, 10))


def test_pose_in_base_inverts_base_transform() -> None:
    base_rot = _rodrigues(np.array([0, 0, np.pi / 2]))
    base_pos = np.array([1.0, 2.0, 0.5])
    pos, rot = C.pose_in_base(base_pos, base_rot, base_pos + base_rot @ [0.3, 0, 0], base_rot)
    np.testing.assert_allclose(pos, [0.3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(rot, np.eye(3), atol=1e-12)
    assert C.closure(0.0, 0.08) == 1.0
    assert C.closure(0.08, 0.08) == 0.0
