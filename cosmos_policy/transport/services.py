"""ROS 2 services over bare DDS, as rmw_cyclonedds lays them out.

A service ``/a/s`` is two topics: requests on ``rq/a/sRequest``, replies on
``rr/a/sReply``. Each request carries a header (``guid``: the client's id, ``seq``: its
request number) that the reply echoes so the client can pair them. rmw_fastrtps carries
that header in RTPS inline QoS instead, so a ROS 2 client on Fast DDS will not get our
replies; with ``RMW_IMPLEMENTATION=rmw_cyclonedds_cpp`` ``ros2 service call`` works.

Servers here: ``~/reset`` (std_srvs/Trigger) and ``~/enable`` (std_srvs/SetBool). With no
handler set they answer ``success=False`` and say so. A request repeated with the same
header is answered again from the first reply, without calling the handler twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.endpoints import Endpoints, Poller

log = logging.getLogger("cosmos_policy.transport")

TriggerHandler = Callable[[], tuple[bool, str]]
SetBoolHandler = Callable[[bool], tuple[bool, str]]
MAX_CLIENTS = 64  # clients whose last reply each service keeps, to answer a repeated request


class ServiceServer:
    """Serves ``~/reset`` and ``~/enable``; set handlers with :meth:`on_reset`/:meth:`on_enable`."""

    def __init__(self, endpoints: Endpoints, poller: Poller, reset: str = "~/reset",
                 enable: str = "~/enable") -> None:
        self._reset: TriggerHandler | None = None
        self._enable: SetBoolHandler | None = None
        self.names: dict[str, str] = {}
        self._serve(endpoints, poller, reset, msgs.TriggerRequest, msgs.TriggerResponse,
                    lambda req: self._call_reset())
        self._serve(endpoints, poller, enable, msgs.SetBoolRequest, msgs.SetBoolResponse,
                    lambda req: self._call_enable(bool(req.data)))

    def on_reset(self, handler: TriggerHandler) -> None:
        """``handler() -> (success, message)`` answers ``~/reset``."""
        self._reset = handler

    def on_enable(self, handler: SetBoolHandler) -> None:
        """``handler(enable) -> (success, message)`` answers ``~/enable``."""
        self._enable = handler

    def _call_reset(self) -> tuple[bool, str]:
        return (False, "reset is not available") if self._reset is None else self._reset()

    def _call_enable(self, value: bool) -> tuple[bool, str]:
        return (False, "enable is not available") if self._enable is None \
            else self._enable(value)

    def _serve(self, endpoints: Endpoints, poller: Poller, name: str, req_type: type,
               rep_type: type, answer: Callable[[object], tuple[bool, str]]) -> None:
        rq, rr = naming.dds_service_topics(name, endpoints.node, endpoints.namespace)
        reader = endpoints.reader(rq, req_type, naming.SERVICES, raw=True)
        writer = endpoints.writer(rr, rep_type, naming.SERVICES, raw=True)
        full = naming.expand_name(name, endpoints.node, endpoints.namespace)
        self.names[full] = rq

        answered: OrderedDict[int, tuple[int, object]] = OrderedDict()  # guid -> seq, reply

        def handle(req: object) -> None:
            # A request runs at most once: a client that sends it again (its reply was
            # late or lost) gets the same reply, and a reset is not done twice, the second
            # time inside the episode it began. Older requests of a client are dropped.
            last = answered.get(req.guid)
            if last is not None and req.seq <= last[0]:
                if req.seq == last[0]:
                    writer.write(last[1])
                return
            try:
                success, message = answer(req)
            except Exception as exc:  # a failing handler still answers the client
                log.exception("service %s handler failed", full)
                success, message = False, f"handler failed: {exc}"
            reply = rep_type(guid=req.guid, seq=req.seq, success=bool(success),
                             message=str(message))
            answered[req.guid] = (req.seq, reply)
            answered.move_to_end(req.guid)
            if len(answered) > MAX_CLIENTS:
                answered.popitem(last=False)
            writer.write(reply)

        poller.add(reader, full, handle)


__all__ = ["ServiceServer", "SetBoolHandler", "TriggerHandler"]
