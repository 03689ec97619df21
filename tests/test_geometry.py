"""cosmos_policy.geometry against independent values: hand-derived rotations and poses, and
scipy's Rotation (an independent implementation) where scipy is installed."""

from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy import geometry as G

S = np.sqrt(0.5)
# Written out by hand (right-handed, column vectors): 90 degrees about z and about x.
RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
RX90 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
RX180 = np.diag([1.0, -1.0, -1.0])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _scipy_rotations(n: int, seed: int):
    Rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    return Rotation.random(n, random_state=seed)


def _homogeneous(pose: np.ndarray) -> np.ndarray:
    """4x4 transform of a pose9 whose rotation columns are already orthonormal."""
    T = np.eye(4)
    a, b = pose[3:6], pose[6:9]
    T[:3, :3] = np.stack([a, b, np.cross(a, b)], axis=1)
    T[:3, 3] = pose[:3]
    return T


# ---------------------------------------------------------------------------- 6-D rotations


def test_rot6d_of_a_known_rotation_is_its_first_two_columns() -> None:
    np.testing.assert_array_equal(G.rot6d_from_matrix(RZ90), [0, 1, 0, -1, 0, 0])
    np.testing.assert_allclose(G.matrix_from_rot6d([0, 1, 0, -1, 0, 0]), RZ90, atol=1e-15)


