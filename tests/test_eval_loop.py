"""Closed-loop evaluation through the runtime: report files, safety of every command,
lockstep reproducibility, an oracle that proves the loop, parallel episodes, eval-dynamics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from cosmos_policy.cli import main  # noqa: E402
from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.engine.testing import tiny_bundle  # noqa: E402
from cosmos_policy.sim.eval_runner import run_episodes  # noqa: E402
from cosmos_policy.sim.evaluate import EvalConfig, Evaluator  # noqa: E402
from cosmos_policy.sim.suite import load_suite  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "bundle")


def test_eval_tiny_model_end_to_end_commands_stay_safe(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    rc = main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "2",
               "--model", str(bundle), "--backend", "torch", "--lockstep", "--max-steps", "8",
               "--image-size", "32", "--videos", "1", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "eval.json").read_text())
    for name in ("latency.png", "jitter.png", "videos/seed0.mp4"):
        assert (out / name).stat().st_size > 1000, name
    assert not (out / "videos/seed1.mp4").exists()
    assert report["episodes"] == 2
    assert [e["seed"] for e in report["per_episode"]] == [0, 1]
    assert report["per_task"]["reach/franka"]["ci95"][1] > 0
    assert report["telemetry"]["model_wall"]["count"] >= 2
    # Lockstep charges every model call its simulated latency: one inference record per
    # chunk the loop received, as many as the model's wall-clock timings.
    chunks = sum(e["chunks"] for e in report["per_episode"])
    assert chunks >= 2
    assert report["telemetry"]["inference"]["count"] == chunks
    assert report["telemetry"]["model_wall"]["count"] == chunks
    assert report["safety"]["limits"]["ok"]
    # A random model commands random poses: the safety layer had work to do.
    assert report["safety"]["modified"] > 0
    # How failures failed: the task's own error per episode, and which cube the tcp ended at.
    failed = [e for e in report["per_episode"] if not e["success"]]
    assert report["failures"]["episodes"] == len(failed)
    reach_success_m = load_suite().tasks["reach"].success_distance
    for e in report["per_episode"]:
        # Success is the task's error below its threshold at a policy step: a failed
        # episode's closest step stayed outside it, a successful one ended inside it.
        if e["success"]:
            assert e["final_distance_m"] <= reach_success_m
        else:
            assert e["min_distance_m"] >= reach_success_m
        assert e["target_cube"] in e["prompt"]
        assert e["nearest_cube"] in ("red", "green", "blue")
        # Reach's error is the tcp-to-cube distance: the offset at the closest step has it.
        assert np.linalg.norm(e["closest_offset_m"]) == pytest.approx(e["min_distance_m"],
                                                                      abs=2e-4)
    assert failed  # an untrained model in 0.8 s does not reach a cube half a metre away
    off = np.array([e["closest_offset_m"] for e in failed])
    assert report["failures"]["closest_offset_xy_m_median"] == pytest.approx(
        np.median(np.linalg.norm(off[:, :2], axis=1)), abs=1e-4)
    assert report["failures"]["closest_offset_z_m_median"] == pytest.approx(
        np.median(off[:, 2]), abs=1e-4)


def test_every_command_within_limits_from_the_log(bundle: Path) -> None:
    emb = load_embodiment("franka")
    cfg = EvalConfig(task="reach", embodiment="franka", episodes=1, model=str(bundle),
                     backend="torch", lockstep=True, max_steps=8, image_size=32, videos=0)
    ev = Evaluator(cfg)
    try:
        run = ev.run_episode(5)
    finally:
        ev.close()
    q = np.asarray(run.log.commanded)[:, : emb.n_joints]
    assert len(q) == 8 * 10  # one command per physics period at 100 Hz
    lim = emb.position_limits
    assert np.all(q >= lim[:, 0])
    assert np.all(q <= lim[:, 1])
    step = np.abs(np.diff(q, axis=0))
    assert np.all(step <= emb.velocity_limits / emb.command_rate_hz + 1e-9)
    assert np.all(np.isfinite(np.asarray(run.log.actual)))


def test_lockstep_is_reproducible(bundle: Path) -> None:
    cfg = EvalConfig(task="reach", embodiment="franka", episodes=1, model=str(bundle),
                     backend="torch", lockstep=True, max_steps=6, image_size=32, videos=0)
    ev = Evaluator(cfg)
    try:
        a, b = ev.run_episode(3), ev.run_episode(3)
        c = ev.run_episode(4)
    finally:
        ev.close()
    assert np.array_equal(np.asarray(a.log.commanded), np.asarray(b.log.commanded))
    assert np.array_equal(np.asarray(a.log.actual), np.asarray(b.log.actual))
    assert not np.array_equal(np.asarray(a.log.commanded), np.asarray(c.log.commanded))


def test_an_episode_depends_on_its_own_seed_not_on_where_the_run_started(bundle: Path) -> None:
    # Seed 5 as the first episode of a run from 5 and as the third of a run from 3: the
    # sampler's noise must come from the episode's seed (it came from the run's first seed,
    # so `eval --seed 702 --episodes 1` and episode 702 of `--seed 700` differed).
    runs = []
    for first in (5, 3):
        cfg = EvalConfig(task="reach", embodiment="franka", episodes=1, model=str(bundle),
                         backend="torch", lockstep=True, max_steps=6, image_size=32, videos=0,
                         seed=first)
        ev = Evaluator(cfg)
        try:
            for s in range(first, 6):
                run = ev.run_episode(s)
            runs.append(run)
        finally:
            ev.close()
    a, b = runs
    assert a.seed == b.seed == 5
    assert np.array_equal(np.asarray(a.log.commanded), np.asarray(b.log.commanded))


def test_oracle_through_the_runtime_reaches() -> None:
    cfg = EvalConfig(task="reach", embodiment="franka", episodes=4, seed=10, model="oracle",
                     lockstep=True, image_size=32, videos=0)
    runs = run_episodes(cfg, progress=False)
    assert sum(r.success for r in runs) >= 3, [r.summary() for r in runs]
    for r in runs:
        if r.success:  # the distance the task judged success by, and the named cube
            assert r.distances_m[-1] < 0.03
            assert r.nearest_cube == r.target_cube
    # the loop, not a shortcut, moved the arm: every step went through the safety layer
    assert all(len(r.log.times) == r.steps * 10 for r in runs)


def test_state_feedback_oracle_picks_and_places_through_the_runtime() -> None:
    """``ExpertOracle(feedback="state")``: every chunk starts from the expert's answer from
    the measured state (no velocity, no memory of its commands), within one step of its
    velocity field of the tool, and through the lockstep runtime it still picks and places."""
    from cosmos_policy.sim.eval_models import ExpertOracle
    from cosmos_policy.sim.evaluate import Evaluator

    ev = Evaluator(EvalConfig(task="pick_place", embodiment="franka", episodes=1, seed=1,
                              model="oracle", lockstep=True, image_size=32, videos=0))
    leads = []
    try:
        oracle = ExpertOracle(ev.env, feedback="state")
        call = oracle.policy

        def policy(obs):  # noqa: ANN001, ANN202
            chunk = call(obs)
            leads.append(float(np.linalg.norm(chunk.actions[0, :3] - ev.env.scene.tcp_pos())))
            return chunk

        oracle.policy = policy
        ev.model.model = oracle
        run = ev.run_episode(1)
    finally:
        ev.close()
    assert run.success, run.summary()
    cfg = oracle.expert.cfg
    assert cfg.feedback == "state"
    assert max(leads) <= cfg.fast * cfg.state_lead / ev.emb.control_rate_hz + 2e-3


def test_oracle_asynchronous_inference_reaches() -> None:
    cfg = EvalConfig(task="reach", embodiment="franka", episodes=1, seed=20, model="oracle",
                     lockstep=False, image_size=32, videos=0)
    (run,) = run_episodes(cfg, progress=False)
    assert run.success, run.summary()
    assert run.wall_s >= 0.9 * run.sim_time_s  # paced to the wall clock
    assert run.stages["inference"].size >= 1


def test_workers_match_serial_in_lockstep() -> None:
    cfg = EvalConfig(task="reach", embodiment="franka", episodes=2, seed=30, model="oracle",
                     lockstep=True, image_size=32, videos=0, max_steps=12)
    serial = run_episodes(cfg, progress=False)
    pooled = run_episodes(cfg, workers=2, progress=False)
    assert [r.seed for r in pooled] == [30, 31]
    for a, b in zip(serial, pooled, strict=True):
        assert np.array_equal(np.asarray(a.log.commanded), np.asarray(b.log.commanded))


def test_ray_local_matches_serial() -> None:
    """A local Ray with 2 actors (about 10 s here)."""
    pytest.importorskip("ray")
    cfg = EvalConfig(task="reach", embodiment="franka", episodes=2, seed=40, model="oracle",
                     lockstep=True, image_size=32, videos=0, max_steps=10)
    serial = run_episodes(cfg, progress=False)
    remote = run_episodes(cfg, workers=2, ray_address="local", progress=False)
    for a, b in zip(serial, remote, strict=True):
        assert a.seed == b.seed
        assert a.success == b.success
        assert np.array_equal(np.asarray(a.log.commanded), np.asarray(b.log.commanded))


def test_eval_refuses_training_seeds_and_missing_model(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--task", "reach", "--seed", "999", "--episodes", "2",
                 "--model", "oracle", "--out", str(tmp_path)]) == 2
    assert "training seeds" in capsys.readouterr().err
    assert main(["eval", "--task", "reach", "--model", str(tmp_path / "nothing"),
                 "--episodes", "1", "--out", str(tmp_path)]) == 2
    for cmd in (["eval"], ["eval-dynamics", "--mode", "forward"]):
        assert main([*cmd, "--task", "reach", "--noise-scale", "1.5", "--episodes", "1",
                     "--out", str(tmp_path)]) == 2
        assert "--noise-scale must be in [0, 1]" in capsys.readouterr().err
    assert main(["eval", "--task", "reach", "--guidance", "-1", "--episodes", "1",
                 "--out", str(tmp_path)]) == 2
    assert "--guidance must be in [0, 20]" in capsys.readouterr().err
    assert main(["eval", "--task", "reach", "--model", "oracle", "--guidance", "2",
                 "--episodes", "1", "--lockstep", "--videos", "0", "--out", str(tmp_path)]) == 2
    assert "--guidance is the compact model's" in capsys.readouterr().err
    assert main(["eval", "--task", "reach", "--flow-steps", "0", "--out", str(tmp_path)]) == 2
    assert "--flow-steps must be between 1 and 1000" in capsys.readouterr().err
    assert main(["eval-dynamics", "--mode", "forward", "--task", "reach", "--static-threshold",
                 "300", "--out", str(tmp_path)]) == 2
    assert "--static-threshold 300: expected 0 to 255" in capsys.readouterr().err


def test_flow_steps_reach_the_sampler(bundle: Path) -> None:
    """--flow-steps is the model's Euler step count, and it changes the chunk (same seed)."""
    runs = {}
    for steps in (10, 2):
        cfg = EvalConfig(task="reach", embodiment="franka", episodes=1, model=str(bundle),
                         backend="torch", lockstep=True, max_steps=4, image_size=32, videos=0,
                         flow_steps=steps)
        ev = Evaluator(cfg)
        try:
            assert ev.model.model.steps == steps
            runs[steps] = np.asarray(ev.run_episode(3).log.commanded)
        finally:
            ev.close()
    assert runs[10].shape == runs[2].shape
    assert not np.array_equal(runs[10], runs[2])


