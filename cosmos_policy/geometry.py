"""Rotations and poses in pure numpy: the one place the project writes them.

Conventions (docs/CONTRACTS.md):

- 6-D rotation (Zhou et al. 2019): the first two *columns* of the rotation matrix,
  ``R[:, 0]`` then ``R[:, 1]``; back to a matrix by Gram-Schmidt, so any finite,
  non-degenerate 6-vector maps to a rotation.
- Quaternions are ``(w, x, y, z)`` (scalar first), unit norm, returned with ``w >= 0``.
- Rotation vectors (axis-angle) are ``axis * angle`` in rad, angle in ``[0, pi]``.
- A pose is ``[x, y, z, r1..r6]`` (9,): translation (m) then the 6-D rotation, in the
  robot's base frame. Pose arrays may carry more columns after the 9 (the gripper of a
  unified action); the pose functions pass those through untouched.

Two delta conventions live here, and they differ:

- :func:`compose_delta` / :func:`relative_delta`: one delta per step, each relative to the
  *same* reference pose, in the base frame (translation added, rotation applied on the
  left: ``R = R_delta @ R_ref``). The runtime and the Cosmos 3 adapter use this today.
- :func:`chain_deltas` / :func:`unchain_deltas`: NVIDIA's chained gripper-frame deltas,
  ``T_{i+1} = T_i @ dT_i`` with homogeneous transforms, each delta expressed in the frame
  of the pose before it.

Only numpy is imported, so every layer may use this module.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12

# ---------------------------------------------------------------------------- 6-D rotations


def matrix_from_rot6d(r6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns (re-orthonormalises)."""
    r6 = np.asarray(r6, dtype=np.float64)
    a, b = r6[..., 0:3], r6[..., 3:6]
    c0 = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), _EPS)
    b = b - np.sum(c0 * b, axis=-1, keepdims=True) * c0
    c1 = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), _EPS)
    c2 = np.cross(c0, c1)
    return np.stack([c0, c1, c2], axis=-1)


