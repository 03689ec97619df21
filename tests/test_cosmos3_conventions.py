"""Cosmos 3 conventions as NVIDIA publishes them, checked through the adapter's action path.

Vectors come from NVIDIA's published behaviour, not from our code:

* cosmos-framework ``pose_utils`` (``backward_framewise``): a per-frame delta is
  ``dT_i = T_i^-1 T_{i+1}``, so poses chain as ``T_{i+1} = T_i dT_i`` (gripper frame);
* the DROID RoboLab server sends ``1 - gripper`` to the model and returns ``1 - gripper``;
* DROID statistics ship flat as ``{"q01": [...], "q99": [...]}``;
* the technical report samples the policy with 4 steps, guidance 3, shift 5 and dynamics
  with 50 steps, guidance 1, shift 5, the system prompt off, DROID at 15 fps.

A stand-in pipeline (no weights) records what the adapter asks of diffusers; nothing here
runs a transformer, so the file stays fast.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers.pipelines.cosmos.pipeline_cosmos3_omni",
                    reason="diffusers >= 0.42 with Cosmos3OmniPipeline is not installed")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.errors import UserError  # noqa: E402
from cosmos_policy.models.cosmos3 import Cosmos3WAM  # noqa: E402
from cosmos_policy.models.cosmos3_load import stated_sampling  # noqa: E402
from cosmos_policy.models.cosmos3_stats import load_statistics, parse_statistics  # noqa: E402
from cosmos_policy.spec import Observation  # noqa: E402

ID6 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # rot6d of the identity: first two columns of I
YAW90 = [0.0, 1.0, 0.0, -1.0, 0.0, 0.0]  # Rz(90 deg): columns (0, 1, 0) and (-1, 0, 0)


class FakePipe:
    """Records the pipeline's keyword arguments; returns ``actions`` as its prediction."""

    def __init__(self, actions: np.ndarray | None = None) -> None:
        from diffusers import UniPCMultistepScheduler

        self.vae = SimpleNamespace(config=SimpleNamespace(scale_factor_temporal=4))
        self.scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction",
                                                 use_flow_sigmas=True, flow_shift=3.0)
        self.actions = np.zeros((16, 10), np.float32) if actions is None else actions
        self.calls: list[dict[str, Any]] = []

    def __call__(self, prompt: str, **kw: Any) -> Any:
        import torch

        self.calls.append({**kw, "flow_shift": self.scheduler.config.flow_shift})
        n = kw["action"].chunk_size
        video = np.zeros((n + 1, 8, 8, 3), np.float32)
        return SimpleNamespace(action=[torch.from_numpy(self.actions[:n])], video=video)


def _stats(representation: str = "delta", domain: str = "droid_lerobot"):
    # q01 = -1, q99 = 1 on every channel: normalisation is the identity, so the vectors
    # below are the model's raw values
    return parse_statistics({"domains": {domain: {
        "normalization": "quantile", "representation": representation,
        "q01": [-1.0] * 10, "q99": [1.0] * 10}}}, domain)


def _wam(pipe: Any = None, representation: str = "delta", domain: str = "droid_lerobot",
         **kw: Any) -> Cosmos3WAM:
    emb = load_embodiment("franka")
    return Cosmos3WAM(pipe or FakePipe(), emb, _stats(representation, domain), domain=domain,
                      **kw)


def _state(gripper: float = 0.2) -> np.ndarray:
    return np.concatenate([load_embodiment("franka").home, [gripper]]).astype(np.float32)


def _obs(gripper: float = 0.2) -> Observation:
    img = np.zeros((64, 64, 3), np.uint8)
    return Observation({"front": img, "wrist": img}, _state(gripper), "pick", 0.0)


