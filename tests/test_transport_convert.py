"""Wire <-> core conversions: images, joint states, stamps, prompts, commands, diagnostics,
names and QoS, and every refusal of bad input with its reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("cyclonedds")

from cosmos_policy.embodiment import load_embodiment  # noqa: E402
from cosmos_policy.transport import msgs, naming  # noqa: E402
from cosmos_policy.transport.convert import (  # noqa: E402
    JointStateDecoder,
    command_to_trajectory,
    diagnostics_msg,
    float64_array_msg,
    header_seconds,
    joint_state_msg,
    prompt_from_msg,
    seconds_to_duration,
    seconds_to_stamp,
    stamp_to_seconds,
    trajectory_msg,
)
from cosmos_policy.transport.images import (  # noqa: E402
    compressed_to_rgb,
    image_to_rgb,
    rgb_to_compressed,
    rgb_to_image,
)
from cosmos_policy.transport.rejection import RejectionLog, StampOrder, WireRejection  # noqa: E402


@pytest.fixture(scope="module")
def franka():
    return load_embodiment("franka")


@pytest.fixture
def rgb():
    return np.random.default_rng(3).integers(0, 256, (32, 48, 3), dtype=np.uint8)


def _reason(fn, *args, **kwargs) -> str:
    with pytest.raises(WireRejection) as info:
        fn(*args, **kwargs)
    return info.value.reason


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_raw_image_round_trip(rgb, encoding):
    msg = rgb_to_image(rgb, encoding=encoding)
    out = image_to_rgb(msgs.Image.deserialize(msg.serialize()), expected=(32, 48))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


def test_bgr_really_swaps_channels(rgb):
    msg = rgb_to_image(rgb, encoding="rgb8")
    msg.encoding = "bgr8"  # same bytes read as BGR: red and blue trade places
    np.testing.assert_array_equal(image_to_rgb(msg), rgb[:, :, ::-1])


def test_mono8_and_padded_rows(rgb):
    gray = rgb[:, :, 0]
    step = 48 + 16  # padded rows, as some drivers send
    data = np.zeros((32, step), np.uint8)
    data[:, :48] = gray
    msg = msgs.Image(height=32, width=48, encoding="mono8", step=step, data=data.tobytes())
    out = image_to_rgb(msg)
    assert out.shape == (32, 48, 3)
    np.testing.assert_array_equal(out[:, :, 2], gray)


@pytest.mark.parametrize(("change", "reason"), [
    ({"encoding": "16UC1"}, "bad_encoding"),
    ({"encoding": "yuv422"}, "bad_encoding"),
    ({"step": 10}, "bad_size"),  # step < width * 3
    ({"height": 33}, "bad_size"),  # data no longer step * height
    ({"data": b"\x00" * 7}, "bad_size"),
    ({"height": 0, "data": b""}, "bad_size"),
    ({"height": 100_000}, "bad_size"),
])
def test_raw_image_rejections(rgb, change, reason):
    msg = rgb_to_image(rgb)
    for key, value in change.items():
        setattr(msg, key, value)
    assert _reason(image_to_rgb, msg) == reason


def test_image_of_unexpected_size_is_refused(rgb):
    assert _reason(image_to_rgb, rgb_to_image(rgb), expected=(128, 128)) == "bad_size"


def test_png_round_trip_is_exact(rgb):
    msg = rgb_to_compressed(rgb, "png")
    assert msg.data[:4] == b"\x89PNG"
    np.testing.assert_array_equal(compressed_to_rgb(msg, expected=(32, 48)), rgb)


def test_jpeg_round_trip_is_close_and_format_variants():
    # A smooth image: JPEG keeps it within a few levels.
    y, x = np.mgrid[0:64, 0:64]
    smooth = np.stack([x * 4, y * 4, (x + y) * 2], axis=2).astype(np.uint8)
    msg = rgb_to_compressed(smooth, "jpeg", quality=95)
    assert msg.data[:2] == b"\xff\xd8"
    for fmt in ("jpeg", "JPG", "rgb8; jpeg compressed bgr8"):
        msg.format = fmt
        out = compressed_to_rgb(msg)
        assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 3.0


@pytest.mark.parametrize(("fmt", "data", "reason"), [
    ("tiff", b"II*\x00", "bad_encoding"),
    ("jpeg", b"", "bad_size"),
    ("jpeg", b"\xff\xd8 not really a jpeg", "decode_failed"),
    ("png", b"\x89PNG\r\n\x1a\n truncated", "decode_failed"),
])
def test_compressed_rejections(fmt, data, reason):
    msg = msgs.CompressedImage(format=fmt, data=data)
    assert _reason(compressed_to_rgb, msg) == reason


def test_compressed_of_unexpected_size_is_refused(rgb):
    assert _reason(compressed_to_rgb, rgb_to_compressed(rgb, "png"), (64, 64)) == "bad_size"


# ---------------------------------------------------------------- stamps


@pytest.mark.parametrize("seconds", [0.0, 1.5, 1_712_345_678.987654321, -2.25, 1e-9])
def test_stamp_round_trip(seconds):
    stamp = seconds_to_stamp(seconds)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert stamp_to_seconds(stamp) == pytest.approx(seconds, abs=1e-9)
    assert stamp_to_seconds(seconds_to_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


def test_stamp_refusals():
    with pytest.raises(ValueError, match="not finite"):
        seconds_to_stamp(math.nan)
    with pytest.raises(ValueError, match="int32"):
        seconds_to_stamp(2.0**40)
    bad = msgs.Header(stamp=msgs.Time(1, 2_000_000_000))
    assert _reason(header_seconds, bad) == "bad_stamp"


def test_stamp_order_per_stream():
    order = StampOrder()
    order.check("a", 1.0)
    order.check("b", 0.5)  # streams are independent
    assert _reason(order.check, "a", 1.0) == "out_of_order"
    assert _reason(order.check, "a", 0.9) == "out_of_order"
    assert _reason(order.check, "a", math.inf) == "bad_stamp"
    order.reset("a")
    order.check("a", 0.1)


# ---------------------------------------------------------------- joint states


def _arm_msg(franka, order, stamp=1.0, with_gripper=True, velocity=True):
    rng = np.random.default_rng(11)
    q = dict(zip(franka.joints, rng.uniform(-1, 1, franka.n_joints), strict=True))
    names = [franka.joints[i] for i in order]
    pos = [q[n] for n in names]
    if with_gripper:
        names.append("finger_joint1")
        pos.append(0.01)  # 0.04 open, 0.0 closed -> 0.75 closed
    vel = [0.1 * i for i in range(len(names))] if velocity else []
    return joint_state_msg(names, pos, vel, stamp=stamp), q


def test_joint_state_reordered_to_embodiment_order(franka):
    order = [6, 0, 5, 1, 4, 2, 3]
    msg, q = _arm_msg(franka, order)
    reading = JointStateDecoder(franka).decode(msgs.JointState.deserialize(msg.serialize()))
    assert reading.state.dtype == np.float32
    assert reading.state.shape == (franka.state_dim,)
    np.testing.assert_allclose(reading.state[:-1], [q[j] for j in franka.joints], rtol=1e-6)
    assert reading.state[-1] == pytest.approx(0.75)
    # velocity of joint k came at position order.index(k) in the message
    np.testing.assert_allclose(reading.velocities, [0.1 * order.index(k) for k in range(7)],
                               rtol=1e-6)
    assert reading.stamp == 1.0


def test_gripper_on_its_own_topic(franka):
    decoder = JointStateDecoder(franka)
    arm, _ = _arm_msg(franka, range(7), stamp=1.0, with_gripper=False, velocity=False)
    assert _reason(decoder.decode, arm) == "missing_joint"  # no opening known yet
    grip = joint_state_msg(["finger_joint1", "finger_joint2"], [0.04, 0.04], stamp=1.0)
    assert decoder.decode(grip) is None
    arm.header.stamp = seconds_to_stamp(2.0)
    reading = decoder.decode(arm)
    assert reading.state[-1] == 0.0
    assert reading.velocities is None


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda m: m.name.__setitem__(0, "elbow"), "unknown_joint"),
    (lambda m: m.name.__setitem__(1, m.name[0]), "duplicate_joint"),
    (lambda m: (m.name.pop(3), m.position.pop(3), m.velocity.pop(3)), "missing_joint"),
    (lambda m: m.position.pop(), "bad_size"),
    (lambda m: m.velocity.pop(), "bad_size"),
    (lambda m: m.position.__setitem__(2, math.nan), "non_finite"),
    (lambda m: m.velocity.__setitem__(2, math.inf), "non_finite"),
    (lambda m: (m.name.clear(), m.position.clear(), m.velocity.clear()), "missing_joint"),
])
def test_joint_state_rejections(franka, edit, reason):
    msg, _ = _arm_msg(franka, range(7))
    edit(msg)
    assert _reason(JointStateDecoder(franka).decode, msg) == reason


def test_joint_state_out_of_order(franka):
    decoder = JointStateDecoder(franka)
    decoder.decode(_arm_msg(franka, range(7), stamp=2.0)[0])
    assert _reason(decoder.decode, _arm_msg(franka, range(7), stamp=1.5)[0]) == "out_of_order"
    assert decoder.decode(_arm_msg(franka, range(7), stamp=2.5)[0]).stamp == 2.5


# ---------------------------------------------------------------- prompt


def test_prompt_accepted_and_stripped():
    assert prompt_from_msg(msgs.String("  stack the blocks \n")) == "stack the blocks"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty_prompt"), ("   \n\t", "empty_prompt"), ("x" * 513, "huge_prompt"),
    ("pick\x00 up", "bad_prompt"), ("go\x1b[2J", "bad_prompt"),
])
def test_prompt_rejections(text, reason):
    assert _reason(prompt_from_msg, msgs.String(text)) == reason


# ---------------------------------------------------------------- commands, diagnostics


def test_trajectory_points_and_times(franka):
    pos = np.arange(21, dtype=float).reshape(3, 7)
    msg = trajectory_msg(franka.joints, pos, [0.1, 0.2, 1.35], stamp=5.0)
    assert msg.joint_names == list(franka.joints)
    assert [p.positions for p in msg.points] == pos.tolist()
    assert [(p.time_from_start.sec, p.time_from_start.nanosec) for p in msg.points] == [
        (0, 100_000_000), (0, 200_000_000), (1, 350_000_000)]
    assert stamp_to_seconds(msg.header.stamp) == 5.0


@pytest.mark.parametrize(("pos", "times", "match"), [
    (np.full((1, 7), np.nan), [0.1], "NaN"),
    (np.zeros((2, 7)), [0.2, 0.1], "increase"),
    (np.zeros((1, 7)), [0.0], "increase"),
    (np.zeros((1, 6)), [0.1], "do not fit"),
])
def test_trajectory_refuses_unsafe(franka, pos, times, match):
    with pytest.raises(ValueError, match=match):
        trajectory_msg(franka.joints, pos, times)


def test_command_to_trajectory_drops_gripper(franka):
    class Cmd:
        positions = np.linspace(-0.5, 0.5, 8)
        velocities = np.full(7, 0.2)

    msg = command_to_trajectory(Cmd, franka.joints, 0.01)
    assert len(msg.points) == 1
    assert msg.points[0].positions == pytest.approx(Cmd.positions[:7].tolist())
    assert msg.points[0].velocities == pytest.approx([0.2] * 7)
    assert msg.points[0].time_from_start.nanosec == 10_000_000


def test_float64_array(franka):
    msg = float64_array_msg([1.0, 2.0, 3.0], label="joints")
    assert msg.data == [1.0, 2.0, 3.0]
    assert (msg.layout.dim[0].size, msg.layout.dim[0].stride) == (3, 3)
    with pytest.raises(ValueError, match="NaN"):
        float64_array_msg([1.0, math.inf])


def test_diagnostics_from_telemetry():
    snap = {"latency": {"inference": {"p50": 0.0123456789, "count": 3}}, "counters": {"a": 1}}
    msg = diagnostics_msg(snap, level=msgs.DIAG_WARN, message="stale", stamp=2.5)
    status = msg.status[0]
    assert (status.level, status.name, status.message) == (msgs.DIAG_WARN, "cosmos_policy",
                                                            "stale")
    assert [(kv.key, kv.value) for kv in status.values] == [
        ("counters.a", "1"), ("latency.inference.count", "3"),
        ("latency.inference.p50", "0.0123457")]
    with pytest.raises(ValueError, match="level"):
        diagnostics_msg({}, level=7)


# ---------------------------------------------------------------- names, QoS, rejection log


@pytest.mark.parametrize(("name", "dds"), [
    ("/joint_states", "rt/joint_states"), ("/camera/front/image_raw", "rt/camera/front/image_raw"),
    ("~/prompt", "rt/cosmos_policy/prompt"), ("diagnostics", "rt/diagnostics"),
])
def test_topic_names(name, dds):
    assert naming.dds_topic(name) == dds
    assert naming.ros_topic(dds) == naming.expand_name(name)


def test_names_with_namespace_services_and_errors():
    assert naming.dds_topic("~/prompt", "policy", "/robot1") == "rt/robot1/policy/prompt"
    assert naming.dds_topic("cmd", "policy", "/robot1") == "rt/robot1/cmd"
    assert naming.dds_service_topics("~/reset") == ("rq/cosmos_policy/resetRequest",
                                                    "rr/cosmos_policy/resetReply")
    assert msgs.dds_type_name("sensor_msgs/msg/Image") == "sensor_msgs::msg::dds_::Image_"
    for bad in ("/a//b", "/a/", "/1a", "/a b", "~x"):
        with pytest.raises(ValueError, match="ROS 2 name"):
            naming.dds_topic(bad)
    with pytest.raises(ValueError, match="rt/"):
        naming.ros_topic("joint_states")


def test_qos_profiles_match_ros2():
    from cyclonedds.qos import Policy

    sensor, prompt = naming.SENSOR_DATA.to_dds(), naming.PROMPT.to_dds()
    assert sensor[Policy.Reliability] == Policy.Reliability.BestEffort
    assert sensor[Policy.History] == Policy.History.KeepLast(5)
    assert sensor[Policy.Durability] == Policy.Durability.Volatile
    assert prompt[Policy.Durability] == Policy.Durability.TransientLocal
    assert prompt[Policy.History] == Policy.History.KeepLast(1)
    assert isinstance(prompt[Policy.Reliability], Policy.Reliability.Reliable)
    assert naming.DEFAULT.to_dds()[Policy.History] == Policy.History.KeepLast(10)
    assert sensor[Policy.DataRepresentation] == Policy.DataRepresentation(
        use_cdrv0_representation=True)


def test_rejection_log_throttles():
    now = [0.0]
    rlog = RejectionLog(interval_s=5.0, clock=lambda: now[0])
    rej = WireRejection("bad_size", "x")
    assert rlog.record("/t", rej) is True
    assert rlog.record("/t", rej) is False
    assert rlog.record("/u", rej) is True  # other topic: its own budget
    now[0] = 6.0
    assert rlog.record("/t", rej) is True
    assert rlog.counts[("/t", "bad_size")] == 3
