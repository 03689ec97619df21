"""Thin helpers over cyclonedds: a participant, ROS 2-named writers and readers, a poller.

:class:`Poller` drains readers from one thread: it waits on a WaitSet, takes samples one
at a time (so one malformed sample costs only itself) and hands each to its handler. A
handler that raises :class:`WireRejection` is counted and logged (throttled); anything
else raised by a handler is logged with its traceback and the poller keeps running, so
bad input never stops the node. A route may bound the serialized size of its samples: a
larger one is refused (``too_large``) before Python deserializes it, which for a 4K image
would hold the interpreter (and so the control loop) for about half a second and take
some 200 MB.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyclonedds.core import (
    DDSException,
    InstanceState,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.internal import InvalidSample
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from cosmos_policy.transport.naming import QosProfile, dds_topic
from cosmos_policy.transport.rejection import RejectionLog, WireRejection
from cosmos_policy.transport.xtypes import CREATION_LOCK, without_type_information

log = logging.getLogger("cosmos_policy.transport")

try:  # cyclonedds' take, before it deserializes (DataReader.take does both)
    from cyclonedds._clayer import ddspy_take as _take_serialized
except ImportError:  # pragma: no cover - another cyclonedds layout: no size bound
    _take_serialized = None
_ANY_STATE = SampleState.Any | ViewState.Any | InstanceState.Any

# Cyclone DDS on the loopback interface only, unicast discovery: for tests and benchmarks that
# run several participants on one machine without touching (or being seen by) the network.
LOOPBACK_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<CycloneDDS><Domain id="any">
  <General><Interfaces><NetworkInterface name="lo"/></Interfaces>
    <AllowMulticast>false</AllowMulticast></General>
  <Discovery><Peers><Peer address="127.0.0.1"/></Peers>
    <ParticipantIndex>auto</ParticipantIndex>
    <MaxAutoParticipantIndex>30</MaxAutoParticipantIndex></Discovery>
</Domain></CycloneDDS>
"""


def write_loopback_config(folder: str | Path) -> Path:
    """Write :data:`LOOPBACK_CONFIG` to ``folder/cyclonedds.xml``; point ``CYCLONEDDS_URI``
    at ``path.as_uri()`` to use it."""
    path = Path(folder) / "cyclonedds.xml"
    path.write_text(LOOPBACK_CONFIG)
    return path


def make_participant(domain_id: int, config: str | None = None) -> DomainParticipant:
    """A participant on ``domain_id``; ``config`` is Cyclone XML (else CYCLONEDDS_URI)."""
    if not 0 <= domain_id <= 232:
        raise ValueError(f"domain id {domain_id}: expected 0..232 (ROS_DOMAIN_ID range)")
    if config is not None:
        try:
            domain = Domain(domain_id, config)
        except DDSException as exc:
            # Cyclone configures a domain once per process; a second config cannot apply.
            raise ValueError(
                f"DDS domain {domain_id} already exists in this process with its own "
                "configuration; pass dds_config=None to share it") from exc
        # Keep the Domain alive as long as the participant: it holds the configuration.
        participant = DomainParticipant(domain_id)
        participant._cosmos_domain = domain  # noqa: SLF001
        return participant
    return DomainParticipant(domain_id)


class Endpoints:
    """Creates ROS 2-named topics (one per name and type) on one participant.

    Readers and writers announce no XTypes type information unless ``type_information``:
    peers then match them by type name, which is what lets Fast DDS 3 (ROS 2 Kilted)
    exchange types holding sequences with us (see ``transport/xtypes.py``).
    """

    def __init__(self, participant: DomainParticipant, node: str = "cosmos_policy",
                 namespace: str = "/", *, type_information: bool = False) -> None:
        self.participant, self.node, self.namespace = participant, node, namespace
        self.type_information = type_information
        self._topics: dict[tuple[str, type], Topic] = {}

    def topic(self, ros_name: str, msg_type: type, *, raw: bool = False) -> Topic:
        """The DDS topic for a ROS 2 topic name (``raw``: the name is already a DDS name)."""
        name = ros_name if raw else dds_topic(ros_name, self.node, self.namespace)
        existing = self._topics.get((name, msg_type))
        if existing is not None:
            return existing
        if any(n == name and t.__idl_typename__ != msg_type.__idl_typename__
               for n, t in self._topics):
            raise ValueError(f"topic {name} already has another type than "
                             f"{msg_type.__idl_typename__}")
        with CREATION_LOCK:
            topic = Topic(self.participant, name, msg_type)
        # Two layouts of one ROS 2 type may share a name (services: see services.py).
        self._topics[(name, msg_type)] = topic
        return topic

    def writer(self, ros_name: str, msg_type: type, profile: QosProfile, *,
               raw: bool = False) -> DataWriter:
        """A writer of ``msg_type`` on the ROS 2 topic (``raw``: a DDS topic name)."""
        topic = self.topic(ros_name, msg_type, raw=raw)
        if self.type_information:
            return DataWriter(self.participant, topic, qos=profile.to_dds())
        with without_type_information(topic):
            return DataWriter(self.participant, topic, qos=profile.to_dds())

    def reader(self, ros_name: str, msg_type: type, profile: QosProfile, *,
               raw: bool = False) -> DataReader:
        """A reader of ``msg_type`` on the ROS 2 topic (``raw``: a DDS topic name)."""
        topic = self.topic(ros_name, msg_type, raw=raw)
        if self.type_information:
            return DataReader(self.participant, topic, qos=profile.to_dds())
        with without_type_information(topic):
            return DataReader(self.participant, topic, qos=profile.to_dds())