def test_sixteen_one_centimetre_deltas_move_sixteen_centimetres() -> None:
    wam = _wam()
    deltas = np.tile([0.01, 0.0, 0.0, *ID6, 0.5], (16, 1))
    out = wam._from_model(deltas, _state())
    pose = wam._pose_at(_state())
    moved = np.linalg.norm(out[:, :3] - pose[:3], axis=1)
    np.testing.assert_allclose(moved, 0.01 * np.arange(1, 17), atol=1e-6)
    assert moved[-1] == pytest.approx(0.16, abs=1e-6)


def test_a_yaw_then_a_step_moves_along_the_rotated_axis() -> None:
    wam = _wam()
    deltas = np.array([[0.0, 0.0, 0.0, *YAW90, 0.5], [0.01, 0.0, 0.0, *ID6, 0.5]])
    out = wam._from_model(deltas, _state())
    from cosmos_policy.geometry import matrix_from_rot6d

    pose = wam._pose_at(_state())
    r0 = matrix_from_rot6d(pose[3:9])
    # the gripper's own y axis after a 90-degree yaw is where its x axis points
    np.testing.assert_allclose(out[1, :3] - pose[:3], r0 @ [0.0, 0.01, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[0, :3], pose[:3], atol=1e-6)  # a pure rotation stays put


def test_the_actions_path_round_trips_through_the_model() -> None:
    wam = _wam()
    deltas = np.array([[0.01, 0.0, 0.0, *YAW90, 0.3], [0.0, 0.02, 0.0, *ID6, 0.6]])
    absolute = wam._from_model(deltas, _state())
    np.testing.assert_allclose(wam._to_model(absolute.astype(np.float64), _state()), deltas,
                               atol=1e-5)


def test_droid_gripper_is_flipped_going_in_and_coming_out() -> None:
    wam = _wam(representation="absolute")
    pose = wam._pose_at(_state(0.2)).copy()
    assert pose[9] == pytest.approx(0.2)
    to_model = wam._to_model(pose[None].astype(np.float64), _state(0.2))
    assert to_model[0, 9] == pytest.approx(0.8)
    back = wam._from_model(np.array(to_model, np.float64), _state(0.2))
    assert back[0, 9] == pytest.approx(0.2)
    kept = _wam(representation="absolute", gripper_flip=False)
    assert kept._to_model(pose[None].astype(np.float64), _state(0.2))[0, 9] == pytest.approx(0.2)
    assert not _wam(representation="absolute", domain="robomind-franka").gripper_flip


def test_both_statistics_layouts_load_and_a_wrong_one_is_one_line(tmp_path: Path) -> None:
    flat = tmp_path / "droid_stats.json"
    flat.write_text(json.dumps({"q01": [-0.02] * 10, "q99": [0.03] * 10,
                                "mean": [0.0] * 10, "std": [0.01] * 10}))
    s = load_statistics(flat, "droid_lerobot")
    assert (s.kind, s.representation, s.dim) == ("quantile", "delta", 10)
    np.testing.assert_allclose(s.normalize(np.full(10, 0.03)), 1.0, atol=1e-6)
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"domains": {"droid_lerobot": {
        "normalization": "min_max", "representation": "absolute",
        "min": [0.0] * 10, "max": [2.0] * 10}}}))
    assert load_statistics(ours, "droid_lerobot").kind == "min_max"
    for bad in ({"mean": [0.0] * 10}, [1, 2, 3], {"domains": {"droid_lerobot": 3}}):
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps(bad))
        with pytest.raises(UserError) as err:
            load_statistics(wrong, "droid_lerobot")
        assert "\n" not in str(err.value)
        assert "wrong.json" in str(err.value)


def test_sampling_defaults_follow_the_report_and_are_overridable() -> None:
    wam = _wam()
    got = {m: dataclasses.astuple(s) for m, s in wam.sampling.items()}
    assert got == {"policy": (4, 3.0, 5.0, False), "forward_dynamics": (50, 1.0, 5.0, False),
                   "inverse_dynamics": (50, 1.0, 5.0, False)}
    assert wam.fps == 15.0
    assert wam.dt == pytest.approx(1 / 15)
    mine = _wam(steps=2, guidance_scale=1.5, shift=2.0, system_prompt=True, fps=10.0)
    assert {dataclasses.astuple(s) for s in mine.sampling.values()} == {(2, 1.5, 2.0, True)}
    assert mine.fps == 10.0
    other = _wam(domain="robomind-franka")  # no published rate: the embodiment's
    assert other.fps == load_embodiment("franka").control_rate_hz
    with pytest.raises(UserError, match="steps >= 1"):
        _wam(steps=0)


