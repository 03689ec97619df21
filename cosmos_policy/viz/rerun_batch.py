"""The Rerun writer's batching (:mod:`cosmos_policy.viz.rerun_log`): per-entity rows kept
between flushes and sent as columns, and the pacing that hands the GIL to the loop thread.

Why (docs/VIZ.md, "Off the control thread"): the writer shares the GIL with the 100 Hz
control loop; one ``rec.log`` per value (~2,000 a second) kept it busy enough to make the
loop wait for the lock.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# A flush is ~25 calls of ~70 us, pure Python mostly: ~2 ms holding the GIL, long enough
# that the loop thread, waking for its tick, would wait for it (CPython hands the GIL over
# on request only after the 5 ms switch interval). So the writer sleeps YIELD_S whenever it
# has worked BURST_S since its last sleep: a sleep releases the GIL and a waiting thread
# takes it (``time.sleep(0)`` would not do: the writer takes it back first).
BURST_S = 0.0003
YIELD_S = 0.0002


class Pacer:
    """Sleeps the writer briefly after each rerun call once it has worked BURST_S; counts
    the time slept (not busy) and the longest stretch without a sleep."""

    def __init__(self) -> None:
        self.since = time.perf_counter()
        self.slept_s = 0.0
        self.longest_s = 0.0

    def start(self) -> None:
        """The writer woke: a stretch of work starts."""
        self.since = time.perf_counter()

    def end(self) -> None:
        """The writer goes to wait: the stretch ends here."""
        self.longest_s = max(self.longest_s, time.perf_counter() - self.since)

    def step(self) -> None:
        """After a rerun call: sleep YIELD_S if the stretch has reached BURST_S."""
        now = time.perf_counter()
        worked = now - self.since
        if worked >= BURST_S:
            self.longest_s = max(self.longest_s, worked)
            time.sleep(YIELD_S)
            self.since = time.perf_counter()
            self.slept_s += self.since - now


_COLOR_MODELS = {3: "RGB", 4: "RGBA"}  # channels of an (H, W, C) uint8 frame


class Batch:
    """Rows waiting to be sent, per entity: time (s) and value. ``vector`` keeps one row of
    several entities (a command's joints) as one array, split into columns at flush."""

    def __init__(self, timeline: str) -> None:
        self.timeline = timeline
        self.scalars: dict[str, tuple[list[float], list[float]]] = {}
        self.vectors: dict[tuple[str, ...], tuple[list[float], list[np.ndarray]]] = {}
        self.texts: dict[str, tuple[list[float], list[str]]] = {}
        self.images: dict[tuple[str, tuple[int, ...]], tuple[list[float], list[np.ndarray]]] = {}

    def image(self, path: str, t: float, image: np.ndarray) -> bool:
        """Keep an 8-bit L/RGB/RGBA frame; False for another kind (log it as it comes)."""
        shape = image.shape
        if image.dtype != np.uint8 or not (len(shape) == 2 or (
                len(shape) == 3 and shape[2] in _COLOR_MODELS)):
            return False
        rows = self.images.get((path, shape))
        if rows is None:
            rows = self.images[(path, shape)] = ([], [])
        rows[0].append(t)
        rows[1].append(image)
        return True

    def scalar(self, path: str, t: float, value: float) -> None:
        """One row of a Scalars entity."""
        rows = self.scalars.get(path)
        if rows is None:
            rows = self.scalars[path] = ([], [])
        rows[0].append(t)
        rows[1].append(value)

    def vector(self, paths: tuple[str, ...], t: float, values: np.ndarray) -> None:
        """One row of each Scalars entity of ``paths`` (``values[i]`` for ``paths[i]``)."""
        rows = self.vectors.get(paths)
        if rows is None:
            rows = self.vectors[paths] = ([], [])
        rows[0].append(t)
        rows[1].append(values)

    def text(self, path: str, t: float, text: str) -> None:
        """One row of a TextLog entity (level WARN)."""
        rows = self.texts.get(path)
        if rows is None:
            rows = self.texts[path] = ([], [])
        rows[0].append(t)
        rows[1].append(text)

    def flush(self, rr: Any, rec: Any, pacer: Pacer) -> None:
        """Send every entity's rows as one column on the timeline and forget them; after
        each call ``pacer.step()``."""
        scalars, vectors, texts, images = self.scalars, self.vectors, self.texts, self.images
        self.scalars, self.vectors, self.texts, self.images = {}, {}, {}, {}

        def send(path: str, times: Any, columns: Any) -> None:
            rec.send_columns(path, indexes=[times], columns=columns)
            pacer.step()

        def timeline(times: list[float]) -> Any:
            # Nanoseconds rounded as ``set_time(duration=t)`` rounds them (TimeColumn would
            # truncate float seconds): a row lands where a per-item log put it.
            ns = np.round(np.array(times, np.float64) * 1e9).astype(np.int64)
            return rr.TimeColumn(self.timeline, duration=ns.astype("timedelta64[ns]"))

        for paths, (times, rows) in vectors.items():
            table = np.array(rows, np.float64)  # (rows, entities)
            t = timeline(times)  # one time column for the command's entities
            for j, path in enumerate(paths):
                send(path, t, rr.Scalars.columns(scalars=table[:, j]))
        for path, (times, values) in scalars.items():
            send(path, timeline(times), rr.Scalars.columns(scalars=np.array(values, np.float64)))
        for path, (times, text) in texts.items():
            send(path, timeline(times),
                 rr.TextLog.columns(text=text, level=["WARN"] * len(text)))
        for (path, shape), (times, frames) in images.items():
            # The components rr.Image(frame) logs: the pixels and their format.
            fmt = rr.components.ImageFormat(
                width=shape[1], height=shape[0], channel_datatype="U8",
                color_model="L" if len(shape) == 2 else _COLOR_MODELS[shape[2]])
            send(path, timeline(times), rr.Image.columns(
                buffer=[f.ravel() for f in frames], format=[fmt] * len(frames)))


def warm_up(rr: Any, timeline: str) -> None:
    """Build (and drop) one of each column and archetype the writer sends: rerun imports
    their modules on first use, tens of ms holding the GIL (viz_jitter's first run showed
    a 70 ms stretch); here that happens on the caller's thread, before the loop starts."""
    one = np.zeros(1)
    rr.TimeColumn(timeline, duration=np.zeros(1, "timedelta64[ns]"))
    rr.Scalars.columns(scalars=one)
    rr.TextLog.columns(text=["x"], level=["WARN"])
    fmt = rr.components.ImageFormat(width=1, height=1, color_model="RGB", channel_datatype="U8")
    rr.Image.columns(buffer=[np.zeros(3, np.uint8)], format=[fmt])
    rr.Tensor(np.zeros((1, 1)), dim_names=["step", "action"])