@dataclass
class _Route:
    reader: DataReader
    condition: ReadCondition
    name: str
    handler: Callable[[Any], None]
    max_bytes: int | None = None


def take_one(reader: DataReader, max_bytes: int | None = None) -> list[Any]:
    """``reader.take(1)``, refusing a sample whose serialized form exceeds ``max_bytes``
    (:class:`WireRejection` ``too_large``, taken off the reader, never deserialized)."""
    if max_bytes is None or _take_serialized is None:
        return reader.take(1)
    taken = _take_serialized(reader._ref, _ANY_STATE, 1)  # noqa: SLF001
    if isinstance(taken, int):
        raise DDSException(taken, f"Occurred while taking data in {reader!r}")
    data_type = reader._topic.data_type  # noqa: SLF001
    samples: list[Any] = []
    for data, info in taken:
        if not info.valid_data:
            samples.append(InvalidSample(data_type.deserialize_key(data), info))
            continue
        if len(data) > max_bytes:
            raise WireRejection("too_large", f"{len(data)} bytes serialized, at most "
                                f"{max_bytes} expected on this topic")
        sample = data_type.deserialize(data)
        sample.sample_info = info
        samples.append(sample)
    return samples


class Poller:
    """Waits on all added readers and dispatches their samples to handlers."""

    def __init__(self, participant: DomainParticipant, rejections: RejectionLog | None = None,
                 max_per_reader: int = 64) -> None:
        self._waitset = WaitSet(participant)
        self._routes: list[_Route] = []
        self.rejections = rejections or RejectionLog()
        self.max_per_reader = max_per_reader
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.handler_errors = 0

    def add(self, reader: DataReader, name: str, handler: Callable[[Any], None],
            max_bytes: int | None = None) -> None:
        """Route samples of ``reader`` (logged as ``name``) to ``handler(sample)``; samples
        over ``max_bytes`` serialized are refused unread (``too_large``)."""
        condition = ReadCondition(reader, SampleState.NotRead)
        self._waitset.attach(condition)
        self._routes.append(_Route(reader, condition, name, handler, max_bytes))

    def spin_once(self, timeout_s: float = 0.1) -> int:
        """Wait up to ``timeout_s`` for data, then dispatch what is there; returns how many."""
        self._waitset.wait(duration(seconds=max(0.0, timeout_s)))
        handled = 0
        for route in self._routes:
            for _ in range(self.max_per_reader):
                try:
                    samples = take_one(route.reader, route.max_bytes)
                except WireRejection as rejection:  # too large to be worth reading
                    self.rejections.record(route.name, rejection)
                    continue
                except Exception as exc:  # a sample that does not deserialize
                    self.rejections.record(route.name, WireRejection("malformed", repr(exc)))
                    continue
                if not samples:
                    break
                sample = samples[0]
                if isinstance(sample, InvalidSample):
                    continue
                handled += 1
                self._dispatch(route, sample)
        return handled

    def _dispatch(self, route: _Route, sample: Any) -> None:
        try:
            route.handler(sample)
        except WireRejection as rejection:
            self.rejections.record(route.name, rejection)
        except Exception:
            self.handler_errors += 1
            log.exception("handler for %s failed; sample dropped", route.name)

    def start(self, poll_s: float = 0.05) -> None:
        """Spin on a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                self.spin_once(poll_s)

        self._thread = threading.Thread(target=run, name="cosmos-dds-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread started by :meth:`start` (no-op if none)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


__all__ = ["Endpoints", "Poller", "make_participant", "take_one"]
