"""The engine cache: keyed builds, reuse, rebuild (not crash) on any mismatch; the default
engine; FLOP counting."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from cosmos_policy.engine.flops import count_flops
from cosmos_policy.engine.manifest import EngineRequest, read_manifest
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.policy import cache as cache_mod
from cosmos_policy.policy.cache import EngineKey, engine_key, get_engine
from cosmos_policy.policy.default import default_engine
from cosmos_policy.spec import Observation, WorldActionModel


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "bundle")


def test_key_covers_everything_a_plan_depends_on(bundle: Path) -> None:
    key = engine_key(bundle, EngineRequest("franka"))
    assert key.compute_capability is None  # onnxruntime engines are not tied to a GPU
    variants = [replace(key, precision="fp16"), replace(key, batch=2),
                replace(key, embodiment="ur5e"), replace(key, model_sha256="0" * 64),
                replace(key, compute_capability="8.9"), replace(key, tensorrt="10.3.0"),
                replace(key, steps=4)]
    digests = {key.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1
    assert key.folder_name().startswith("franka-onnxruntime-fp32-b1-")


def test_builds_once_then_reuses(bundle: Path, tmp_path: Path) -> None:
    first = get_engine(bundle, EngineRequest("franka"), root=tmp_path, progress=False)
    m = read_manifest(first)
    assert m.verification["passed"] is True
    assert m.key == engine_key(bundle, EngineRequest("franka")).to_dict()
    stamp = (first / "context.onnx").stat().st_mtime_ns
    again = get_engine(bundle, EngineRequest("franka"), root=tmp_path, progress=False)
    assert again == first
    assert (first / "context.onnx").stat().st_mtime_ns == stamp  # not rebuilt


def test_stale_or_corrupt_entries_are_rebuilt(bundle: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    request = EngineRequest("franka")
    folder = get_engine(bundle, request, root=tmp_path, progress=False)
    # An entry whose recorded key differs (as after a TensorRT or GPU change) is rebuilt.
    data = json.loads((folder / "manifest.json").read_text())
    data["key"]["tensorrt"] = "8.6.1"
    (folder / "manifest.json").write_text(json.dumps(data))
    assert get_engine(bundle, request, root=tmp_path, progress=False) == folder
    assert "different key (tensorrt differ)" in capsys.readouterr().err
    assert read_manifest(folder).key["tensorrt"] is None
    # A corrupt file is rebuilt too, not a crash.
    (folder / "denoise.onnx").write_bytes(b"garbage")
    get_engine(bundle, request, root=tmp_path, progress=False)
    assert "does not match its sha256" in capsys.readouterr().err
    onnx.checker.check_model(str(folder / "denoise.onnx"))


def test_a_different_target_gets_its_own_entry(bundle: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate two machines sharing a cache: a fake key for a different GPU/TensorRT."""
    real = engine_key(bundle, EngineRequest("franka"))
    fake = replace(real, compute_capability="9.0", tensorrt="10.0.1")
    a = get_engine(bundle, EngineRequest("franka"), root=tmp_path, progress=False)
    monkeypatch.setattr(cache_mod, "engine_key", lambda *a, **k: fake)
    b = get_engine(bundle, EngineRequest("franka"), root=tmp_path, progress=False)
    assert a != b
    assert read_manifest(b).key["compute_capability"] == "9.0"
    assert read_manifest(a).key["compute_capability"] is None  # the other entry survives


def test_tensorrt_key_needs_tensorrt(bundle: Path) -> None:
    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is present here")
    with pytest.raises(UserError, match="needs NVIDIA TensorRT"):
        engine_key(bundle, EngineRequest("franka", backend="tensorrt"))


def test_default_engine_builds_into_the_cache_and_serves(bundle: Path, tmp_path: Path) -> None:
    model = default_engine("franka", model=bundle, cache=tmp_path)
    assert isinstance(model, WorldActionModel)
    assert model.backend.name == "onnxruntime"
    rng = np.random.default_rng(0)
    obs = Observation({c: rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
                       for c in ("front", "wrist")}, np.zeros(8, np.float32), "push", 0.0)
    chunk = model.policy(obs)
    assert chunk.actions.shape == (4, 10)
    assert np.isfinite(chunk.actions).all()
    entries = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # not locks
    assert len(entries) == 1  # one keyed entry
    with pytest.raises(UserError, match="pass --embodiment"):
        default_engine(model=bundle, cache=tmp_path)  # two domains: which one?


def test_flops_counted_from_matmul_and_conv_shapes(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 8])
    img = helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 6, 8, 8])
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 4], np.ones(32, np.float32))
    k = helper.make_tensor("k", TensorProto.FLOAT, [6, 3, 3, 3], np.ones(162, np.float32))
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], np.array([2, 5, 8]))
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["xr"]),  # hides static dims
             helper.make_node("MatMul", ["xr", "w"], ["y"]),
             helper.make_node("Conv", ["img", "k"], ["z"], strides=[2, 2], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [x, img], [y, z], [w, k, shape])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    flops = count_flops(path)
    assert flops["MatMul"] == 2 * 2 * 5 * 8 * 4
    assert flops["Conv"] == 2 * (6 * 8 * 8) * (3 * 3 * 3)
    assert flops["total"] == flops["MatMul"] + flops["Conv"]


def test_key_round_trips_through_json(bundle: Path) -> None:
    key = engine_key(bundle, EngineRequest("franka", batch=2))
    d = json.loads(json.dumps(key.to_dict()))
    assert EngineKey(**{**d, "cameras": tuple(d["cameras"])}) == key


def _build_in_child(bundle: str, root: str, out: str) -> None:
    from cosmos_policy.engine import export

    original, builds = export.export_engine, []

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        builds.append(1)
        return original(*args, **kwargs)

    export.export_engine = counting  # get_engine imports it from the module at call time
    folder = get_engine(bundle, EngineRequest("franka"), root=root, progress=False)
    Path(out).write_text(json.dumps({"folder": str(folder), "builds": len(builds)}))


def test_processes_starting_together_build_one_engine(bundle: Path, tmp_path: Path) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_build_in_child,
                         args=(str(bundle), str(tmp_path / "cache"), str(tmp_path / f"{i}.json")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    results = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(2)]
    assert results[0]["folder"] == results[1]["folder"]
    assert sum(r["builds"] for r in results) == 1  # the second waited and reused it
    assert read_manifest(Path(results[0]["folder"])).verification["passed"] is True