def rot6d_from_matrix(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): ``R[:, 0]`` then ``R[:, 1]``."""
    R = np.asarray(R, dtype=np.float64)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rotation_error_deg(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between rotations (..., 3, 3), broadcast over leading axes."""
    cos = (np.trace(np.swapaxes(Ra, -1, -2) @ Rb, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# ---------------------------------------------------------------------------- quaternions


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix -> unit quaternion (w, x, y, z) with w >= 0.

    Branches on the largest of w, x, y, z (Shepperd), so it stays accurate near 180 degrees.
    """
    m = np.asarray(R, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z), normalised here -> (3, 3) rotation matrix."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def slerp(q0: np.ndarray, q1: np.ndarray, u: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions, ``u`` in [0, 1], shortest arc."""
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: normalised lerp is exact to rounding
        q = q0 + u * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    s = np.sin(theta)
    return (np.sin((1 - u) * theta) * q0 + np.sin(u * theta) * q1) / s


def slerp_rot6d(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    """Slerp between two 6-D rotations (6,); returns an orthonormal 6-D rotation."""
    qa = quat_from_matrix(matrix_from_rot6d(a))
    qb = quat_from_matrix(matrix_from_rot6d(b))
    return rot6d_from_matrix(matrix_from_quat(slerp(qa, qb, u)))


def mean_rot6d(r6: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of (K, 6) rotations, re-orthonormalised (chordal mean on the columns).

    Exact for K = 1 and continuous in the weights, which is what blending needs.
    """
    w = np.asarray(weights, dtype=np.float64)
    avg = (w[:, None] * np.asarray(r6, dtype=np.float64)).sum(axis=0) / w.sum()
    return rot6d_from_matrix(matrix_from_rot6d(avg))


# ---------------------------------------------------------------------------- axis-angle


def rotvec_from_matrix(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> axis-angle (3,) rad, angle in [0, pi].

    Goes through the quaternion (``angle = 2 atan2(|v|, w)``), which is accurate for tiny
    angles (where ``arccos`` of the trace loses half the digits) and near pi.
    """
    q = quat_from_matrix(R)
    v = q[1:]
    s = float(np.linalg.norm(v))
    if s < _EPS:
        return 2.0 * v  # first order: angle ~ 2 |v|, and v is ~0 anyway
    return v * (2.0 * np.arctan2(s, q[0]) / s)


def matrix_from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) rad -> (3, 3) rotation (Rodrigues' formula)."""
    v = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(v))
    if angle < _EPS:
        return np.eye(3)
    x, y, z = v / angle
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


# ---------------------------------------------------------------------------- poses


def pose9(pos: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Translation (3,) m + rotation (3, 3) -> float64 (9,): ``pos, R[:, 0], R[:, 1]``."""
    return np.concatenate([np.asarray(pos, dtype=np.float64), rot6d_from_matrix(R)])


def compose_delta(pose: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Deltas (T, >=9) all relative to ``pose`` (>=9,) -> absolute (T, same width).

    Base-frame convention: translation adds (``p = p_ref + dp``), rotation applies on the
    left (``R = R_delta @ R_ref``). Columns after the 9 (the gripper) are kept from
    ``delta``.
    """
    pose = np.asarray(pose, np.float64)
    delta = np.asarray(delta, np.float64)
    out = delta.copy()
    out[:, :3] = pose[:3] + delta[:, :3]
    R = matrix_from_rot6d(delta[:, 3:9]) @ matrix_from_rot6d(pose[3:9])
    out[:, 3:9] = rot6d_from_matrix(R)
    return out


def relative_delta(pose: np.ndarray, absolute: np.ndarray) -> np.ndarray:
    """Absolute poses (T, >=9) -> deltas relative to ``pose`` (>=9,); inverse of
    :func:`compose_delta` (``dp = p - p_ref``, ``R_delta = R @ R_ref^T``)."""
    pose = np.asarray(pose, np.float64)
    absolute = np.asarray(absolute, np.float64)
    out = absolute.copy()
    out[:, :3] = absolute[:, :3] - pose[:3]
    R_ref = matrix_from_rot6d(pose[3:9])
    out[:, 3:9] = rot6d_from_matrix(matrix_from_rot6d(absolute[:, 3:9]) @ R_ref.T)
    return out


def chain_deltas(pose: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Chained gripper-frame deltas (T, >=9) from ``pose`` (>=9,) -> absolute (T, same width).

    ``T_{i+1} = T_i @ dT_i`` with ``T_0 = pose``: each delta is expressed in the frame of
    the pose before it, so ``p_{i+1} = p_i + R_i dp_i`` and ``R_{i+1} = R_i dR_i``. Row i of
    the result is ``T_{i+1}``. Columns after the 9 (the gripper) are kept from ``deltas``.
    """
    deltas = np.asarray(deltas, np.float64)
    out = deltas.copy()
    p = np.asarray(pose[:3], np.float64)
    R = matrix_from_rot6d(pose[3:9])
    dR = matrix_from_rot6d(deltas[:, 3:9])
    for i in range(len(deltas)):
        p = p + R @ deltas[i, :3]
        R = R @ dR[i]
        out[i, :3] = p
        out[i, 3:9] = rot6d_from_matrix(R)
    return out


def unchain_deltas(pose: np.ndarray, absolute: np.ndarray) -> np.ndarray:
    """Absolute poses (T, >=9) -> chained gripper-frame deltas from ``pose`` (>=9,); inverse
    of :func:`chain_deltas` (``dT_i = T_i^-1 @ T_{i+1}``)."""
    absolute = np.asarray(absolute, np.float64)
    out = absolute.copy()
    p = np.asarray(pose[:3], np.float64)
    R = matrix_from_rot6d(pose[3:9])
    Rs = matrix_from_rot6d(absolute[:, 3:9])
    for i in range(len(absolute)):
        out[i, :3] = R.T @ (absolute[i, :3] - p)
        out[i, 3:9] = rot6d_from_matrix(R.T @ Rs[i])
        p, R = absolute[i, :3], Rs[i]
    return out
