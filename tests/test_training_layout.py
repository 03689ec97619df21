"""The task layout training reads from the suite YAML: one source for colours and objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cosmos_policy.errors import ConfigError
from cosmos_policy.training.layout import TaskLayout, layout_from_dict, load_layout
from cosmos_policy.training.objects import counterfactual_objects


def test_the_shipped_suite_gives_the_tabletop_layout() -> None:
    layout = load_layout()
    assert layout.colors == ("red", "green", "blue")
    assert layout.objects == ("target", "red", "green", "blue", "region", "plate")
    assert (layout.objects_dim, layout.cubes_dim) == (18, 12)
    assert layout.fixture_columns == {"region": 12, "plate": 15}
    assert layout.state_names()[:4] == ["target_x", "target_y", "target_z", "red_x"]
    assert layout.state_names()[-1] == "plate_z"
    assert layout.named_color("push the red cube to the yellow square") == "red"
    assert layout.named_color("reach the cube") is None
    assert layout.named_color("put the red cube on the blue one") is None


def test_simulator_and_training_read_one_list_of_colours() -> None:
    from cosmos_policy.sim.scene import COLORS
    from cosmos_policy.sim.suite import load_suite, training_variants

    suite = load_suite()
    assert COLORS == suite.colors == load_layout().colors
    assert load_layout().variants == training_variants(suite)
    assert load_layout().variants  # the shipped suite has training wordings


def _suite(tmp_path: Path, **changes: object) -> Path:
    raw = {"colors": ["cyan", "magenta"], "fixtures": ["bin"],
           "tasks": {"reach": {"canonical": ["reach the {color} cube"],
                               "paraphrase": ["go to the {color} cube"],
                               "training": ["touch the {color} cube"]}}}
    raw.update(changes)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_another_suite_gives_another_layout(tmp_path: Path) -> None:
    layout = load_layout(_suite(tmp_path))
    assert layout.objects == ("target", "cyan", "magenta", "bin")
    assert (layout.objects_dim, layout.cubes_dim) == (12, 9)
    assert layout.fixture_columns == {"bin": 9}
    assert layout.variants == {"reach the {color} cube": ("touch the {color} cube",)}
    # The object head's counterfactual prompts draw from this suite's colours only.
    objects = torch.arange(12, dtype=torch.float32).repeat(200, 1)
    b = {"objects": objects, "objects_mask": torch.ones(200, 12),
         "prompts": ["reach the cyan cube"] * 200}
    prompts, targets, _ = counterfactual_objects(b, np.random.default_rng(0), layout)
    assert {p.split()[2] for p in prompts} == {"cyan", "magenta"}
    for p, t in zip(prompts, targets, strict=True):
        k = layout.colors.index(p.split()[2])
        assert t[:3].tolist() == objects[0, 3 + 3 * k: 6 + 3 * k].tolist()


@pytest.mark.parametrize(("changes", "field"), [
    ({"colors": []}, "colors"),
    ({"colors": "red"}, "colors"),
    ({"fixtures": ["cyan"]}, "colors/fixtures"),
    ({"fixtures": ["Bin"]}, "colors/fixtures"),
    ({"colors": ["target", "blue"]}, "colors/fixtures"),
    ({"tasks": {"reach": {"canonical": ["reach it"], "training": ["touch the {color} cube"]}}},
     "tasks.reach.canonical"),
    ({"tasks": {"reach": {"canonical": ["reach the {color} cube"],
                          "paraphrase": ["go to the {color} cube"],
                          "training": ["go to the {color} cube"]}}}, "tasks.reach.training"),
])
def test_a_malformed_suite_names_the_file_and_field(tmp_path: Path, changes: dict,
                                                    field: str) -> None:
    path = _suite(tmp_path, **changes)
    with pytest.raises(ConfigError, match=f"field '{field}'") as err:
        load_layout(path)
    assert str(err.value).startswith(str(path))


def test_an_unreadable_suite_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="readable YAML"):
        load_layout(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="a mapping"):
        layout_from_dict(["red"], "x.yaml")
    with pytest.raises(ConfigError, match="distinct"):
        TaskLayout(("red", "red"))
