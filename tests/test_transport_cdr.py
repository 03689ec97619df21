"""Our IDL structs against ROS 2's own message definitions (as rosbags ships them):
the same fields in the same order, and byte-for-byte the same CDR as rosbags writes."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

pytest.importorskip("cyclonedds")
rosbags_typesys = pytest.importorskip("rosbags.typesys")

from cosmos_policy.transport import msgs  # noqa: E402
from cosmos_policy.transport.convert import (  # noqa: E402
    diagnostics_msg,
    float64_array_msg,
    joint_state_msg,
    seconds_to_stamp,
    trajectory_msg,
)
from cosmos_policy.transport.images import rgb_to_compressed, rgb_to_image  # noqa: E402

Stores, get_typestore = rosbags_typesys.Stores, rosbags_typesys.get_typestore
get_types_from_msg = rosbags_typesys.get_types_from_msg

# std_srvs is not in rosbags' stores: its .srv halves, as in ros2/common_interfaces. ROS 2
# gives the empty Trigger request one uint8 member (rosidl does so for every empty struct);
# rmw_cyclonedds puts the request header (uint64 guid, int64 seq) before the fields.
_SRV_HEADER = "uint64 guid\nint64 seq\n"
_SRV_DEFS = {
    "std_srvs/msg/Trigger_Request": "uint8 structure_needs_at_least_one_member",
    "std_srvs/msg/Trigger_Response": "bool success\nstring message",
    "std_srvs/msg/SetBool_Request": "bool data",
    "std_srvs/msg/SetBool_Response": "bool success\nstring message",
}
_SRV_CLASSES = {
    "std_srvs/msg/Trigger_Request": msgs.TriggerRequest,
    "std_srvs/msg/Trigger_Response": msgs.TriggerResponse,
    "std_srvs/msg/SetBool_Request": msgs.SetBoolRequest,
    "std_srvs/msg/SetBool_Response": msgs.SetBoolResponse,
}
# rosbags base type name -> our annotation name
_BASE = {"string": "str", "bool": "bool", "byte": "byte", "uint8": "uint8", "int32": "int32",
         "uint32": "uint32", "float64": "float64", "uint64": "uint64", "int64": "int64",
         "octet": "byte"}


@pytest.fixture(scope="module", params=[Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY],
                ids=["humble", "jazzy"])
def store(request):
    ts = get_typestore(request.param)
    types = {}
    for name, text in _SRV_DEFS.items():
        types.update(get_types_from_msg(text, name))
        wire = name.replace("std_srvs/msg/", "cosmos_wire/msg/")
        types.update(get_types_from_msg(_SRV_HEADER + text, wire))
    ts.register(types)
    return ts


def _idl_fields(cls) -> list[tuple[str, str]]:
    """(field, type) of an IDL class, types spelled like rosbags' definitions."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        out.append((f.name, _spell(hints[f.name])))
    return out


def _spell(hint) -> str:
    if hint is str:
        return "str"
    if hint is bool:
        return "bool"
    if typing.get_origin(hint) is typing.Annotated:  # primitives, and sequence[...] wrapped
        meta = typing.get_args(hint)[1]
        return meta if isinstance(meta, str) else _spell(meta)
    inner = getattr(hint, "subtype", None)
    if inner is not None:  # cyclonedds sequence[...]
        return f"sequence[{_spell(inner)}]"
    return hint.__idl_typename__


def _ros_fields(ts, ros_name: str) -> list[tuple[str, str]]:
    from cosmos_policy.transport.msgs import dds_type_name

    def spell(node) -> str:
        kind, detail = node
        if kind.name == "BASE":
            return _BASE[detail[0]]
        if kind.name == "NAME":
            return dds_type_name(detail)
        if kind.name == "SEQUENCE":
            return f"sequence[{spell(detail[0])}]"
        raise AssertionError(f"unexpected node {node}")

    return [(name, spell(node)) for name, node in ts.fielddefs[ros_name][1]]


@pytest.mark.parametrize("ros_name", sorted(msgs.MESSAGE_TYPES))
def test_message_layout_matches_ros2_definition(store, ros_name):
    cls = msgs.MESSAGE_TYPES[ros_name]
    assert cls.__idl_typename__ == msgs.dds_type_name(ros_name)
    assert _idl_fields(cls) == _ros_fields(store, ros_name)


@pytest.mark.parametrize("ros_name", sorted(_SRV_DEFS))
def test_service_layout_is_header_then_ros2_fields(store, ros_name):
    cls = _SRV_CLASSES[ros_name]
    assert cls.__idl_typename__ == "std_srvs::srv::dds_::" + ros_name.split("/")[-1] + "_"
    fields = _idl_fields(cls)
    assert fields[:2] == [("guid", "uint64"), ("seq", "int64")]
    expected = _ros_fields(store, ros_name) or [("structure_needs_at_least_one_member", "uint8")]
    assert fields[2:] == expected


