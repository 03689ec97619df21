"""ROS 2 services over bare DDS, for rmw_cyclonedds and rmw_fastrtps clients.

A service ``/a/s`` is two topics: requests on ``rq/a/sRequest``, replies on
``rr/a/sReply``. Two client layouts reach us on the same request topic:

* rmw_cyclonedds puts a request header (``guid``: the client's id, ``seq``: its request
  number) before the service's fields and expects it echoed in the reply. These requests
  run and are answered; a repeated request is answered again from the first reply,
  without calling the handler twice.
* rmw_fastrtps (Fast DDS, ROS 2's default) sends the service's fields only; the request id
  travels in RTPS inline QoS, and its client keeps only replies whose inline
  ``related_sample_identity`` names it, which cyclonedds cannot write. Such a caller never
  learns the outcome, so we carry out only requests that stop motion (``~/estop``,
  ``~/enable`` false) and refuse the rest (``~/reset``, ``~/enable`` true), each with one
  warning line naming the way to a reply. A request is told apart by its writer's vendor
  id (the first two bytes of its GUID; eProsima is 01.0f).

Servers here: ``~/reset`` and ``~/estop`` (std_srvs/Trigger) and ``~/enable``
(std_srvs/SetBool). With no handler set they answer ``success=False`` and say so.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.endpoints import Endpoints, Poller

log = logging.getLogger("cosmos_policy.transport")

TriggerHandler = Callable[[], tuple[bool, str]]
SetBoolHandler = Callable[[bool], tuple[bool, str]]
MAX_CLIENTS = 64  # clients whose last reply each service keeps, to answer a repeated request
FASTDDS_VENDOR = b"\x01\x0f"  # RTPS vendor id of eProsima Fast DDS, leading each GUID prefix
FASTDDS_FIX = ("its reply cannot reach an rmw_fastrtps client over bare DDS; for replies use "
               "`serve --transport ros` or RMW_IMPLEMENTATION=rmw_cyclonedds_cpp on the caller")


class ServiceServer:
    """Serves ``~/reset``, ``~/enable`` and ``~/estop``; set handlers with :meth:`on_reset`,
    :meth:`on_enable` and :meth:`on_estop`."""

    def __init__(self, endpoints: Endpoints, poller: Poller, reset: str = "~/reset",
                 enable: str = "~/enable", estop: str = "~/estop") -> None:
        self._reset: TriggerHandler | None = None
        self._enable: SetBoolHandler | None = None
        self._estop: TriggerHandler | None = None
        self.names: dict[str, str] = {}
        self._idle_writers: list[Any] = []
        self.fastdds_requests: dict[str, list[str]] = {}  # service -> "run"/"refused", for tests
        self._serve(endpoints, poller, reset, msgs.TriggerRequest, msgs.TriggerResponse,
                    msgs.TriggerRequestPlain, lambda req: self._call_reset(),
                    stops=lambda req: False)
        self._serve(endpoints, poller, enable, msgs.SetBoolRequest, msgs.SetBoolResponse,
                    msgs.SetBoolRequestPlain, lambda req: self._call_enable(bool(req.data)),
                    stops=lambda req: not req.data)
        self._serve(endpoints, poller, estop, msgs.TriggerRequest, msgs.TriggerResponse,
                    msgs.TriggerRequestPlain, lambda req: self._call_estop(),
                    stops=lambda req: True)

    def on_reset(self, handler: TriggerHandler) -> None:
        """``handler() -> (success, message)`` answers ``~/reset``."""
        self._reset = handler

    def on_enable(self, handler: SetBoolHandler) -> None:
        """``handler(enable) -> (success, message)`` answers ``~/enable``."""
        self._enable = handler

    def on_estop(self, handler: TriggerHandler) -> None:
        """``handler() -> (success, message)`` answers ``~/estop``."""
        self._estop = handler

    def _call_reset(self) -> tuple[bool, str]:
        return (False, "reset is not available") if self._reset is None else self._reset()

    def _call_enable(self, value: bool) -> tuple[bool, str]:
        return (False, "enable is not available") if self._enable is None \
            else self._enable(value)

    def _call_estop(self) -> tuple[bool, str]:
        return (False, "estop is not available") if self._estop is None else self._estop()

    def _serve(self, endpoints: Endpoints, poller: Poller, name: str, req_type: type,
               rep_type: type, plain_type: type, answer: Callable[[Any], tuple[bool, str]],
               stops: Callable[[Any], bool]) -> None:
        rq, rr = naming.dds_service_topics(name, endpoints.node, endpoints.namespace)
        # The Fast DDS pair first: rmw_fastrtps calls a service available once it sees as
        # many reply writers as request readers, so the first pair it sees must be the one
        # that reads its layout. The second writer is never written to.
        plain = endpoints.reader(rq, plain_type, naming.SERVICES, raw=True)
        self._idle_writers.append(endpoints.writer(rr, rep_type, naming.SERVICES, raw=True))
        reader = endpoints.reader(rq, req_type, naming.SERVICES, raw=True)
        writer = endpoints.writer(rr, rep_type, naming.SERVICES, raw=True)
        full = naming.expand_name(name, endpoints.node, endpoints.namespace)
        self.names[full] = rq
        answered: OrderedDict[int, tuple[int, object]] = OrderedDict()  # guid -> seq, reply

        def run(req: Any) -> tuple[bool, str]:
            try:
                success, message = answer(req)
            except Exception as exc:  # a failing handler still answers the client
                log.exception("service %s handler failed", full)
                success, message = False, f"handler failed: {exc}"
            return bool(success), str(message)

        def handle(req: Any) -> None:
            # A request runs at most once: a client that sends it again (its reply was
            # late or lost) gets the same reply, and a reset is not done twice, the second
            # time inside the episode it began. Older requests of a client are dropped.
            if _from_fastdds(reader, req):
                return  # cannot happen (its payload is too short); never guess at one
            last = answered.get(req.guid)
            if last is not None and req.seq <= last[0]:
                if req.seq == last[0]:
                    writer.write(last[1])
                return
            success, message = run(req)
            reply = rep_type(guid=req.guid, seq=req.seq, success=success, message=message)
            answered[req.guid] = (req.seq, reply)
            answered.move_to_end(req.guid)
            if len(answered) > MAX_CLIENTS:
                answered.popitem(last=False)
            writer.write(reply)

        poller.add(reader, full, handle)
        seen = self.fastdds_requests.setdefault(full, [])

        def handle_plain(req: Any) -> None:
            # Every header-layout request also decodes here (trailing bytes are allowed):
            # only Fast DDS writers' requests are this layout.
            if not _from_fastdds(plain, req):
                return
            if not stops(req):
                seen.append("refused")
                log.warning("refused %s%s from a Fast DDS client: %s, and a caller that "
                            "cannot learn the outcome must not start motion", full,
                            _args(req), FASTDDS_FIX)
                return
            success, message = run(req)
            seen.append("run")
            log.warning("ran %s%s from a Fast DDS client (%s: %s); %s", full, _args(req),
                        "ok" if success else "failed", message, FASTDDS_FIX)

        poller.add(plain, full, handle_plain)


def _args(req: Any) -> str:
    return f"({bool(req.data)})" if hasattr(req, "data") else ""


def _from_fastdds(reader: Any, sample: Any) -> bool:
    """Whether ``sample`` was written by a Fast DDS participant (its GUID's vendor id)."""
    info = getattr(sample, "sample_info", None)
    if info is None:
        return False
    try:
        endpoint = reader.get_matched_publication_data(info.publication_handle)
    except Exception:  # the writer left between the sample and the look-up
        return False
    return endpoint is not None and endpoint.key.bytes[:2] == FASTDDS_VENDOR


__all__ = ["FASTDDS_VENDOR", "ServiceServer", "SetBoolHandler", "TriggerHandler"]
