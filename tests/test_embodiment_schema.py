"""Embodiment files load, and bad files fail naming the file, the field and the expectation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cosmos_policy.embodiment import available_embodiments, load_embodiment, load_embodiment_file
from cosmos_policy.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("name", available_embodiments())
def test_shipped_embodiment_loads(name: str) -> None:
    e = load_embodiment(name)
    assert e.name == name
    assert e.position_limits.shape == (e.n_joints, 2)
    assert e.model_path.is_file()
    spec = e.observation_spec()
    assert spec.state.shape == (e.n_joints + 1,)


def test_required_embodiments_ship() -> None:
    assert {"franka", "ur5e", "so100"} <= set(available_embodiments())


def test_unknown_embodiment_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="franka"):
        load_embodiment("no_such_robot")


def _broken_copy(tmp_path: Path, edit) -> Path:
    src = load_embodiment("franka").root
    dst = tmp_path / "franka"
    shutil.copytree(src, dst)
    data = yaml.safe_load((dst / "embodiment.yaml").read_text())
    edit(data)
    (dst / "embodiment.yaml").write_text(yaml.safe_dump(data))
    return dst / "embodiment.yaml"


@pytest.mark.parametrize(
    ("edit", "field", "expected"),
    [
        (lambda d: d["arm"].__setitem__("velocity_limits", [1.0, 2.0]), "arm.velocity_limits",
         "7 positive numbers"),
        (lambda d: d["arm"].__setitem__("home", [9.0] * 7), "arm.home", "inside"),
        (lambda d: d["action_space"].__setitem__("type", "teleport"), "action_space.type",
         "one of"),
        (lambda d: d.pop("gripper"), "gripper", "missing"),
        (lambda d: d["workspace"].__setitem__("low", [1.0, 1.0, 1.0]), "workspace", "low < high"),
    ],
)
def test_bad_file_names_file_field_and_expectation(tmp_path, edit, field, expected) -> None:
    path = _broken_copy(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        load_embodiment_file(path)
    message = str(info.value)
    assert str(path) in message
    assert f"'{field}'" in message
    assert expected in message
