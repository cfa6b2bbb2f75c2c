"""trajectory_wire: the planner's Trajectory bytes are the message rclpy builds from rosidl objects
(padding aside), and the controller's reader gives the fields rclpy gives; bad bytes -> ValueError."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from roadedge_msgs.msg import Trajectory, TrajectoryPoint  # noqa: E402

from roadedge.planning import trajectory_wire as tw  # noqa: E402


def random_plan(n: int, seed: int = 1) -> Any:
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        behaviour=3,
        x=rng.normal(size=n) * 100,
        y=rng.normal(size=n) * 100,
        yaw=rng.normal(size=n) * 3,
        velocity=rng.random(n) * 5,
        acceleration=rng.normal(size=n),
        curvature=rng.normal(size=n) * 0.1,
        lateral_offset=rng.normal(size=n),
        time=np.cumsum(rng.random(n) * 60.0),  # past 1e5 s at the end of long plans: capped
    )


def rosidl_message(plan: Any, sec: int, nanosec: int, frame_id: str) -> Trajectory:
    """How the planner node filled the message before trajectory_wire (the reference)."""
    traj = Trajectory()
    traj.header.stamp.sec, traj.header.stamp.nanosec = sec, nanosec
    traj.header.frame_id = frame_id
    traj.behaviour = plan.behaviour
    for i in range(len(plan.x)):
        pt = TrajectoryPoint()
        t = float(min(plan.time[i], 1e5))
        pt.time_from_start.sec = int(t)
        pt.time_from_start.nanosec = int((t - int(t)) * 1e9)
        pt.pose.position.x, pt.pose.position.y = float(plan.x[i]), float(plan.y[i])
        pt.pose.orientation.z = math.sin(0.5 * plan.yaw[i])
        pt.pose.orientation.w = math.cos(0.5 * plan.yaw[i])
        pt.velocity = float(plan.velocity[i])
        pt.acceleration = float(plan.acceleration[i])
        pt.curvature = float(plan.curvature[i])
        pt.lateral_offset = float(plan.lateral_offset[i])
        traj.points.append(pt)
    return traj


def padding(data: bytes) -> set[int]:
    """Byte offsets (in the serialized message) of the padding before the count and the first pose."""
    name_len = int.from_bytes(data[12:16], "little")
    behaviour_end = 4 + 12 + name_len + 1
    count_at = 4 + (behaviour_end - 4 + 3) // 4 * 4
    first_pose = count_at + 4 + 8
    pose_at = 4 + (first_pose - 4 + 7) // 8 * 8
    return set(range(behaviour_end, count_at)) | set(range(first_pose, pose_at))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 240, 4000])
@pytest.mark.parametrize("frame_id", ["map", "", "odom1", "abcdefgh"])  # every padding case
def test_encoded_plan_is_the_rosidl_message(n: int, frame_id: str) -> None:
    plan = random_plan(n)
    reference = bytes(serialize_message(rosidl_message(plan, 1234, 5678, frame_id)))
    ours = tw.encode_plan(plan, 1234, 5678, frame_id)
    assert len(ours) == len(reference)
    differing = {i for i in range(len(ours)) if ours[i] != reference[i]}
    assert differing <= padding(reference)
    assert deserialize_message(ours, Trajectory) == deserialize_message(reference, Trajectory)
    if n == 4000:
        assert deserialize_message(ours, Trajectory).points[-1].time_from_start.sec == 100000


@pytest.mark.parametrize("frame_id", ["map", "", "odom1"])
def test_decode_gives_the_fields_rclpy_gives(frame_id: str) -> None:
    plan = random_plan(50, seed=2)
    plan.curvature[3] = math.nan  # the controller fills unknown curvature from the path
    msg = deserialize_message(bytes(serialize_message(rosidl_message(plan, 7, 8, frame_id))), Trajectory)
    got = tw.decode(bytes(serialize_message(msg)))
    assert (got.stamp_sec, got.stamp_nanosec, got.frame_id, got.behaviour) == (7, 8, frame_id, 3)
    same = tw.from_message(msg)
    for name in ("x", "y", "velocity", "acceleration", "curvature", "lateral_offset"):
        assert getattr(got, name).dtype == np.float64
        assert np.array_equal(getattr(got, name), getattr(same, name), equal_nan=True), name
    assert got.x.tolist() == [p.pose.position.x for p in msg.points]
    assert got.velocity.tolist() == [p.velocity for p in msg.points]
    empty = tw.decode(tw.encode_plan(random_plan(0), 0, 0))
    assert empty.x.size == 0 and empty.frame_id == "map"


def test_bad_bytes_raise_value_error() -> None:
    good = tw.encode_plan(random_plan(5), 1, 2)
    for cut in range(len(good)):  # every truncation
        with pytest.raises(ValueError):
            tw.decode(good[:cut])
    with pytest.raises(ValueError, match="little-endian"):
        tw.decode(b"\x00\x00\x00\x00" + good[4:])  # big-endian encapsulation
    huge = bytearray(good)
    huge[24:28] = (2**32 - 1).to_bytes(4, "little")  # point count (frame "map": count at 20 + 4)
    with pytest.raises(ValueError, match="points need"):
        tw.decode(bytes(huge))
    no_nul = bytearray(good)
    no_nul[19] = ord("x")  # frame_id without its terminating NUL
    with pytest.raises(ValueError, match="frame_id"):
        tw.decode(bytes(no_nul))
    assert tw.decode(good + b"\x00" * 4).x.size == 5  # trailing bytes (alignment) are fine
