"""The layers of docs/DESIGN.md hold: each part of cosmos_policy imports only the layers below it.

Two checks:
- static: every ``import`` in every module, function-level ones included (where layer breaks
  used to hide), and every ``"cosmos_policy.x..."`` module string (lazy export tables, entry
  points), points to a lower layer or to the importing part itself;
- dynamic: importing every module of a part in a fresh interpreter loads no higher layer and
  none of the heavy packages that part promises to do without (MuJoCo in runtime/, anything
  but numpy in geometry.py).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cosmos_policy"

# Part -> layer, low to high (docs/DESIGN.md). Within layers 1 and 2 the decimals order the
# parts that build on each other (spec uses errors, kinematics uses embodiment); parts with
# the same number may not import each other. A new part fails the static test until it is
# placed here.
LAYERS: dict[str, float] = {
    "errors": 1.0, "lazy": 1.0, "paths": 1.1, "geometry": 1.1, "spec": 1.2,
    "data": 2.0, "embodiment": 2.0, "kinematics": 2.1,
    # training/ (trainer, data cache, the task layout read from the suite YAML) trains the
    # networks of models/, which never import it.
    "models": 3.0, "training": 3.5,
    "engine": 4.0,
    "policy": 5.0,
    "runtime": 6.0, "transport": 6.0,
    # viz/ records the runtime for viewers (Rerun); sim/serve/label hook it in.
    "viz": 6.5,
    "label": 7.0, "sim": 7.0, "serve": 7.0,
    "commands": 8.0,
}
# Lower parts a part still may not import: kinematics is MuJoCo, and runtime/ (the pure core)
# and transport/ promise to run without it; they get the fk and projector passed in.
NOT_BELOW: dict[str, set[str]] = {"runtime": {"kinematics"}, "transport": {"kinematics"}}
# cli.py is the entry point of the commands layer; the package root only sets __version__.
ALIASES = {"cli": "commands"}

# (importing module, imported module) -> why it is still allowed. Each entry must still match
# an import, so an entry is deleted with the break it excuses.
ALLOWED: dict[tuple[str, str], str] = {
}

_MODULE_STRING = re.compile(r"^cosmos_policy(\.\w+)+(:\w+)?$")


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str | None:
    """``cosmos_policy.runtime.safety`` -> ``runtime``; the package root -> None."""
    parts = module.split(".")
    return ALIASES.get(parts[1], parts[1]) if len(parts) > 1 else None


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) of every cosmos_policy import in ``path``, at any depth."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if node.module is None or target == "cosmos_policy":
                # ``from . import x`` / ``from cosmos_policy import x`` import x itself.
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
        else:
            found += [(c.lineno, c.value.split(":")[0]) for c in _lazy_module_strings(node)]
    return sorted((line, m) for line, m in found if m.split(".")[0] == "cosmos_policy")


def _lazy_module_strings(node: ast.AST) -> list[ast.Constant]:
    """Module names imported later by name: ``import_module("...")``, ``entry_point="..."``
    and the values of lazy export tables (``{"Name": "cosmos_policy.x.y"}`` or a tuple
    starting with one). Logger names and command lines are not imports."""
    candidates: list[ast.AST] = []
    if isinstance(node, ast.Call):
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name in ("import_module", "__import__") and node.args:
            candidates.append(node.args[0])
        candidates += [k.value for k in node.keywords if k.arg == "entry_point"]
    elif isinstance(node, ast.Dict):
        for value in node.values:
            candidates.append(value.elts[0] if isinstance(value, ast.Tuple) and value.elts
                              else value)
    return [c for c in candidates if isinstance(c, ast.Constant) and isinstance(c.value, str)
            and _MODULE_STRING.match(c.value)]


def _breaks(root: Path = PACKAGE) -> tuple[list[str], set[tuple[str, str]], list[str]]:
    """(layer breaks, allow-listed pairs seen, parts missing from LAYERS) of package ``root``."""
    breaks, excused, unknown = [], set(), []
    for path in sorted(root.rglob("*.py")):
        source = _module_name(path, root)
        here = _part(source)
        if here is None:
            continue
        if here not in LAYERS:
            unknown.append(source)
            continue
        for line, target in _imports(path, root):
            there = _part(target)
            if there is None or there == here or target == "cosmos_policy.__version__":
                continue
            if there not in LAYERS:
                unknown.append(target)
            elif LAYERS[there] >= LAYERS[here] or there in NOT_BELOW.get(here, ()):
                key = next((k for k in ALLOWED if k[0] == source and target.startswith(k[1])),
                           None)
                if key is None:
                    breaks.append(f"{path.relative_to(root.parent)}:{line}: {here} "
                                  f"(layer {LAYERS[here]:g}) imports {target} "
                                  f"(layer {LAYERS[there]:g})")
                else:
                    excused.add(key)
    return breaks, excused, sorted(set(unknown))


def test_no_module_imports_a_higher_layer() -> None:
    breaks, _, unknown = _breaks()
    assert not unknown, f"place these parts in LAYERS of tests/test_layers.py: {unknown}"
    assert not breaks, "imports of a higher (or the same) layer, or of NOT_BELOW:\n" + \
        "\n".join(breaks)


def test_every_allowed_break_still_exists() -> None:
    _, excused, _ = _breaks()
    stale = set(ALLOWED) - excused
    assert not stale, f"these breaks are fixed: delete them from ALLOWED: {sorted(stale)}"


def test_the_static_check_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    root = tmp_path / "cosmos_policy"
    fake = root / "runtime" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("import numpy\n"
                    "def f():\n    from cosmos_policy.sim import make_env\n"
                    "    from . import safety\n"
                    "    from ..serve import node_core\n"
                    "    from cosmos_policy import kinematics\n"
                    "LAZY = {'Thing': 'cosmos_policy.transport.dds'}\n"
                    "log = logging.getLogger('cosmos_policy.label')\n"
                    "gym.register(id='x', entry_point='cosmos_policy.commands.eval:Env')\n")
    assert [m for _, m in _imports(fake, root)] == [
        "cosmos_policy.sim", "cosmos_policy.runtime.safety", "cosmos_policy.serve",
        "cosmos_policy.kinematics", "cosmos_policy.transport.dds", "cosmos_policy.commands.eval"]


# ---------------------------------------------------------------------------- fresh imports

_PROBE = """
import sys
# What the interpreter and site hooks loaded before us (e.g. the ROS 2 wheels' bootstrapper)
# is not the probed package's doing.
before = set(sys.modules)
import importlib, json, pkgutil
name = sys.argv[1]
mod = importlib.import_module(name)
skipped = []
for info in pkgutil.walk_packages(getattr(mod, "__path__", []), name + "."):
    try:
        importlib.import_module(info.name)
    except ImportError as exc:  # an optional extra (ros, tensorrt, ...) absent here
        if (exc.name or "").startswith("cosmos_policy"):
            raise
        skipped.append(info.name)
