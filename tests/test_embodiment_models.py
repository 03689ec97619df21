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
