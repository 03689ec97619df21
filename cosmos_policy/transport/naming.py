"""ROS 2 names and QoS profiles as they appear on bare DDS.

Names: a fully qualified ROS 2 topic ``/a/b`` is the DDS topic ``rt/a/b``; a service
``/a/s`` is the pair ``rq/a/sRequest`` (requests) and ``rr/a/sReply`` (replies). A private
name ``~/x`` expands to ``<namespace>/<node>/x`` and a relative name ``x`` to
``<namespace>/x``, as rcl does.

QoS: the profiles below mirror ROS 2's ``rmw_qos_profile_*`` values. Every writer and
reader uses plain CDR (XCDR1), the only representation ROS 2 nodes speak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyclonedds.qos import Policy, Qos

_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC_PREFIX = "rt"
_REQUEST_PREFIX, _REPLY_PREFIX = "rq", "rr"


def _check_absolute(name: str) -> str:
    if not name.startswith("/") or name == "/":
        raise ValueError(f"ROS 2 name {name!r}: expected an absolute name like '/a/b'")
    tokens = name[1:].split("/")
    for token in tokens:
        if not _TOKEN.match(token):
            raise ValueError(
                f"ROS 2 name {name!r}: token {token!r} must be letters, digits and '_', "
                "not start with a digit, and not be empty ('//' or a trailing '/')")
    return name


def expand_name(name: str, node: str = "cosmos_policy", namespace: str = "/") -> str:
    """Expand ``~/x``, ``x`` or ``/x`` to a fully qualified ROS 2 name, checked."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    if name.startswith("~"):
        if name not in ("~",) and not name.startswith("~/"):
            raise ValueError(f"ROS 2 name {name!r}: '~' must be followed by '/'")
        full = f"{ns}/{node}{name[1:]}"
    elif name.startswith("/"):
        full = name
    else:
        full = f"{ns}/{name}"
    return _check_absolute(full)


def dds_topic(name: str, node: str = "cosmos_policy", namespace: str = "/") -> str:
    """ROS 2 topic name -> DDS topic name: ``/a/b`` -> ``rt/a/b``."""
    return _TOPIC_PREFIX + expand_name(name, node, namespace)


def ros_topic(dds_name: str) -> str:
    """DDS topic name -> ROS 2 topic name: ``rt/a/b`` -> ``/a/b``; others raise ValueError."""
    if not dds_name.startswith(_TOPIC_PREFIX + "/"):
        raise ValueError(f"DDS topic {dds_name!r} is not a ROS 2 topic (no 'rt/' prefix)")
    return _check_absolute(dds_name[len(_TOPIC_PREFIX):])


def dds_service_topics(name: str, node: str = "cosmos_policy",
                       namespace: str = "/") -> tuple[str, str]:
    """ROS 2 service name -> (request, reply) topics: ``/s`` -> ``rq/sRequest``, ``rr/sReply``."""
    full = expand_name(name, node, namespace)
    return f"{_REQUEST_PREFIX}{full}Request", f"{_REPLY_PREFIX}{full}Reply"


@dataclass(frozen=True)
class QosProfile:
    """A ROS 2 QoS profile: reliability, history depth and durability."""

    name: str
    reliable: bool
    depth: int
    transient_local: bool = False

    def to_dds(self) -> Qos:
        """The cyclonedds Qos for this profile, XCDR1 data representation."""
        reliability = (Policy.Reliability.Reliable(max_blocking_time=100_000_000)
                       if self.reliable else Policy.Reliability.BestEffort)
        durability = (Policy.Durability.TransientLocal if self.transient_local
                      else Policy.Durability.Volatile)
        return Qos(reliability, durability, Policy.History.KeepLast(self.depth),
                   Policy.DataRepresentation(use_cdrv0_representation=True))


# rmw_qos_profile_sensor_data: best effort, keep last 5, volatile.
SENSOR_DATA = QosProfile("sensor_data", reliable=False, depth=5)
# rmw_qos_profile_default (also what /diagnostics publishers use): reliable, keep last 10.
DEFAULT = QosProfile("default", reliable=True, depth=10)
RELIABLE = DEFAULT
# A latched prompt: late joiners get the last one, as rclpy's transient local depth 1.
PROMPT = QosProfile("prompt", reliable=True, depth=1, transient_local=True)
DIAGNOSTICS = QosProfile("diagnostics", reliable=True, depth=10)
# rmw_qos_profile_services_default: reliable, keep last 10, volatile.
SERVICES = QosProfile("services", reliable=True, depth=10)

PROFILES: dict[str, QosProfile] = {
    p.name: p for p in (SENSOR_DATA, DEFAULT, PROMPT, DIAGNOSTICS, SERVICES)
}

__all__ = [
    "DEFAULT", "DIAGNOSTICS", "PROFILES", "PROMPT", "RELIABLE", "SENSOR_DATA", "SERVICES",
    "QosProfile", "dds_service_topics", "dds_topic", "expand_name", "ros_topic",
]