def test_rot6d_gram_schmidt_of_a_hand_made_non_orthonormal_input() -> None:
    # a = 2 x; b = x + 3 y -> minus its x part is 3 y -> columns x, y, z: the identity.
    np.testing.assert_allclose(G.matrix_from_rot6d([2, 0, 0, 1, 3, 0]), np.eye(3), atol=1e-15)
    # a = 5 z; b = 2 y + 7 z -> minus its z part is 2 y -> columns z, y, z x y = -x.
    R = G.matrix_from_rot6d([0, 0, 5, 0, 2, 7])
    np.testing.assert_allclose(R, [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-15)


def test_rot6d_round_trip_batched_against_scipy() -> None:
    R = _scipy_rotations(500, 0).as_matrix().reshape(25, 20, 3, 3)
    r6 = G.rot6d_from_matrix(R)
    assert r6.shape == (25, 20, 6)
    np.testing.assert_array_equal(r6[..., :3], R[..., :, 0])
    np.testing.assert_array_equal(r6[..., 3:], R[..., :, 1])
    np.testing.assert_allclose(G.matrix_from_rot6d(r6), R, atol=1e-12)


def test_rot6d_of_random_vectors_is_a_rotation() -> None:
    R = G.matrix_from_rot6d(np.random.default_rng(1).normal(size=(200, 6)))
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


def test_rotation_error_of_known_angles() -> None:
    assert G.rotation_error_deg(np.eye(3), _rz(np.radians(30.0))) == pytest.approx(30.0)
    assert G.rotation_error_deg(RX90, RX90 @ RX90) == pytest.approx(90.0)
    np.testing.assert_allclose(G.rotation_error_deg(np.stack([np.eye(3)] * 2),
                                                    np.stack([RZ90, RX180])), [90.0, 180.0])


# ---------------------------------------------------------------------------- quaternions


@pytest.mark.parametrize(("R", "q"), [
    (np.eye(3), [1, 0, 0, 0]),
    (RZ90, [S, 0, 0, S]),
    (RX90, [S, S, 0, 0]),
    (RX180, [0, 1, 0, 0]),  # w = 0: the branch on the largest of x, y, z
    (np.diag([-1.0, 1.0, -1.0]), [0, 0, 1, 0]),
    (np.diag([-1.0, -1.0, 1.0]), [0, 0, 0, 1]),
])
def test_quaternions_of_known_rotations(R: np.ndarray, q: list[float]) -> None:
    got = G.quat_from_matrix(R)
    if got[0] == 0 and np.dot(got, q) < 0:  # at 180 degrees q and -q both have w = 0
        got = -got
    np.testing.assert_allclose(got, q, atol=1e-15)
    np.testing.assert_allclose(G.matrix_from_quat(q), R, atol=1e-15)


def test_quaternions_match_scipy_including_near_180_degrees() -> None:
    rots = _scipy_rotations(300, 2)
    Rotation = type(rots)
    axes = np.random.default_rng(3).normal(size=(100, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    near_pi = Rotation.from_rotvec(axes * (np.pi - 1e-7))
    for r in list(rots) + list(near_pi):
        want = r.as_quat()[[3, 0, 1, 2]]  # scipy is (x, y, z, w)
        want = -want if want[0] < 0 else want
        got = G.quat_from_matrix(r.as_matrix())
        assert got[0] >= 0
        np.testing.assert_allclose(got, want, atol=1e-9)
        np.testing.assert_allclose(G.matrix_from_quat(want), r.as_matrix(), atol=1e-12)


def test_slerp_halfway_between_known_rotations() -> None:
    q0, q1 = np.array([1.0, 0, 0, 0]), np.array([S, 0, 0, S])  # identity, 90 deg about z
    np.testing.assert_allclose(G.slerp(q0, q1, 0.5), [np.cos(np.pi / 8), 0, 0,
                                                      np.sin(np.pi / 8)], atol=1e-15)
    np.testing.assert_allclose(G.slerp(q0, -q1, 0.5), G.slerp(q0, q1, 0.5), atol=1e-15)
    a, b = G.rot6d_from_matrix(np.eye(3)), G.rot6d_from_matrix(RZ90)
    np.testing.assert_allclose(G.matrix_from_rot6d(G.slerp_rot6d(a, b, 1 / 3)),
                               _rz(np.pi / 6), atol=1e-12)


def test_mean_rot6d_of_symmetric_rotations_is_the_middle() -> None:
    r6 = G.rot6d_from_matrix(np.stack([_rz(0.4), _rz(-0.4)]))
    np.testing.assert_allclose(G.matrix_from_rot6d(G.mean_rot6d(r6, np.ones(2))), np.eye(3),
                               atol=1e-12)
    one = G.rot6d_from_matrix(RX90)[None]
    np.testing.assert_allclose(G.mean_rot6d(one, np.array([0.3])), one[0], atol=1e-15)


# ---------------------------------------------------------------------------- axis-angle


@pytest.mark.parametrize(("R", "rotvec"), [
    (np.eye(3), [0, 0, 0]),
    (RZ90, [0, 0, np.pi / 2]),
    (RX90.T, [-np.pi / 2, 0, 0]),
    (RX180, [np.pi, 0, 0]),
])
def test_rotvec_of_known_rotations(R: np.ndarray, rotvec: list[float]) -> None:
    got = G.rotvec_from_matrix(R)
    if np.dot(got, rotvec) < 0:  # 180 degrees about a and about -a are the same rotation
        got = -got
    np.testing.assert_allclose(got, rotvec, atol=1e-15)
    np.testing.assert_allclose(G.matrix_from_rotvec(rotvec), R, atol=1e-15)


def test_rotvec_keeps_its_digits_for_tiny_angles() -> None:
    # Rotation by t about y, written out: cos t ~ 1 - t^2 / 2, so the trace alone loses t.
    t = 1e-9
    R = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    np.testing.assert_allclose(G.rotvec_from_matrix(R), [0, t, 0], rtol=1e-9, atol=0)


def test_rotvec_matches_scipy_from_tiny_angles_to_180_degrees() -> None:
    Rotation = type(_scipy_rotations(1, 0))
    rng = np.random.default_rng(4)
    for angle in (1e-10, 1e-6, 1e-3, 0.5, 2.0, np.pi - 1e-6, np.pi):
        axes = rng.normal(size=(30, 3))
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        for v in axes * angle:
            R = Rotation.from_rotvec(v).as_matrix()
            got = G.rotvec_from_matrix(R)
            if angle > 3.14 and np.dot(got, v) < 0:
                got = -got
            np.testing.assert_allclose(got, v, atol=1e-9 * max(angle, 1e-3))
            np.testing.assert_allclose(G.matrix_from_rotvec(v), R, atol=1e-12)


# ---------------------------------------------------------------------------- poses


def test_pose9_of_a_known_pose() -> None:
    np.testing.assert_array_equal(G.pose9([0.1, 0.2, 0.3], RZ90),
                                  [0.1, 0.2, 0.3, 0, 1, 0, -1, 0, 0])
    assert G.pose9(np.zeros(3, np.float32), np.eye(3, dtype=np.float32)).dtype == np.float64


def test_compose_delta_translates_in_the_base_frame_and_rotates_on_the_left() -> None:
    pose = G.pose9([1.0, 2.0, 3.0], RZ90)
    delta = np.concatenate([[0.1, 0.0, 0.0], G.rot6d_from_matrix(RX90), [0.7]])[None]
    out = G.compose_delta(pose, delta)
    # RX90 @ RZ90, multiplied out by hand.
    want_R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(out[0, :3], [1.1, 2.0, 3.0], atol=1e-15)
    np.testing.assert_allclose(G.matrix_from_rot6d(out[0, 3:9]), want_R, atol=1e-15)
    assert out[0, 9] == 0.7  # the gripper passes through
    np.testing.assert_allclose(G.relative_delta(pose, out), delta, atol=1e-15)


def test_relative_delta_inverts_compose_delta_on_random_poses() -> None:
    rots = _scipy_rotations(41, 5).as_matrix()
    rng = np.random.default_rng(6)
    pose = G.pose9(rng.normal(size=3), rots[0])
    absolute = np.concatenate([rng.normal(size=(40, 3)), G.rot6d_from_matrix(rots[1:]),
                               rng.uniform(size=(40, 1))], axis=1)
    delta = G.relative_delta(pose, absolute)
    np.testing.assert_allclose(G.compose_delta(pose, delta), absolute, atol=1e-12)
    # R_delta = R_abs @ R_ref^T, from scipy's own products.
    np.testing.assert_allclose(G.matrix_from_rot6d(delta[:, 3:9]), rots[1:] @ rots[0].T,
                               atol=1e-12)


# ---------------------------------------------------------------------------- chained deltas


def test_chain_of_sixteen_one_centimetre_steps_moves_sixteen_centimetres() -> None:
    step = np.array([0.01, 0, 0, 1, 0, 0, 0, 1, 0, 1.0])
    out = G.chain_deltas(G.pose9([0.5, 0.0, 0.2], np.eye(3)), np.tile(step, (16, 1)))
    np.testing.assert_allclose(out[:, 0], 0.5 + 0.01 * np.arange(1, 17), atol=1e-15)
    np.testing.assert_allclose(out[-1, :3], [0.66, 0.0, 0.2], atol=1e-15)
    np.testing.assert_allclose(out[:, 3:9], np.tile([1, 0, 0, 0, 1, 0], (16, 1)), atol=0)
    np.testing.assert_array_equal(out[:, 9], 1.0)


def test_chain_yaw_then_forward_moves_along_the_rotated_axis() -> None:
    yaw = np.concatenate([[0, 0, 0], G.rot6d_from_matrix(RZ90)])
    forward = np.array([0.01, 0, 0, 1, 0, 0, 0, 1, 0])
    out = G.chain_deltas(G.pose9([0, 0, 0], np.eye(3)), np.stack([yaw, forward]))
    np.testing.assert_allclose(out[0, :3], [0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(out[1, :3], [0, 0.01, 0], atol=1e-15)  # +x of the gripper = +y
    np.testing.assert_allclose(G.matrix_from_rot6d(out[1, 3:9]), RZ90, atol=1e-15)
    # The base-frame convention reads the same numbers differently: +x stays +x.
    np.testing.assert_allclose(G.compose_delta(G.pose9([0, 0, 0], RZ90), forward[None])[0, :3],
                               [0.01, 0, 0], atol=1e-15)


def test_chain_deltas_equal_products_of_homogeneous_transforms() -> None:
    rots = _scipy_rotations(9, 7).as_matrix()
    rng = np.random.default_rng(8)
    pose = G.pose9(rng.normal(size=3), rots[0])
    deltas = np.concatenate([rng.normal(0, 0.05, (8, 3)), G.rot6d_from_matrix(rots[1:])], axis=1)
    out = G.chain_deltas(pose, deltas)
    T = _homogeneous(pose)
    for i in range(8):
        T = T @ _homogeneous(deltas[i])
        np.testing.assert_allclose(_homogeneous(out[i]), T, atol=1e-12)
    np.testing.assert_allclose(G.unchain_deltas(pose, out), deltas, atol=1e-12)


def test_geometry_imports_nothing_but_numpy() -> None:
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(G))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert names <= {"numpy", "__future__"}