def _to_rosbags(ts, obj, ros_name: str):
    """Our IDL instance -> the rosbags instance of ``ros_name``, field by field."""
    cls = ts.types[ros_name]
    kwargs = {}
    for fname, node in ts.fielddefs[ros_name][1]:
        value = getattr(obj, fname)
        kind, detail = node
        if kind.name == "NAME":
            value = _to_rosbags(ts, value, detail)
        elif kind.name == "SEQUENCE":
            inner_kind, inner = detail[0]
            if inner_kind.name == "NAME":
                value = [_to_rosbags(ts, v, inner) for v in value]
            elif inner[0] != "string":
                value = np.asarray(list(value), dtype=np.dtype(inner[0].replace("byte", "uint8")))
            else:
                value = list(value)
        kwargs[fname] = value
    return cls(**kwargs)


def _samples():
    rng = np.random.default_rng(7)
    names = [f"joint{i}" for i in range(1, 8)] + ["finger_joint1"]
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    stamp = seconds_to_stamp(1_712_345_678.123456789)
    traj = trajectory_msg(names[:7], rng.normal(size=(5, 7)), [0.1, 0.2, 0.3, 0.4, 0.5],
                          velocities=rng.normal(size=(5, 7)), stamp=12.5)
    traj.points[0].accelerations = rng.normal(size=7).tolist()
    traj.points[1].effort = rng.normal(size=7).tolist()
    array = float64_array_msg(rng.normal(size=8), label="joints")
    array.layout.dim.append(msgs.MultiArrayDimension("x", 3, 1))
    array.layout.data_offset = 2
    return {
        "builtin_interfaces/msg/Time": stamp,
        "builtin_interfaces/msg/Duration": msgs.Duration(-3, 999_999_999),
        "std_msgs/msg/Header": msgs.Header(stamp, "base_link"),
        "std_msgs/msg/String": msgs.String("pick up the red cube and place it in the bowl"),
        "std_msgs/msg/MultiArrayDimension": msgs.MultiArrayDimension("rows", 4, 12),
        "std_msgs/msg/MultiArrayLayout": array.layout,
        "std_msgs/msg/Float64MultiArray": array,
        "sensor_msgs/msg/Image": rgb_to_image(rgb, stamp, "camera_front", "bgr8"),
        "sensor_msgs/msg/CompressedImage": rgb_to_compressed(rgb, "png", stamp, "cam"),
        "sensor_msgs/msg/JointState": joint_state_msg(
            names, rng.normal(size=8), rng.normal(size=8), stamp=3.25),
        "trajectory_msgs/msg/JointTrajectoryPoint": traj.points[0],
        "trajectory_msgs/msg/JointTrajectory": traj,
        "diagnostic_msgs/msg/KeyValue": msgs.KeyValue("latency.p50", "0.0123"),
        "diagnostic_msgs/msg/DiagnosticStatus": msgs.DiagnosticStatus(
            msgs.DIAG_WARN, "cosmos_policy", "stale camera", "franka-1",
            [msgs.KeyValue("a", "1"), msgs.KeyValue("b", "xyz")]),
        "diagnostic_msgs/msg/DiagnosticArray": diagnostics_msg(
            {"latency": {"inference": {"p50": 0.012, "count": 40}}, "counters": {"frames": 9}},
            level=msgs.DIAG_ERROR, message="hold", stamp=99.5),
    }


def test_every_message_type_has_a_sample():
    assert set(_samples()) == set(msgs.MESSAGE_TYPES)


@pytest.mark.parametrize("ros_name", sorted(msgs.MESSAGE_TYPES))
def test_cdr_bytes_equal_rosbags(store, ros_name):
    ours = _samples()[ros_name]
    wire = ours.serialize(use_version_2=False)
    assert wire[:4] == b"\x00\x01\x00\x00"  # CDR_LE encapsulation, XCDR1
    theirs = bytes(store.serialize_cdr(_to_rosbags(store, ours, ros_name), ros_name))
    assert wire == theirs
    # and back: rosbags' bytes decode to our message unchanged
    assert type(ours).deserialize(theirs) == type(ours).deserialize(wire)


@pytest.mark.parametrize("ros_name", sorted(_SRV_DEFS))
def test_service_cdr_bytes_equal_rosbags(store, ros_name):
    cls = _SRV_CLASSES[ros_name]
    values = {"guid": 0x0123456789ABCDEF, "seq": 42, "success": True, "data": True,
              "message": "enabled", "structure_needs_at_least_one_member": 0}
    ours = cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})
    wire_name = ros_name.replace("std_srvs/msg/", "cosmos_wire/msg/")
    theirs = bytes(store.serialize_cdr(_to_rosbags(store, ours, wire_name), wire_name))
    assert ours.serialize(use_version_2=False) == theirs
