"""An rclpy node for the wire tests (tests/test_ros_wire.py), run in its own process.

``python ros_wire_peer.py topics SECONDS``: publishes one sample of every message type on
``/to_us/<kind>`` (10 Hz) and prints ``GOT <kind> <json>`` for the first sample of each
kind that arrives on ``/to_ros/<kind>``, until the test stops it (or time is up).
``python ros_wire_peer.py services SECONDS``: calls ``/cosmos_policy/{estop,enable,reset}``
and prints ``CALL <name> <available> <reply or null>`` for each, then reads a line: ``again``
repeats the call (a request sent as ``wait_for_service`` returns can precede our reader's
match, and a Fast DDS caller gets no reply to tell), anything else goes on.

The samples (:data:`SAMPLES`) and :func:`plain` are shared with the test side, which
builds the same values from cosmos_policy's IDL types: field names are ROS 2's on both.
This module imports rclpy only in :func:`main`, so the test can import it anywhere.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

KINDS = ("Image", "CompressedImage", "JointState", "String", "JointTrajectory",
         "Float64MultiArray", "DiagnosticArray")

# kind -> the fields of the one sample each side sends (nested fields as dicts).
SAMPLES: dict[str, dict[str, Any]] = {
    "Image": {"header": {"stamp": {"sec": 12, "nanosec": 500}, "frame_id": "cam"},
              "height": 2, "width": 3, "encoding": "rgb8", "is_bigendian": 0, "step": 9,
              "data": list(range(18))},
    "CompressedImage": {"header": {"stamp": {"sec": 3, "nanosec": 0}, "frame_id": "c"},
                        "format": "jpeg", "data": [255, 216, 1, 2, 3]},
    "JointState": {"header": {"stamp": {"sec": 1, "nanosec": 2}, "frame_id": ""},
                   "name": ["a", "b"], "position": [0.5, -1.25], "velocity": [0.0, 1.0],
                   "effort": []},
    "String": {"data": "reach the red cube"},
    "JointTrajectory": {"header": {"stamp": {"sec": 0, "nanosec": 0}, "frame_id": "base"},
                        "joint_names": ["a", "b"],
                        "points": [{"positions": [0.1, 0.2], "velocities": [0.0, -0.5],
                                    "accelerations": [], "effort": [],
                                    "time_from_start": {"sec": 0, "nanosec": 250000000}}]},
    "Float64MultiArray": {"layout": {"dim": [{"label": "x", "size": 3, "stride": 3}],
                                     "data_offset": 0},
                          "data": [1.5, 2.5, 3.5]},
    "DiagnosticArray": {"header": {"stamp": {"sec": 5, "nanosec": 6}, "frame_id": ""},
                        "status": [{"level": 1, "name": "cosmos_policy", "message": "hold",
                                    "hardware_id": "franka",
                                    "values": [{"key": "rate_hz", "value": "30.0"}]}]},
}


def plain(value: Any) -> Any:
    """A message (rclpy or cyclonedds IDL) as nested dicts and lists, for comparison."""
    if hasattr(value, "get_fields_and_field_types"):  # rclpy
        return {f: plain(getattr(value, f)) for f in value.get_fields_and_field_types()}
    if hasattr(value, "__dataclass_fields__"):  # cyclonedds IdlStruct
        return {f: plain(getattr(value, f)) for f in value.__dataclass_fields__}
    if isinstance(value, bytes) and len(value) == 1:  # rclpy's `byte` fields
        return value[0]
    if isinstance(value, bytes | bytearray):
        return list(value)
    if isinstance(value, str | int | float | bool):
        return value
    return [plain(v) for v in value]  # lists, arrays, numpy arrays


def fill(msg: Any, fields: dict[str, Any], element_types: dict[str, Any]) -> Any:
    """Set ``fields`` on an rclpy message; ``element_types`` names classes of sequences."""
    for name, value in fields.items():
        if isinstance(value, dict):
            fill(getattr(msg, name), value, element_types)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            cls = element_types[name]
            setattr(msg, name, [fill(cls(), v, element_types) for v in value])
        elif name == "level":
            setattr(msg, name, bytes([value]))
        elif name == "data" and isinstance(value, list) and type(msg).__name__ in (
                "Image", "CompressedImage"):
            setattr(msg, name, bytes(value))
        else:
            setattr(msg, name, value)
    return msg


def _rclpy_types() -> tuple[dict[str, type], dict[str, type]]:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from sensor_msgs.msg import CompressedImage, Image, JointState
    from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    types = {"Image": Image, "CompressedImage": CompressedImage, "JointState": JointState,
             "String": String, "JointTrajectory": JointTrajectory,
             "Float64MultiArray": Float64MultiArray, "DiagnosticArray": DiagnosticArray}
    elements = {"points": JointTrajectoryPoint, "dim": MultiArrayDimension,
                "status": DiagnosticStatus, "values": KeyValue}
    return types, elements


def topics(node: Any, seconds: float) -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    types, elements = _rclpy_types()
    got: dict[str, Any] = {}
    pubs = {k: node.create_publisher(types[k], f"/to_us/{k}", qos) for k in KINDS}

    def keep(kind: str, msg: Any) -> None:
        if kind not in got:
            got[kind] = plain(msg)
            print("GOT", kind, json.dumps(got[kind]), flush=True)

    subs = [node.create_subscription(types[k], f"/to_ros/{k}", lambda m, k=k: keep(k, m), qos)
            for k in KINDS]
    samples = {k: fill(types[k](), SAMPLES[k], elements) for k in KINDS}
    deadline = time.monotonic() + seconds  # the test ends us sooner, once it has all
    next_pub = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_pub:
            for k in KINDS:
                pubs[k].publish(samples[k])
            next_pub = time.monotonic() + 0.1
        rclpy.spin_once(node, timeout_sec=0.02)
    del subs


def services(node: Any, seconds: float) -> None:
    import rclpy
    from std_srvs.srv import SetBool, Trigger

    calls = [("estop", Trigger, Trigger.Request()),
             ("enable", SetBool, SetBool.Request(data=False)),
             ("enable", SetBool, SetBool.Request(data=True)),
             ("reset", Trigger, Trigger.Request())]
    for name, srv, request in calls:
        client = node.create_client(srv, f"/cosmos_policy/{name}")
        available = client.wait_for_service(timeout_sec=seconds / 2)
        while True:  # the test answers "again" when the call had no effect yet
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=1.0)
            reply = future.result() if future.done() else None
            answer = None if reply is None else [reply.success, reply.message]
            print("CALL", name, json.dumps(available), json.dumps(answer), flush=True)
            if sys.stdin.readline().strip() != "again":
                break


def main() -> None:
    import rclpy

    mode, seconds = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("wire_peer")
    print("READY", json.dumps({"rmw": rclpy.get_rmw_implementation_identifier()}), flush=True)
    try:
        topics(node, seconds) if mode == "topics" else services(node, seconds)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
