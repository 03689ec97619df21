"""Why a message from the wire was refused, and a throttled log of refusals.

Every decoder in :mod:`cosmos_policy.transport` raises :class:`WireRejection` for bad
input; it carries a short machine-readable ``reason`` (``bad_encoding``, ``bad_size``,
``missing_joint``, ``non_finite``, ``out_of_order``, ...) and a sentence for people. The
transport catches it, counts it and logs at most one line per topic and reason per
interval, so a flood of bad messages neither crashes the node nor floods the log.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable

from cosmos_policy.errors import SpecError

log = logging.getLogger("cosmos_policy.transport")


class WireRejection(SpecError):
    """A message from the wire that does not fit; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class StampOrder:
    """Per-stream check that header stamps are finite and strictly increase."""

    def __init__(self) -> None:
        self._newest: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, stream: str, stamp: float) -> None:
        """Accept ``stamp`` (s) for ``stream`` or raise ``out_of_order`` / ``bad_stamp``."""
        if not math.isfinite(stamp):
            raise WireRejection("bad_stamp", f"{stream}: stamp {stamp} is not finite")
        with self._lock:
            newest = self._newest.get(stream, -math.inf)
            if stamp <= newest:
                raise WireRejection(
                    "out_of_order", f"{stream}: stamp {stamp:.9f} s not after {newest:.9f} s")
            self._newest[stream] = stamp

    def reset(self, stream: str | None = None) -> None:
        """Forget the newest stamp of one stream (or all), e.g. after a clock jump."""
        with self._lock:
            if stream is None:
                self._newest.clear()
            else:
                self._newest.pop(stream, None)


class RejectionLog:
    """Counts rejections per (topic, reason) and logs each pair at most once per interval."""

    def __init__(self, interval_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._clock = interval_s, clock
        self.counts: Counter[tuple[str, str]] = Counter()
        self._last_logged: dict[tuple[str, str], float] = {}
        self.last: str | None = None  # the newest "<topic>: <reason>: <detail>"
        self._lock = threading.Lock()

    def record(self, topic: str, rejection: WireRejection) -> bool:
        """Count one rejection; returns True when it was logged (not throttled)."""
        key = (topic, rejection.reason)
        now = self._clock()
        with self._lock:
            self.counts[key] += 1
            self.last = f"{topic}: {rejection}"
            last = self._last_logged.get(key)
            if last is not None and now - last < self.interval_s:
                return False
            self._last_logged[key] = now
            count = self.counts[key]
        log.warning("rejected a message on %s (%d so far): %s", topic, count, rejection)
        return True


__all__ = ["RejectionLog", "StampOrder", "WireRejection"]