def test_the_checkpoint_states_its_own_sampling(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps(
        {"_class_name": "Cosmos3OmniPipeline", "num_steps": 8, "guidance": 2.0}))
    (tmp_path / "config.json").write_text(json.dumps({"conditioning_fps": 12, "shift": 7.0}))
    stated = stated_sampling(tmp_path)
    assert stated == {"steps": 8.0, "guidance_scale": 2.0, "shift": 7.0, "fps": 12.0}
    wam = _wam(stated=stated)
    assert dataclasses.astuple(wam.sampling["policy"]) == (8, 2.0, 7.0, False)
    assert dataclasses.astuple(wam.sampling["inverse_dynamics"]) == (50, 1.0, 7.0, False)
    assert wam.fps == 12.0
    assert _wam(stated=stated, steps=3).sampling["policy"].steps == 3  # the caller wins


def test_policy_calls_stop_at_latents_unless_frames_are_asked_for() -> None:
    pipe = FakePipe()
    _wam(pipe, chunk_size=16).policy(_obs())
    call = pipe.calls[-1]
    assert call["output_type"] == "latent"
    assert (call["num_inference_steps"], call["guidance_scale"]) == (4, 3.0)
    assert call["use_system_prompt"] is False
    assert call["fps"] == 15.0
    assert call["flow_shift"] == 5.0
    chunk = _wam(pipe, chunk_size=16, return_future_frames=True).policy(_obs())
    assert pipe.calls[-1]["output_type"] == "np"
    assert chunk.future_frames["front"].shape == (16, 64, 64, 3)
    wam = _wam(pipe, chunk_size=4)
    wam.forward_dynamics(_obs(), wam._from_model(np.tile([0.0] * 3 + ID6 + [0.5], (4, 1)),
                                                 _state()))
    call = pipe.calls[-1]
    assert (call["output_type"], call["num_inference_steps"], call["guidance_scale"]) == (
        "np", 50, 1.0)


def test_ros_parameters_keep_the_defaults_unless_set() -> None:
    from cosmos_policy.models.cosmos3_use import Cosmos3Options

    params = {"cosmos3_domain": "", "cosmos3_dtype": "auto", "cosmos3_device": "auto",
              "cosmos3_chunk": 16, "cosmos3_steps": 0, "cosmos3_guidance": 0.0,
              "cosmos3_shift": 0.0, "cosmos3_fps": 0.0, "cosmos3_gripper_flip": "auto",
              "cosmos3_stats": ""}
    assert Cosmos3Options.from_parameters(params.get) == Cosmos3Options()
    params.update(cosmos3_steps=8, cosmos3_shift=3.0, cosmos3_gripper_flip="off",
                  cosmos3_stats="/tmp/droid.json")
    opts = Cosmos3Options.from_parameters(params.get)
    assert (opts.steps, opts.shift, opts.gripper_flip, opts.stats) == (
        8, 3.0, False, "/tmp/droid.json")
    with pytest.raises(UserError, match="cosmos3_gripper_flip"):
        Cosmos3Options.from_parameters({**params, "cosmos3_gripper_flip": "maybe"}.get)


def test_stats_without_a_cosmos3_model_is_refused() -> None:
    import argparse

    from cosmos_policy.models.cosmos3_use import options_from_args

    args = argparse.Namespace(model="random", stats="droid_stats.json")
    with pytest.raises(UserError, match="--stats is for a Cosmos 3 checkpoint folder"):
        options_from_args(args)
    assert options_from_args(argparse.Namespace(model="random", stats=None)) is None
