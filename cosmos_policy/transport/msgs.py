"""ROS 2 message types as cyclonedds IDL structs, named as ROS 2 names them on the wire.

A ROS 2 type ``pkg/msg/Name`` is the DDS type ``pkg::msg::dds_::Name_``; its fields, in
order and with the same primitive types, are those of the ``.msg`` file. The layouts here
are checked field by field against the ROS 2 definitions that ``rosbags`` ships
(``Stores.ROS2_HUMBLE``) and byte for byte against its CDR serializer
(``tests/test_transport_cdr.py``), so a ROS 2 node reads what we write and vice versa.

Services over bare DDS follow ``rmw_cyclonedds``: the request and the reply each carry a
request header (``guid: uint64``, ``seq: int64``) before the service's own fields, and the
type name is the ROS 2 one (``std_srvs::srv::dds_::Trigger_Request_``). ``rmw_fastrtps``
puts that header in the RTPS inline QoS instead; its requests (the ``*Plain`` types) are
read, but a reply it would accept cannot be written from cyclonedds (docs/ROS2_WIRE.md).
"""

from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import byte, float64, int32, int64, sequence, uint8, uint32, uint64

# ---------------------------------------------------------------- builtin_interfaces


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    """builtin_interfaces/Time: seconds and nanoseconds since the epoch of its clock."""

    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class Duration(IdlStruct, typename="builtin_interfaces::msg::dds_::Duration_"):
    """builtin_interfaces/Duration: ``sec`` may be negative, ``nanosec`` in [0, 1e9)."""

    sec: int32 = 0
    nanosec: uint32 = 0


