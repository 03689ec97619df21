"""``eval --rerun``: the recording loads back with Rerun's own reader and holds the entity
paths docs/VIZ.md documents, one row per tick (or frame, or chunk), on ``sim_time`` alone."""

from __future__ import annotations

import builtins
import json
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest

from cosmos_policy.cli import main
from cosmos_policy.errors import UserError

FRANKA = [f"joint{i}" for i in range(1, 8)] + ["gripper"]


def _read(path):
    from rerun.chunk import RrdReader

    with warnings.catch_warnings():  # a file closed without its footer warns: fail on it
        warnings.simplefilter("error")
        reader = RrdReader(path)
    rows: Counter[str] = Counter()
    times: dict[str, list[int]] = defaultdict(list)
    timelines: dict[str, set[str]] = defaultdict(set)
    for chunk in reader.stream():
        if chunk.is_static:
            continue
        rows[chunk.entity_path] += chunk.num_rows
        timelines[chunk.entity_path].update(chunk.timeline_names)
        batch = chunk.to_record_batch()
        times[chunk.entity_path] += batch.column("sim_time").cast("int64").to_pylist()
    return reader, rows, times, timelines


def test_eval_episode_recording_reads_back(tmp_path):
    pytest.importorskip("rerun")
    rrd = tmp_path / "episode.rrd"
    assert main(["eval", "--task", "reach", "--embodiment", "franka", "--episodes", "1",
                 "--model", "oracle", "--lockstep", "--max-steps", "10", "--videos", "0",
                 "--out", str(tmp_path / "out"), "--rerun", str(rrd)]) == 0
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    episode = report["per_episode"][0]
    commands, steps = episode["commands"], episode["steps"]
    assert commands > steps > 0

    reader, rows, times, timelines = _read(rrd)
    [rec] = reader.recordings()
    assert rec.recording_id == "reach-franka-seed0"
    per_tick = ([f"/joints/commanded/{j}" for j in FRANKA]
                + [f"/joints/measured/{j}" for j in FRANKA]
                + ["/safety/modified", "/watchdog/holding", "/chunk/queue_depth",
                   "/latency/tick_ms", "/latency/blending_ms", "/latency/projection_ms",
                   "/latency/command_ms"])
    for path in per_tick:
        assert rows[path] == commands, path
    per = commands // steps  # command ticks per policy step (the camera rate)
    for cam in ("/camera/front", "/camera/wrist"):
        assert rows[cam] == -(-commands // per), cam
    assert 0 < rows["/chunk/actions"] == rows["/chunk/latency_ms"] <= steps
    assert 0 < rows["/safety/reasons"] <= commands
    # one timeline; the ticks at k / command rate (10 ms for the franka)
    assert all(t == {"sim_time"} for t in timelines.values()), dict(timelines)
    ticks = sorted(times["/joints/commanded/joint1"])
    np.testing.assert_array_equal(np.diff(ticks), np.full(commands - 1, ticks[1] - ticks[0]))
    assert ticks[0] == 0
    assert ticks[1] == 10_000_000
    # the layout of docs/VIZ.md's screenshot shows only entities the recording holds
    from cosmos_policy.viz.rerun_blueprint import main as write_blueprint

    assert write_blueprint([str(tmp_path / "episode.rbl"), "--embodiment", "franka"]) == 0
    shown = _blueprint_paths(tmp_path / "episode.rbl")
    assert {f"/joints/{k}/{j}" for k in ("commanded", "measured") for j in FRANKA} <= shown
    assert {"/camera/front", "/camera/wrist", "/chunk/actions"} <= shown
    missing = {p for p in shown if not any(r == p or r.startswith(p + "/") for r in rows)}
    assert not missing  # an entity, or a parent of some (a view's origin)


def _blueprint_paths(rbl) -> set[str]:
    """The entity paths a blueprint's views name (origins and explicit contents)."""
    from rerun.chunk import RrdReader

    reader = RrdReader(rbl)
    [store] = reader.blueprints()
    assert store.application_id == "cosmos-policy"  # what our recordings are filed under
    paths: set[str] = set()
    for chunk in reader.stream(store=store):
        batch = chunk.to_record_batch()
        for col in ("ViewBlueprint:space_origin", "ViewContents:query"):
            if col in batch.column_names:
                for row in batch.column(col).to_pylist():
                    paths.update(p for p in row or () if p.startswith("/") and p != "/")
    return paths


def test_rerun_missing_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_rerun(name, *args, **kwargs):
        if name == "rerun" or name.startswith("rerun."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rerun)
    from cosmos_policy.viz.rerun_log import require_rerun

    with pytest.raises(UserError, match=r"cosmos-policy\[viz\]"):
        require_rerun()


def test_rerun_refuses_workers(tmp_path, capsys):
    assert main(["eval", "--task", "reach", "--episodes", "2", "--model", "oracle",
                 "--workers", "2", "--out", str(tmp_path / "o"),
                 "--rerun", str(tmp_path / "x.rrd")]) != 0
    assert "use --workers 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_eval_dynamics_recording_has_imagined_beside_simulated_frames(tmp_path):
    pytest.importorskip("rerun")
    rrd = tmp_path / "dyn.rrd"
    out = tmp_path / "out"
    assert main(["eval-dynamics", "--mode", "forward", "--task", "reach", "--episodes", "1",
                 "--max-steps", "12", "--out", str(out), "--rerun", str(rrd)]) == 0
    result = json.loads((out / "forward_dynamics.json").read_text())
    reader, rows, times, timelines = _read(rrd)
    [rec] = reader.recordings()
    assert rec.recording_id == "reach-franka-dynamics-seed0"
    horizon = int(result["horizon"])
    for cam in ("front", "wrist"):
        assert rows[f"/dynamics/{cam}/simulator"] == 13  # the expert's 12 steps + the start
        imagined = sorted(times[f"/dynamics/{cam}/imagined"])
        assert imagined  # one per window, at a step the simulator's frames also have
        assert set(imagined) <= set(times[f"/dynamics/{cam}/simulator"])
        assert imagined[0] == horizon * 100_000_000  # window 0 + horizon, at 10 Hz
    assert rows["/action/expert/a0"] == 12
    assert all(t == {"sim_time"} for t in timelines.values())


def test_label_recording_has_inferred_actions_and_confidence_beside_frames(tmp_path):
    pytest.importorskip("rerun")
    from cosmos_policy.data import open_dataset
    from cosmos_policy.engine.testing import tiny_bundle
    from cosmos_policy.label import testing as T

    bundle = tiny_bundle(tmp_path / "bundle")
    src = T.hdf5_file(tmp_path / "demo.hdf5", episodes=1, length=9)
    rrd = tmp_path / "label.rrd"
    assert main(["label", str(src), "--out", str(tmp_path / "out"), "--embodiment", "franka",
                 "--model", str(bundle), "--samples", "2", "--steps", "2", "--no-cycle",
                 "--rerun", str(rrd)]) == 0
    data = open_dataset(tmp_path / "out")
    ep = data.episode(0)
    n, dims = ep["action"].shape
    reader, rows, times, timelines = _read(rrd)
    [rec] = reader.recordings()
    assert rec.recording_id == "label-episode0"
    inferred = [p for p in rows if p.startswith("/action/inferred/")]
    assert len(inferred) == dims
    assert all(rows[p] == n for p in inferred)
    assert rows["/action/confidence"] == n
    cams = [p for p in rows if p.startswith("/camera/")]
    assert cams
    assert all(rows[p] == n for p in cams)
    expected = np.asarray(ep["timestamp"], np.float64) * 1e9  # float32 in the dataset
    np.testing.assert_allclose(sorted(times["/action/confidence"]), expected, atol=100)
    assert all(t == {"sim_time"} for t in timelines.values())


def test_eval_several_episodes_one_recording_file_each(tmp_path):
    pytest.importorskip("rerun")
    rrd = tmp_path / "ep.rrd"
    assert main(["eval", "--task", "reach", "--episodes", "2", "--seed", "3", "--model",
                 "oracle", "--lockstep", "--max-steps", "2", "--videos", "0",
                 "--out", str(tmp_path / "out"), "--rerun", str(rrd)]) == 0
    assert not rrd.exists()
    for seed in (3, 4):
        reader, rows, _, _ = _read(tmp_path / f"ep-seed{seed}.rrd")
        [rec] = reader.recordings()
        assert rec.recording_id == f"reach-franka-seed{seed}"
        assert rows["/joints/commanded/joint1"] > 0


def test_writer_batches_per_tick_rows_and_close_flushes_them(tmp_path):
    """The writer sends per-tick scalars as columns (not one ``log`` per value), and what
    it batched when ``close`` comes is written: every tick's row, at its time."""
    pytest.importorskip("rerun")
    from cosmos_policy.runtime import SentCommand
    from cosmos_policy.viz.rerun_log import RerunRecorder

    rrd = tmp_path / "batch.rrd"
    recorder = RerunRecorder("batch", FRANKA, path=rrd)
    calls: Counter[str] = Counter()
    rec = recorder.rec

    class Spy:  # counts the writer's calls into the recording stream
        def __getattr__(self, name):
            calls[name] += 1
            return getattr(rec, name)

    recorder.rec = Spy()
    n, state = 150, np.linspace(0.0, 0.7, len(FRANKA))
    for k in range(n):
        reasons = ("velocity",) if k % 3 == 0 else ()
        # at k / 300 s: nanoseconds that round up (2/300 s -> 6_666_667 ns), as per-item
        # logs put them; truncating them would shift rows by 1 ns
        recorder.command(SentCommand(k / 300, state + k, state[:-1], reasons), state - k, 2)
    recorder.close()  # at once: the last batch is still on the writer when close comes
    recorder.rec = rec
    assert recorder.errors == recorder.dropped == 0
    assert calls["log"] == 0  # no per-value log: scalars and texts went as columns
    per_flush = 2 * len(FRANKA) + 4  # the entities of a command
    assert 0 < calls["send_columns"] <= per_flush * (1 + n // 8)

    reader, rows, times, timelines = _read(rrd)
    for j in FRANKA:
        assert rows[f"/joints/commanded/{j}"] == rows[f"/joints/measured/{j}"] == n
    for path in ("/safety/modified", "/watchdog/holding", "/chunk/queue_depth"):
        assert rows[path] == n, path
    assert rows["/safety/reasons"] == n // 3
    expected = [round(k / 300 * 1e9) for k in range(n)]
    assert sorted(times["/joints/commanded/joint1"]) == expected
    values = {}
    for chunk in reader.stream():
        if chunk.entity_path == "/joints/measured/joint7":
            batch = chunk.to_record_batch()
            ts = batch.column("sim_time").cast("int64").to_pylist()
            vs = batch.column("Scalars:scalars").to_pylist()
            values.update(zip(ts, (v[0] for v in vs), strict=True))
    assert values[expected[5]] == pytest.approx(state[6] - 5)