@pytest.mark.parametrize("mode", ["forward", "inverse"])
def test_eval_dynamics_tiny_model_writes_json(bundle: Path, tmp_path: Path, mode: str) -> None:
    rc = main(["eval-dynamics", "--mode", mode, "--task", "reach", "--episodes", "1",
               "--model", str(bundle), "--backend", "torch", "--max-steps", "10",
               "--image-size", "32", "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / f"{mode}_dynamics.json").read_text())
    assert result["windows"] >= 1
    assert result["seeds"] == [0]
    if mode == "forward":
        assert 0 < result["psnr_db"] < 100
        assert result["baseline_copy_last_psnr_db"] > 0
        assert 0 < result["autoencoder_psnr_db"] < 100
        assert 0 < result["composed_psnr_db"] <= 100
        assert result["static_threshold"] == 16
        assert set(result["per_camera"]) == {"front", "wrist"}
        # equal windows per camera: the overall figure is the mean of the cameras'
        assert result["psnr_db"] == pytest.approx(
            np.mean([c["psnr_db"] for c in result["per_camera"].values()]), abs=2e-3)
        assert (tmp_path / "forward.mp4").stat().st_size > 1000
    else:
        assert set(result["dims"]) == {f"a{i}" for i in range(10)}
        assert result["mean_nmae"] > 0


def test_an_episode_the_simulator_aborts_is_a_failure_not_a_crash(monkeypatch) -> None:
    """mujoco.FatalError mid-episode ends that episode as a failure (counted as sim_errors);
    the next episode runs as usual."""
    import mujoco

    cfg = EvalConfig(task="reach", embodiment="franka", episodes=2, seed=50, model="oracle",
                     lockstep=True, image_size=32, videos=0)
    ev = Evaluator(cfg)
    try:
        step = ev.env.step_joint_targets
        calls = {"n": 0}

        def flaky(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 30:
                raise mujoco.FatalError("mj_narrowphase: collision function returned 9 contacts")
            return step(*args, **kwargs)

        monkeypatch.setattr(ev.env, "step_joint_targets", flaky)
        aborted = ev.run_episode(50)
        assert not aborted.success
        assert aborted.counters.get("sim_errors") == 1
        after = ev.run_episode(51)
        assert after.success
        assert "sim_errors" not in after.counters
    finally:
        ev.close()


def test_forward_eval_scores_each_camera_and_the_autoencoder_ceiling() -> None:
    """A model that predicts 'nothing moves' scores exactly the copy-last baseline; a lossless
    autoencoder sets no ceiling (100 dB); a camera that does not move scores 100 dB."""
    from cosmos_policy.models.config import WAMConfig
    from cosmos_policy.sim.eval_dynamics import ExpertEpisode, forward_eval

    rng = np.random.default_rng(0)
    n = 12
    moving = rng.integers(0, 256, (n + 1, 16, 16, 3), dtype=np.uint8)
    still = np.repeat(rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8), n + 1, axis=0)
    ep = ExpertEpisode(0, {"front": moving, "wrist": still}, np.zeros((n + 1, 8), np.float32),
                       np.zeros((n, 10), np.float32), "reach the red cube")

    class CopyLast:
        config = WAMConfig(chunk=4, horizon=4)

        def forward_dynamics(self, obs: object, actions: np.ndarray) -> dict[str, np.ndarray]:
            return {c: img[None] for c, img in obs.images.items()}  # type: ignore[attr-defined]

        def reconstruct(self, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {c: img[None] for c, img in images.items()}

    out = forward_eval(CopyLast(), [ep], stride=2)
    assert out["windows"] == 2 * 5  # windows t = 0, 2, 4, 6, 8 on two cameras
    assert out["psnr_db"] == out["baseline_copy_last_psnr_db"]
    assert out["gain_over_baseline_db"] == 0.0
    assert out["autoencoder_psnr_db"] == 100.0
    front, wrist = out["per_camera"]["front"], out["per_camera"]["wrist"]
    assert front["psnr_db"] == front["baseline_copy_last_psnr_db"] < 20  # random frames
    assert wrist["psnr_db"] == 100.0
    assert out["psnr_db"] == pytest.approx((front["psnr_db"] + 100.0) / 2, abs=2e-3)


def test_keep_static_keeps_observed_pixels_only_where_nothing_is_predicted_to_change() -> None:
    from cosmos_policy.models.autoencoder import keep_static

    observed = np.full((2, 2, 3), 100, np.uint8)
    decoded = np.full((2, 2, 3), 90, np.uint8)  # the autoencoder's blurred copy
    predicted = decoded.copy()
    predicted[0, 0] = (90, 90, 130)  # one channel moves by 40 levels: a predicted change
    predicted[1, 1] = (95, 85, 90)  # moves by 5: below the threshold
    out = keep_static(observed, predicted, decoded, threshold=16)
    assert out[0, 0].tolist() == [90, 90, 130]
    assert out[1, 1].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [100, 100, 100]
    assert np.array_equal(keep_static(observed, predicted, decoded, threshold=0), predicted)
    with pytest.raises(ValueError, match="expected uint8 frames"):
        keep_static(observed, predicted.astype(np.float32), decoded)
    with pytest.raises(ValueError, match="expected frames of one shape"):
        keep_static(observed, predicted[:1], decoded)
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        keep_static(observed, predicted, decoded, threshold=-1)


def test_forward_eval_composed_prediction_recovers_what_the_autoencoder_blurs() -> None:
    """An exact latent predictor behind a lossy autoencoder (+6 levels everywhere): the raw
    prediction is capped at the autoencoder's 32.6 dB, the composed one keeps the observed
    pixels of the still camera (100 dB) and the moving camera's prediction as it was."""
    from cosmos_policy.models.config import WAMConfig
    from cosmos_policy.sim.eval_dynamics import ExpertEpisode, forward_eval

    rng = np.random.default_rng(1)
    n = 8
    base = rng.integers(0, 80, (1, 16, 16, 3))
    moving = (base + 20 * np.arange(n + 1)[:, None, None, None]).astype(np.uint8)  # 80 / window
    still = np.repeat(rng.integers(0, 200, (1, 16, 16, 3), dtype=np.uint8), n + 1, axis=0)
    frames = {"front": moving, "wrist": still}
    ep = ExpertEpisode(0, frames, np.zeros((n + 1, 8), np.float32),
                       np.zeros((n, 10), np.float32), "push the red cube")

    def blur(images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {c: (img + 6)[None].astype(np.uint8) for c, img in images.items()}

    class ExactLatents:
        config = WAMConfig(chunk=4, horizon=4)

        def forward_dynamics(self, obs: object, actions: np.ndarray) -> dict[str, np.ndarray]:
            t = int(obs.timestamp)  # type: ignore[attr-defined]
            return blur({c: f[t + 4] for c, f in frames.items()})

        reconstruct = staticmethod(blur)

    out = forward_eval(ExactLatents(), [ep], stride=2)
    front, wrist = out["per_camera"]["front"], out["per_camera"]["wrist"]
    ae = 10 * np.log10(255 ** 2 / 36)
    assert wrist["psnr_db"] == pytest.approx(ae, abs=1e-3)
    assert wrist["composed_psnr_db"] == 100.0
    assert front["composed_psnr_db"] == pytest.approx(front["psnr_db"], abs=1e-3)
    assert out["composed_gain_over_baseline_db"] > out["gain_over_baseline_db"]
    off = forward_eval(ExactLatents(), [ep], stride=2, static_threshold=0)
    assert off["composed_psnr_db"] == off["psnr_db"]


def test_forward_eval_interval_is_over_episodes() -> None:
    """The 95 % interval resamples episodes: a model exact on one of three equal episodes
    and copying the last frame on the others gains 0 on 8 / 27 resamples and the full gain
    on 1 / 27 (both over 2.5 %), so the interval runs from 0 to that gain."""
    from cosmos_policy.models.config import WAMConfig
    from cosmos_policy.sim.eval_dynamics import ExpertEpisode, _psnr, forward_eval

    rng = np.random.default_rng(2)
    n = 8
    eps = [ExpertEpisode(seed, {"front": rng.integers(0, 256, (n + 1, 8, 8, 3), dtype=np.uint8)},
                         np.zeros((n + 1, 8), np.float32), np.zeros((n, 10), np.float32), "x")
           for seed in range(3)]

    class ExactOnFirst:
        config = WAMConfig(chunk=4, horizon=4)
        episode = 0

        def forward_dynamics(self, obs: object, actions: np.ndarray) -> dict[str, np.ndarray]:
            t = int(obs.timestamp)  # type: ignore[attr-defined]
            if t == 0:
                self.episode += 1
            frames = eps[self.episode - 1].frames["front"]
            return {"front": (frames[t + 4] if self.episode == 1 else frames[t])[None]}

    out = forward_eval(ExactOnFirst(), eps, stride=2)
    first = np.mean([100.0 - _psnr(eps[0].frames["front"][t], eps[0].frames["front"][t + 4])
                     for t in range(0, 5, 2)])
    assert out["gain_over_baseline_db"] == pytest.approx(first / 3, abs=2e-3)
    assert out["gain_ci95_db"] == pytest.approx([0.0, first], abs=2e-3)
    assert "composed_gain_ci95_db" not in out  # no autoencoder, nothing composed


def test_interval_weights_episodes_by_their_windows() -> None:
    """One long episode with no gain and four one-window episodes gaining 10 dB: the pooled
    gain is about 0.04 dB and its interval starts near 0, where an interval of per-episode
    means would start at several dB (resamples holding the long episode twice or more)."""
    from cosmos_policy.sim.eval_dynamics import _ci95

    lo, hi = _ci95([(0.0, 1000)] + [(10.0, 1)] * 4)
    assert 0.0 <= lo < 0.1
    assert hi == pytest.approx(10.0)
    assert _ci95([(3.0, 1)] * 5) == [3.0, 3.0]


def _fake_run(seed: int, success: bool, lateness: np.ndarray) -> object:
    from cosmos_policy.sim.evaluate import CommandLog, EpisodeRun

    log = CommandLog()
    for k in range(30):
        log.times.append(k * 0.01)
        log.commanded.append(np.full(8, 0.01 * k * (k % 3)))
        log.actual.append(np.full(7, 0.01 * k))
    frames = [np.zeros((32, 64, 3), np.uint8)] * 3
    return EpisodeRun(seed, success, 3, 0.3, 0.1, "reach the red cube", {}, {}, log, frames,
                      [0.0, 0.1, 0.2], lateness)


def test_jitter_plot_has_no_empty_lateness_panel_in_lockstep(tmp_path: Path) -> None:
    from PIL import Image

    from cosmos_policy.sim.report import plot_jitter

    lock = plot_jitter([_fake_run(0, True, np.zeros(0))], tmp_path / "lock.png", 0.01)
    paced = plot_jitter([_fake_run(0, True, np.full(30, 1e-3))], tmp_path / "paced.png", 0.01)
    assert Image.open(lock).size[0] < Image.open(paced).size[0]  # one panel, not two


def test_video_header_shows_the_outcome_in_colour() -> None:
    from cosmos_policy.sim.video import FAIL_RGB, OK_RGB, header

    def count(img: np.ndarray, rgb: tuple[int, int, int]) -> int:
        return int(np.all(np.abs(img.astype(int) - rgb) < 30, axis=-1).sum())

    ok = header(512, "reach the red cube", "seed 0", "SUCCESS", True)
    bad = header(512, "reach the red cube " * 20, "seed 0", "FAILED", False)
    assert ok.shape[1] == bad.shape[1] == 512
    assert count(ok, OK_RGB) > 20
    assert count(ok, FAIL_RGB) == 0
    assert count(bad, FAIL_RGB) > 20
    assert count(bad, OK_RGB) == 0


def test_episode_video_frames_carry_header_cameras_and_strip(tmp_path: Path,
                                                             monkeypatch) -> None:
    from cosmos_policy.sim import report

    written = {}
    monkeypatch.setattr("cosmos_policy.sim.video.write_video",
                        lambda path, frames, fps: written.setdefault("f", frames) and path)
    emb = load_embodiment("franka")
    report.write_episode_video(_fake_run(0, False, np.zeros(0)), tmp_path / "v.mp4",
                               emb.position_limits, 10.0, emb.joints)
    frames = written["f"]
    assert len(frames) == 3
    # header (> 30 px) + cameras upscaled to 512 wide (256 px tall) + the 200 px strip
    assert frames[0].shape[1] == 512
    assert frames[0].shape[0] > 256 + 200 + 30
