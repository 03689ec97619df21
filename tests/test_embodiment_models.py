"""Every embodiment's MJCF compiles, holds home under its actuators, warns about nothing."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from cosmos_policy.embodiment import available_embodiments, load_embodiment
from cosmos_policy.kinematics import KinematicModel


@pytest.mark.parametrize("name", available_embodiments())
def test_model_holds_home_without_warnings(name: str) -> None:
    e = load_embodiment(name)
    model = mujoco.MjModel.from_xml_path(str(e.model_path))
    data = mujoco.MjData(model)
    adr = [model.joint(j).qposadr[0] for j in e.joints]
    data.qpos[adr] = e.home
    for j, act in enumerate(e.actuators):
        data.ctrl[model.actuator(act).id] = e.home[j]
    for _ in range(int(2.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    assert [w.number for w in data.warning] == [0] * len(data.warning)
    np.testing.assert_allclose(data.qpos[adr], e.home, atol=1e-3)


@pytest.mark.parametrize("name", available_embodiments())
def test_model_matches_yaml(name: str) -> None:
    e = load_embodiment(name)
    model = mujoco.MjModel.from_xml_path(str(e.model_path))
    for j, joint in enumerate(e.joints):
        np.testing.assert_allclose(model.jnt_range[model.joint(joint).id],
                                   e.position_limits[j], atol=1e-4)
        assert model.actuator_trnid[model.actuator(e.actuators[j]).id, 0] == model.joint(joint).id
    for g in e.gripper.joints:
        model.joint(g)  # raises KeyError when missing
    model.actuator(e.gripper.actuator)
    model.camera("wrist")


@pytest.mark.parametrize("name", available_embodiments())
def test_home_points_down_over_the_task_area(name: str) -> None:
    e = load_embodiment(name)
    pos, R = KinematicModel(e).fk(e.home)
    assert R[2, 2] < -0.99  # tcp z axis points down
    assert np.all(np.abs(pos[:2] - e.task_area_center) < e.task_area_half_extent + 0.2)
    assert np.all(pos >= e.workspace_low)
    assert np.all(pos <= e.workspace_high)


@pytest.mark.parametrize("name", available_embodiments())
def test_wrist_camera_looks_past_the_fingers_at_the_table(name: str) -> None:
    """At home the tcp and the table below it are in front of the wrist camera and inside its
    field of view. (The UR5e camera once looked back up the arm at its own wrist link.)"""
    e = load_embodiment(name)
    model = mujoco.MjModel.from_xml_path(str(e.model_path))
    data = mujoco.MjData(model)
    data.qpos[[model.joint(j).qposadr[0] for j in e.joints]] = e.home
    mujoco.mj_forward(model, data)
    cam = data.camera("wrist")
    half = np.tan(np.radians(model.camera("wrist").fovy[0]) / 2)  # square images
    tcp = data.site(e.ee_site).xpos
    for point in (tcp, np.array([tcp[0], tcp[1], 0.02])):
        v = cam.xmat.reshape(3, 3).T @ (point - cam.xpos)  # camera frame: looks along -z
        assert -v[2] > 0.03, f"{name}: {point} is behind the wrist camera"
        assert np.all(np.abs(v[:2] / -v[2]) < 0.9 * half), f"{name}: {point} out of view"


def test_published_link_lengths() -> None:
    """Spot-check the kinematic figures the READMEs cite."""
    franka = KinematicModel(load_embodiment("franka"))
    pos, _ = franka.fk(np.zeros(7))
    # All-zero Panda: x = a7 = 0.088; z = d1 + d3 + d5 - flange - tcp offset
    np.testing.assert_allclose(pos, [0.088, 0.0, 0.333 + 0.316 + 0.384 - 0.107 - 0.1034],
                               atol=1e-4)
    ur5e = KinematicModel(load_embodiment("ur5e"))
    pos, _ = ur5e.fk(np.zeros(6))
    # All-zero UR5e: arm along +x: a2 + a3 = 0.8172, offsets d4 along y, d1 - d5 in z;
    # the tool then points along +y by d6 + tcp offset.
    np.testing.assert_allclose(pos, [0.425 + 0.3922, 0.1333 + 0.0996 + 0.15, 0.1625 - 0.0997],
                               atol=1e-4)


def _rz(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def _rx(t: float) -> np.ndarray:
    c, s = np.cos(t), np.sin(t)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def _tr(x: float, y: float, z: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = [x, y, z]
    return T


def _ur5e_dh(q: np.ndarray) -> np.ndarray:
    """UR's published standard DH table, tool flange frame in UR's base frame."""
    d = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
    a = [0, -0.425, -0.3922, 0, 0, 0]
    alpha = [np.pi / 2, 0, 0, np.pi / 2, -np.pi / 2, 0]
    T = np.eye(4)
    for i in range(6):
        T = T @ _rz(q[i]) @ _tr(0, 0, d[i]) @ _tr(a[i], 0, 0) @ _rx(alpha[i])
    return T


def _panda_mdh(q: np.ndarray) -> np.ndarray:
    """Franka's published modified (Craig) DH table, flange frame."""
    a = [0, 0, 0, 0.0825, -0.0825, 0, 0.088]
    d = [0.333, 0, 0.316, 0, 0.384, 0, 0]
    alpha = [0, -np.pi / 2, np.pi / 2, np.pi / 2, -np.pi / 2, np.pi / 2, np.pi / 2]
    T = np.eye(4)
    for i in range(7):
        T = T @ _rx(alpha[i]) @ _tr(a[i], 0, 0) @ _rz(q[i]) @ _tr(0, 0, d[i])
    return T @ _tr(0, 0, 0.107)


