"""A Rerun recorder whose logging runs on its own writer thread.

The control loop's subscribers (and the simulator's camera hook) only copy a few arrays
into a bounded queue; encoding and writing happen on the writer thread, so a 100 Hz loop
pays microseconds per tick (benchmarks/viz_jitter.py). A full queue drops the item and
counts it (``dropped``) instead of blocking the loop. The writer keeps its share of the GIL
small: it wakes every ``FLUSH_S``, batches the per-tick rows and frames per entity and sends
each as one column, and sleeps briefly between calls (docs/VIZ.md, "Off the control
thread").

Entity paths (docs/VIZ.md), all on one timeline, ``sim_time`` (seconds of loop time)::

    camera/<name>                 Image, at the camera rate
    joints/commanded/<joint>      Scalars, the command sent, every tick
    joints/measured/<joint>       Scalars, the joint state the loop saw, every tick
    chunk/actions                 Tensor (horizon, action dim), when a chunk arrives
    chunk/latency_ms              Scalars, the chunk's inference latency
    chunk/queue_depth             Scalars, plans kept (2+ while two chunks blend)
    safety/modified               Scalars 0/1, every tick
    safety/reasons                TextLog, the reasons, when a command was modified
    watchdog/holding              Scalars 0/1, every tick
    latency/<stage>_ms            Scalars, per-tick stage latencies (sent at the end)

Each episode is its own recording (recording id ``<name>-seed<seed>``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.errors import UserError
from cosmos_policy.runtime.safety import SentCommand
from cosmos_policy.viz.rerun_batch import Batch, Pacer, warm_up

TIMELINE = "sim_time"
APPLICATION_ID = "cosmos-policy"
# The reasons the runtime's Watchdog names (runtime/safety.py), shown under watchdog/.
WATCHDOG_REASONS = frozenset({"stale_state", "stale_observation", "waiting_for_chunk",
                              "inference_overrun", "plan_exhausted"})


def require_rerun() -> Any:
    """The ``rerun`` module, or a UserError naming the extra that installs it."""
    try:
        import rerun
    except ImportError:
        raise UserError("--rerun needs rerun-sdk: pip install 'cosmos-policy[viz]'") from None
    return rerun


def episode_file(path: str | Path, seed: int, episodes: int) -> Path:
    """``path`` for a single episode; ``<stem>-seed<seed><suffix>`` beside it for several."""
    path = Path(path)
    return path if episodes == 1 else path.with_name(f"{path.stem}-seed{seed}{path.suffix}")


def open_recording(recording_id: str, *, path: str | Path | None = None,
                   connect: str | None = None, name: str | None = None) -> Any:
    """A ``rerun.RecordingStream`` to a file and/or a viewer, on the ``sim_time`` timeline
    alone (Rerun's log time and tick off)."""
    rr = require_rerun()
    rec = rr.RecordingStream(APPLICATION_ID, recording_id=recording_id)
    sinks = []
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sinks.append(rr.FileSink(str(path)))
    if connect is not None:
        sinks.append(rr.GrpcSink(connect))
    rec.set_sinks(*sinks)
    rec.set_log_time_enabled(False)
    rec.set_log_tick_enabled(False)
    if name:
        rec.send_recording_name(name)
    return rec


# How often the writer sends what it batched. Each flush is one ``send_columns`` per entity
# (~30) instead of one ``rec.log`` per value (~20 per 10 ms tick): the writer's time in
# rerun calls drops ~3x (benchmarks/viz_jitter.py), and a live viewer still sees the
# plots advance in 100 ms steps.
FLUSH_S = 0.1


class RerunRecorder:
    """One recording (an episode) to a ``.rrd`` file and/or a running viewer (``connect``,
    e.g. ``rerun+http://127.0.0.1:9876/proxy``).

    joint_names: names of the command's entries (joints then gripper), for the entity paths.
    The producer methods are cheap and thread-safe; :meth:`close` drains and flushes.
    """

    def __init__(self, recording_id: str, joint_names: Sequence[str], *,
                 path: str | Path | None = None, connect: str | None = None,
                 name: str | None = None, max_queue: int = 10_000) -> None:
        if path is None and connect is None:
            raise ValueError("RerunRecorder: give a path, connect, or both")
        self._rr = require_rerun()
        self.rec = open_recording(recording_id, path=path, connect=connect, name=name)
        self.joint_names = [str(j) for j in joint_names]
        self.dropped = 0
        self.errors = 0
        # The writer's footprint (benchmarks/viz_jitter.py): wall seconds inside rerun calls
        # and the writer thread's CPU seconds, set when it ends.
        self.busy_s = 0.0
        self.writer_cpu_s = 0.0
        self._pacer = Pacer()
        self._queue: queue.Queue[tuple] = queue.Queue(maxsize=max_queue)
        self._closing = threading.Event()
        self._path_cache: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        warm_up(self._rr, TIMELINE)
        self._thread = threading.Thread(target=self._drain, name="rerun-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producers
    def _put(self, item: tuple) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:  # never block the loop for a viewer
            self.dropped += 1

    def command(self, cmd: SentCommand, measured: np.ndarray | None = None,
                queue_depth: int | None = None) -> None:
        """One tick: the command sent, the joints measured and the plans kept."""
        self._put(("command", float(cmd.time), np.array(cmd.positions, np.float64),
                   tuple(cmd.reasons), None if measured is None else np.array(measured),
                   queue_depth))

    def image(self, camera: str, image: np.ndarray, t: float) -> None:
        """A camera frame at ``t``; the caller must not modify ``image`` afterwards."""
        self._put(("image", float(t), camera, image))

    def chunk(self, t: float, actions: np.ndarray, latency_s: float) -> None:
        """A chunk (horizon, D) that arrived at ``t`` after ``latency_s``."""
        self._put(("chunk", float(t), np.array(actions, np.float64), float(latency_s)))

    def scalars(self, path: str, t: float, value: float) -> None:
        self._put(("scalar", float(t), path, float(value)))

    def series(self, path: str, times: Sequence[float], values: Sequence[float]) -> None:
        """A whole column at once (e.g. a stage's latency per tick, sent at the end)."""
        self._put(("series", 0.0, path, np.asarray(times, np.float64),
                   np.asarray(values, np.float64)))

    def custom(self, t: float, write: Callable[[Any, Any], None]) -> None:
        """Run ``write(rerun, recording)`` on the writer thread at time ``t``."""
        self._put(("custom", float(t), write))

    # ------------------------------------------------------------------ writer
    def _drain(self) -> None:
        """The writer thread: every FLUSH_S (and at close) takes what is queued, batches
        the per-tick rows and sends them as columns."""
        batch, pacer = Batch(TIMELINE), self._pacer
        while True:
            # One wake-up per FLUSH_S rather than one per item: the writer takes the GIL
            # ~12 times a second, not ~200 (a wait with a timeout releases it).
            closing = self._closing.wait(FLUSH_S)
            t0, slept0 = time.perf_counter(), pacer.slept_s
            pacer.start()
            for _ in range(self._queue.qsize()):  # what is queued now, not what comes next
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._guard(self._write, item, batch)
                pacer.step()
            self._guard(batch.flush, self._rr, self.rec, pacer)
            pacer.end()
            self.busy_s += time.perf_counter() - t0 - (pacer.slept_s - slept0)
            if closing and self._queue.empty():
                self.writer_cpu_s = time.thread_time()
                return

    @property
    def longest_burst_s(self) -> float:
        """The writer's longest stretch of work between two sleeps (GIL held, mostly)."""
        return self._pacer.longest_s

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a viewer problem must not end the episode
            self.errors += 1

    def _write(self, item: tuple, batch: Batch) -> None:
        """Per-tick scalars, safety texts and camera frames go into ``batch`` (sent as
        columns by its flush); chunks (a Tensor takes no batch) and custom writes are
        logged at once."""
        rr, rec = self._rr, self.rec
        kind, t = item[0], item[1]
        if kind == "command":
            _, _, positions, reasons, measured, depth = item
            paths = self._paths(len(positions))
            batch.vector(paths[0], t, positions)
            if measured is not None:
                batch.vector(paths[1][:len(measured)], t, measured[:len(positions)])
            batch.scalar("safety/modified", t, float(bool(reasons)))
            if reasons:
                batch.text("safety/reasons", t, ", ".join(reasons))
            batch.scalar("watchdog/holding", t,
                         float(any(r in WATCHDOG_REASONS for r in reasons)))
            if depth is not None:
                batch.scalar("chunk/queue_depth", t, float(depth))
            return
        if kind == "scalar":
            batch.scalar(item[2], t, item[3])
            return
        if kind == "series":
            _, _, path, times, values = item
            rec.send_columns(path, indexes=[rr.TimeColumn(TIMELINE, duration=times)],
                             columns=rr.Scalars.columns(scalars=values))
            return
        if kind == "image" and batch.image(f"camera/{item[2]}", t, item[3]):
            return
        rec.set_time(TIMELINE, duration=t)
        if kind == "image":
            rec.log(f"camera/{item[2]}", rr.Image(item[3]))
        elif kind == "chunk":
            rec.log("chunk/actions", rr.Tensor(item[2], dim_names=["step", "action"]))
            batch.scalar("chunk/latency_ms", t, item[3] * 1e3)
        elif kind == "custom":
            item[2](rr, rec)

    def _paths(self, n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The commanded and measured entity paths of an ``n``-entry command (cached)."""
        paths = self._path_cache.get(n)
        if paths is None:
            names = self.joint_names if len(self.joint_names) == n else [
                f"j{i}" for i in range(n)]
            paths = (tuple(f"joints/commanded/{j}" for j in names),
                     tuple(f"joints/measured/{j}" for j in names))
            self._path_cache[n] = paths
        return paths

    def close(self) -> None:
        """Write what is queued, flush the sinks and stop the writer."""
        self._closing.set()
        self._thread.join()
        self.rec.flush()
        self.rec.disconnect()  # closes the file with its footer (the index readers use)


class ChunkTap:
    """Wraps an inference runner so every chunk the loop polls is also recorded."""

    def __init__(self, inner: Any, recorder: RerunRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def submit(self, obs: Any) -> None:
        self.inner.submit(obs)

    def poll(self, now: float) -> list[Any]:
        results = self.inner.poll(now)
        for r in results:
            self.recorder.chunk(now, r.chunk.actions, r.latency_s)
        return results

    def __getattr__(self, name: str) -> Any:  # busy, close, ... of the runner
        return getattr(self.inner, name)


def attach(loop: Any, recorder: RerunRecorder) -> None:
    """Record ``loop``: a subscriber for every command and a tap on its chunks. The
    subscriber runs on the control thread, so it only copies into the recorder's queue."""
    loop.inference = ChunkTap(loop.inference, recorder)

    def on_command(cmd: SentCommand) -> None:
        latest = loop.sync.latest_state()
        recorder.command(cmd, None if latest is None else latest[0], loop.scheduler.depth)

    loop.subscribe(on_command)


def send_stages(recorder: RerunRecorder, telemetry: Any, times: Sequence[float],
                stages: Sequence[str] = ("blending", "projection", "command", "tick")) -> None:
    """Per-tick stage latencies (ms) as ``latency/<stage>_ms`` columns on ``times``; a
    stage whose sample count is not one per tick is left out."""
    for stage in stages:
        values = telemetry.stage_values(stage)
        if len(values) == len(times) and len(times):
            recorder.series(f"latency/{stage}_ms", times, values * 1e3)


def attach_node(core: Any, recorder: RerunRecorder) -> None:
    """Record a policy node (``serve.node_core.PolicyNodeCore``) before it starts: its
    loop, the loop each ``~/reset`` builds anew, and every camera frame its transport
    accepts. The timeline is the node's clock (wall time, seconds since the epoch)."""
    attach(core.loop, recorder)
    build = core._build_loop

    def build_and_attach() -> Any:
        loop = build()
        attach(loop, recorder)
        return loop

    core._build_loop = build_and_attach  # reset() builds through the attribute
    core.transport.on_image(lambda cam, rgb, stamp: recorder.image(cam, rgb, stamp))


class RerunRobotWire:
    """A sim robot's wire that also logs to Rerun what it publishes (``camera/<name>``,
    ``joints/measured/<joint>``) and the commands it takes (``joints/commanded/<joint>``,
    the trajectory's last point, the forward command, the gripper joint's target), on
    the robot's stamps (wall time, seconds since the epoch)."""

    def __init__(self, inner: Any, recorder: RerunRecorder, joints: Sequence[str],
                 gripper: str = "gripper") -> None:
        self.inner, self.recorder, self.joints = inner, recorder, list(joints)
        self.gripper = gripper  # the name /joint_states gives the gripper joint

    def publish_images(self, images: dict[str, np.ndarray], stamp: float) -> None:
        self.inner.publish_images(images, stamp)
        for cam, img in images.items():
            self.recorder.image(cam, img, stamp)

    def publish_joints(self, names: list[str], positions: list[float],
                       velocities: list[float], stamp: float) -> None:
        self.inner.publish_joints(names, positions, velocities, stamp)
        for name, q in zip(names, positions, strict=False):
            self.recorder.scalars(f"joints/measured/{name}", stamp, q)

    def take(self, limit: int = 16) -> list[tuple[Any, ...]]:
        import time

        commands = self.inner.take(limit)
        now = time.time()
        for command in commands:
            if command[0] == "trajectory":
                pairs = zip(command[1], command[2], strict=False)
            elif command[0] == "forward":
                pairs = zip(self.joints, command[1], strict=False)
            else:
                pairs = zip([self.gripper], command[1][:1], strict=False)
            for name, q in pairs:
                self.recorder.scalars(f"joints/commanded/{name}", now, q)
        return commands

    def __getattr__(self, name: str) -> Any:  # prompt, episode, reset: not logged
        return getattr(self.inner, name)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.recorder.close()