print(json.dumps({"modules": sorted(set(sys.modules) - before), "skipped": skipped}))
"""

# Part -> third-party packages it must not load (on top of every higher layer of ours).
FORBIDDEN_THIRD_PARTY = {
    "runtime": {"mujoco", "torch", "cyclonedds", "rclpy", "gymnasium"},
    "transport": {"mujoco", "torch"},
    "spec": {"torch", "mujoco"},
    "models": {"gymnasium", "onnxruntime", "tensorrt", "cyclonedds", "rclpy"},
}
PROBED = ["geometry", "spec", "embodiment", "runtime", "transport", "models", "engine", "policy"]


@pytest.fixture(scope="module")
def loaded() -> dict[str, dict]:
    """Part -> what importing all its modules in a fresh interpreter loaded (run in parallel)."""
    procs = {part: subprocess.Popen([sys.executable, "-c", _PROBE, f"cosmos_policy.{part}"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    cwd=PACKAGE.parent)
             for part in PROBED}
    out = {}
    for part, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"importing cosmos_policy.{part} failed:\n{stderr}"
        out[part] = json.loads(stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("part", PROBED)
def test_importing_a_part_loads_no_higher_layer(loaded: dict[str, dict], part: str) -> None:
    ours = {_part(m) for m in loaded[part]["modules"] if m.startswith("cosmos_policy.")}
    higher = sorted(p for p in ours if p != part and LAYERS[p] >= LAYERS[part])
    assert not higher, f"cosmos_policy.{part} loads {higher}"
    tops = {m.split(".")[0] for m in loaded[part]["modules"]}
    heavy = sorted(tops & FORBIDDEN_THIRD_PARTY.get(part, set()))
    assert not heavy, f"cosmos_policy.{part} loads {heavy}"


def test_runtime_loads_no_mujoco_and_no_kinematics(loaded: dict[str, dict]) -> None:
    modules = set(loaded["runtime"]["modules"])
    assert "mujoco" not in modules
    assert "cosmos_policy.kinematics" not in modules
    assert "cosmos_policy.runtime.safety" in modules  # the probe did import the layer


def test_geometry_loads_nothing_but_numpy(loaded: dict[str, dict]) -> None:
    third_party = {m.split(".")[0] for m in loaded["geometry"]["modules"]}
    # Leading underscores: private modules of the standard library and of numpy.
    third_party = {m for m in third_party - set(sys.stdlib_module_names) if m[0] != "_"}
    assert third_party <= {"numpy", "cosmos_policy"}, sorted(third_party)
    ours = {m for m in loaded["geometry"]["modules"] if m.startswith("cosmos_policy.")}
    assert ours == {"cosmos_policy.geometry"}