@pytest.mark.parametrize(("name", "dh", "base", "tool"), [
    # The model's base is UR's controller base turned 180 deg about z (x away from the robot,
    # as in ROS's base_link); tcp 0.15 m out along the flange z.
    ("ur5e", _ur5e_dh, _rz(np.pi), _tr(0, 0, 0.15)),
    # The Franka Hand sits on the flange turned -45 deg about z; tcp 0.1034 m out.
    ("franka", _panda_mdh, np.eye(4), _rz(-np.pi / 4) @ _tr(0, 0, 0.1034)),
])
def test_fk_matches_the_published_dh_table(name, dh, base, tool) -> None:
    """Joint axes, signs and link lengths agree with the manufacturer's table at random q."""
    e = load_embodiment(name)
    kin = KinematicModel(e)
    rng = np.random.default_rng(3)
    for _ in range(50):
        q = rng.uniform(e.position_limits[:, 0], e.position_limits[:, 1])
        T = base @ dh(q) @ tool
        pos, R = kin.fk(q)
        np.testing.assert_allclose(pos, T[:3, 3], atol=1e-4)
        np.testing.assert_allclose(R[:, 2], T[:3, 2], atol=1e-4)  # tool axis
        np.testing.assert_allclose(R, T[:3, :3], atol=1e-4)


def test_so100_zero_pose_is_the_published_stretched_arm() -> None:
    """All zero: arm stretched forward at the shoulder's height, as in the SO-ARM100 URDF."""
    kin = KinematicModel(load_embodiment("so100"))
    pos, R = kin.fk(np.zeros(5))
    x = 0.0306 + 0.11257 + 0.1349 + 0.0601 + 0.038  # pan -> upper arm -> forearm -> roll -> tcp
    z = 0.0165 + 0.1025 - 0.028 + 0.0052
    np.testing.assert_allclose(pos, [x, 0.0, z], atol=1e-4)
    np.testing.assert_allclose(R[:, 2], [1.0, 0.0, 0.0], atol=1e-6)  # tcp z along the arm


@pytest.mark.parametrize("name", available_embodiments())
def test_gripper_grasps_and_lifts_a_4cm_cube(name: str) -> None:
    """Table at z = 0, a 4 cm cube at the task-area centre: close on it, lift 8 cm."""
    e = load_embodiment(name)
    spec = mujoco.MjSpec.from_file(str(e.model_path))
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[1, 1, 0.01])
    cx, cy = e.task_area_center
    cube = spec.worldbody.add_body(name="cube", pos=[cx, cy, 0.02])
    cube.add_freejoint()
    cube.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.02] * 3, mass=0.05, condim=4,
                  friction=[1.0, 0.01, 0.001])
    model = spec.compile()
    data = mujoco.MjData(model)
    kin = KinematicModel(e)
    _, down = kin.fk(e.home)
    arm = [model.joint(j).qposadr[0] for j in e.joints]
    acts = [model.actuator(a).id for a in e.actuators]
    grip = model.actuator(e.gripper.actuator).id
    fingers = [model.joint(j).qposadr[0] for j in e.gripper.joints]

    grasp = kin.ik(np.array([cx, cy, 0.02]), down, e.home).q
    lift = kin.ik(np.array([cx, cy, 0.10]), down, grasp).q
    data.qpos[arm] = grasp
    data.qpos[fingers] = e.gripper.open_position
    mujoco.mj_forward(model, data)
    data.ctrl[acts] = grasp
    data.ctrl[grip] = e.gripper.closed_position
    steps = int(1.0 / model.opt.timestep)
    for _ in range(steps):  # close
        mujoco.mj_step(model, data)
    for k in range(steps):  # lift over 1 s
        data.ctrl[acts] = grasp + (lift - grasp) * min(1.0, (k + 1) / (0.8 * steps))
        mujoco.mj_step(model, data)
    cube_z = data.xpos[model.body("cube").id][2]
    assert cube_z > 0.02 + 0.07, f"cube at z = {cube_z:.3f} m after the lift"
    assert [w.number for w in data.warning] == [0] * len(data.warning)


@pytest.mark.parametrize("name", available_embodiments())
def test_fingers_never_collide_with_each_other(name: str) -> None:
    """Closed, the fingers stop at the joint limit, not on each other: the UR5e's finger pads
    met face to face, and pushing with them closed once made their box-box contact exceed
    MuJoCo's 8 contacts per pair, which aborts the step (mj_narrowphase FatalError) and with
    it a recording. Every pair of finger geoms that could collide is excluded."""
    e = load_embodiment(name)
    model = mujoco.MjModel.from_xml_path(str(e.model_path))
    fingers = sorted({int(model.jnt_bodyid[model.joint(g).id]) for g in e.gripper.joints})
    excluded = {int(sig) for sig in model.exclude_signature}
    colliding = []
    for a in fingers:
        for b in fingers:
            if a >= b:
                continue
            for g1 in np.flatnonzero(model.geom_bodyid == a):
                for g2 in np.flatnonzero(model.geom_bodyid == b):
                    if not (model.geom_contype[g1] & model.geom_conaffinity[g2]
                            or model.geom_contype[g2] & model.geom_conaffinity[g1]):
                        continue
                    if (a << 16) + b not in excluded and (b << 16) + a not in excluded:
                        colliding.append((model.body(a).name, model.body(b).name))
    assert not colliding, f"{name}: finger bodies that can collide: {sorted(set(colliding))}"
