"""A non-editable wheel carries the embodiments, scenes and engines folders it needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cosmos_policy.embodiment import available_embodiments

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (found,) = out.glob("cosmos_policy-*.whl")
    return found


def test_wheel_ships_every_embodiment(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in available_embodiments():
        for leaf in ("embodiment.yaml", "model.xml"):
            assert f"cosmos_policy/_resources/embodiments/{name}/{leaf}" in names


def test_wheel_ships_sim_and_engines_and_cli(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("cosmos_policy/_resources/sim/") for n in names)
    assert any(n.startswith("cosmos_policy/_resources/engines/") for n in names)
    # The lab notebook and the training recipe live in docs/, outside the wheel.
    shipped = [n for n in names if n.startswith("cosmos_policy/_resources/engines/default/")]
    assert sorted(n.rsplit("/", 1)[1] for n in shipped) == [
        "README.md", "config.json", "domains.json", "manifest.json", "model.safetensors",
        "stats.json"]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "cosmos-policy = cosmos_policy.cli:main" in text


def test_command_help_lists_its_own_arguments(capsys) -> None:
    from cosmos_policy.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["record", "--help"])
    assert exit_info.value.code == 0
    assert "--embodiment" in capsys.readouterr().out


def test_unknown_command_is_a_clear_error(capsys) -> None:
    from cosmos_policy.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["teleport"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