# ---------------------------------------------------------------- std_msgs


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    """std_msgs/Header: acquisition time and coordinate frame."""

    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class String(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    """std_msgs/String."""

    data: str = ""


@dataclass
class MultiArrayDimension(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayDimension_"):
    """std_msgs/MultiArrayDimension."""

    label: str = ""
    size: uint32 = 0
    stride: uint32 = 0


@dataclass
class MultiArrayLayout(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayLayout_"):
    """std_msgs/MultiArrayLayout."""

    dim: sequence[MultiArrayDimension] = field(default_factory=list)
    data_offset: uint32 = 0


@dataclass
class Float64MultiArray(IdlStruct, typename="std_msgs::msg::dds_::Float64MultiArray_"):
    """std_msgs/Float64MultiArray, what forward_command_controller reads on ``~/commands``."""

    layout: MultiArrayLayout = field(default_factory=MultiArrayLayout)
    data: sequence[float64] = field(default_factory=list)


# ---------------------------------------------------------------- sensor_msgs


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    """sensor_msgs/Image: raw pixels, ``step`` bytes per row."""

    header: Header = field(default_factory=Header)
    height: uint32 = 0
    width: uint32 = 0
    encoding: str = ""
    is_bigendian: uint8 = 0
    step: uint32 = 0
    data: sequence[uint8] = field(default_factory=list)


@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    """sensor_msgs/CompressedImage: ``format`` names the codec (jpeg, png)."""

    header: Header = field(default_factory=Header)
    format: str = ""
    data: sequence[uint8] = field(default_factory=list)


@dataclass
class JointState(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    """sensor_msgs/JointState: parallel arrays keyed by ``name``; any may be empty."""

    header: Header = field(default_factory=Header)
    name: sequence[str] = field(default_factory=list)
    position: sequence[float64] = field(default_factory=list)
    velocity: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)


# ---------------------------------------------------------------- trajectory_msgs


@dataclass
class JointTrajectoryPoint(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectoryPoint_"):
    """trajectory_msgs/JointTrajectoryPoint: targets reached ``time_from_start`` after stamp."""

    positions: sequence[float64] = field(default_factory=list)
    velocities: sequence[float64] = field(default_factory=list)
    accelerations: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)
    time_from_start: Duration = field(default_factory=Duration)


@dataclass
class JointTrajectory(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectory_"):
    """trajectory_msgs/JointTrajectory, what joint_trajectory_controller reads."""

    header: Header = field(default_factory=Header)
    joint_names: sequence[str] = field(default_factory=list)
    points: sequence[JointTrajectoryPoint] = field(default_factory=list)


# ---------------------------------------------------------------- diagnostic_msgs

DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = 0, 1, 2, 3


@dataclass
class KeyValue(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    """diagnostic_msgs/KeyValue."""

    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    """diagnostic_msgs/DiagnosticStatus; ``level`` is one of the ``DIAG_*`` constants."""

    level: byte = DIAG_OK
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: sequence[KeyValue] = field(default_factory=list)


@dataclass
class DiagnosticArray(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    """diagnostic_msgs/DiagnosticArray, published on ``/diagnostics``."""

    header: Header = field(default_factory=Header)
    status: sequence[DiagnosticStatus] = field(default_factory=list)


# ---------------------------------------------------------------- std_srvs (rmw_cyclonedds)


@dataclass
class TriggerRequest(IdlStruct, typename="std_srvs::srv::dds_::Trigger_Request_"):
    """std_srvs/Trigger request; ROS 2 gives empty structs one placeholder ``uint8``."""

    guid: uint64 = 0
    seq: int64 = 0
    structure_needs_at_least_one_member: uint8 = 0


@dataclass
class TriggerResponse(IdlStruct, typename="std_srvs::srv::dds_::Trigger_Response_"):
    """std_srvs/Trigger response; ``guid``/``seq`` echo the request's header."""

    guid: uint64 = 0
    seq: int64 = 0
    success: bool = False
    message: str = ""


@dataclass
class SetBoolRequest(IdlStruct, typename="std_srvs::srv::dds_::SetBool_Request_"):
    """std_srvs/SetBool request."""

    guid: uint64 = 0
    seq: int64 = 0
    data: bool = False


@dataclass
class SetBoolResponse(IdlStruct, typename="std_srvs::srv::dds_::SetBool_Response_"):
    """std_srvs/SetBool response; ``guid``/``seq`` echo the request's header."""

    guid: uint64 = 0
    seq: int64 = 0
    success: bool = False
    message: str = ""


# ---------------------------------------------------------------- std_srvs (rmw_fastrtps)


@dataclass
class TriggerRequestPlain(IdlStruct, typename="std_srvs::srv::dds_::Trigger_Request_"):
    """std_srvs/Trigger request as rmw_fastrtps writes it: no header in the payload (the
    request id travels in RTPS inline QoS, out of reach of cyclonedds)."""

    structure_needs_at_least_one_member: uint8 = 0


@dataclass
class SetBoolRequestPlain(IdlStruct, typename="std_srvs::srv::dds_::SetBool_Request_"):
    """std_srvs/SetBool request as rmw_fastrtps writes it: ``data`` only."""

    data: bool = False


# ROS 2 name -> IDL class, for messages (services are listed in SERVICE_TYPES).
MESSAGE_TYPES: dict[str, type[IdlStruct]] = {
    "builtin_interfaces/msg/Time": Time,
    "builtin_interfaces/msg/Duration": Duration,
    "std_msgs/msg/Header": Header,
    "std_msgs/msg/String": String,
    "std_msgs/msg/MultiArrayDimension": MultiArrayDimension,
    "std_msgs/msg/MultiArrayLayout": MultiArrayLayout,
    "std_msgs/msg/Float64MultiArray": Float64MultiArray,
    "sensor_msgs/msg/Image": Image,
    "sensor_msgs/msg/CompressedImage": CompressedImage,
    "sensor_msgs/msg/JointState": JointState,
    "trajectory_msgs/msg/JointTrajectoryPoint": JointTrajectoryPoint,
    "trajectory_msgs/msg/JointTrajectory": JointTrajectory,
    "diagnostic_msgs/msg/KeyValue": KeyValue,
    "diagnostic_msgs/msg/DiagnosticStatus": DiagnosticStatus,
    "diagnostic_msgs/msg/DiagnosticArray": DiagnosticArray,
}

# ROS 2 service name -> (request class, response class), rmw_cyclonedds layout.
SERVICE_TYPES: dict[str, tuple[type[IdlStruct], type[IdlStruct]]] = {
    "std_srvs/srv/Trigger": (TriggerRequest, TriggerResponse),
    "std_srvs/srv/SetBool": (SetBoolRequest, SetBoolResponse),
}

# Fields of the rmw_cyclonedds request header that precede a service's own fields.
SERVICE_HEADER_FIELDS = ("guid", "seq")


def dds_type_name(ros_name: str) -> str:
    """``pkg/msg/Name`` (or ``pkg/srv/Name_Request``) -> ``pkg::msg::dds_::Name_``."""
    parts = ros_name.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected a ROS 2 type name 'pkg/msg/Name', got {ros_name!r}")
    pkg, kind, name = parts
    return f"{pkg}::{kind}::dds_::{name}_"


__all__ = [
    "DIAG_ERROR", "DIAG_OK", "DIAG_STALE", "DIAG_WARN", "MESSAGE_TYPES", "SERVICE_HEADER_FIELDS",
    "SERVICE_TYPES", "CompressedImage", "DiagnosticArray", "DiagnosticStatus", "Duration",
    "Float64MultiArray", "Header", "Image", "JointState", "JointTrajectory",
    "JointTrajectoryPoint", "KeyValue", "MultiArrayDimension", "MultiArrayLayout",
    "SetBoolRequest", "SetBoolRequestPlain", "SetBoolResponse", "String", "Time",
    "TriggerRequest", "TriggerRequestPlain", "TriggerResponse", "dds_type_name",
]
