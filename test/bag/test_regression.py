"""Regression compare of two bags: tolerances, ignored fields, counts, types."""

from __future__ import annotations

from pathlib import Path

import pytest
from bagdata import TOPICS, make
from rclpy.serialization import serialize_message

from roadedge.bag.errors import BagError
from roadedge.bag.recorder import BagRecorder
from roadedge.bag.regression import Tolerance, compare_bags, flatten, values_equal

T0 = 1_000_000_000


def write(
    path: Path, n: int = 10, speed_offset: float = 0.0, drop_last: bool = False, text: str | None = None
) -> Path:
    with BagRecorder(path) as rec:
        for topic, msgtype in TOPICS.items():
            rec.add_topic(topic, msgtype)
        for i in range(n):
            for topic in TOPICS:
                if drop_last and i == n - 1 and topic == "/localization/odometry":
                    continue
                msg = make(topic, i)
                if topic == "/localization/odometry":
                    msg.twist.twist.linear.x += speed_offset
                if topic == "/planning/advisories" and text is not None and msg.advisories:
                    msg.advisories[0].text = text
                rec.write(topic, T0 + i * 1000, bytes(serialize_message(msg)))
    return path


def test_identical_bags_pass(tmp_path: Path) -> None:
    result = compare_bags(write(tmp_path / "a"), write(tmp_path / "b"), compare_time=True)
    assert result.passed, result.summary()
    assert {r.topic for r in result.results} == set(TOPICS)
    assert all(r.compared == 10 for r in result.results)


def test_numeric_tolerances(tmp_path: Path) -> None:
    golden, cand = write(tmp_path / "a"), write(tmp_path / "b", speed_offset=0.01)
    result = compare_bags(golden, cand, ["/localization/odometry"])
    assert not result.passed
    [odom] = result.results
    assert odom.mismatch_count == 10 and odom.mismatches[0].field == "twist.twist.linear.x"
    assert odom.max_abs_diff["twist.twist.linear.x"] == pytest.approx(0.01)
    assert "DIFF /localization/odometry" in result.summary()
    loose = [Tolerance("/localization/odometry:twist.twist.linear.x", abs=0.02)]
    assert compare_bags(golden, cand, ["/localization/odometry"], loose).passed
    relative = [Tolerance("*:twist.*", rel=0.005)]  # 0.01 on 2.5 is 0.4 %
    assert compare_bags(golden, cand, ["/localization/odometry"], relative).passed
    ignored = [Tolerance("*:twist.*", ignore=True)]
    assert compare_bags(golden, cand, ["/localization/odometry"], ignored).passed


def test_counts_strings_and_types(tmp_path: Path) -> None:
    golden = write(tmp_path / "a")
    short = compare_bags(golden, write(tmp_path / "b", drop_last=True), ["/localization/odometry"])
    assert not short.passed and short.results[0].actual_count == 9 and short.results[0].mismatch_count == 0
    text = compare_bags(golden, write(tmp_path / "c", text="changed"), ["/planning/advisories"])
    assert not text.passed and text.results[0].mismatches[0].field == "advisories[0].text"
    with pytest.raises(BagError, match="has no topic /nope"):
        compare_bags(golden, golden, ["/nope"])


def test_flatten_and_values() -> None:
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    msg = store.types["sensor_msgs/msg/NavSatFix"](
        header=store.types["std_msgs/msg/Header"](store.types["builtin_interfaces/msg/Time"](1, 2), "gnss"),
        status=store.types["sensor_msgs/msg/NavSatStatus"](0, 1),
        latitude=1.0,
        longitude=2.0,
        altitude=3.0,
        position_covariance=__import__("numpy").arange(9, dtype=float),
        position_covariance_type=0,
    )
    flat = flatten(msg)
    assert flat["header.frame_id"] == "gnss" and flat["header.stamp.nanosec"] == 2
    assert flat["position_covariance[8]"] == 8.0 and flat["position_covariance.len"] == 9
    assert values_equal(float("nan"), float("nan"), None)
    assert not values_equal(1.0, 1.1, None) and values_equal(1.0, 1.1, Tolerance("x", abs=0.11))
    assert not values_equal(True, False, Tolerance("x", abs=1.0))  # booleans exactly, whatever the tolerance


def test_command_and_tolerance_syntax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from roadedge.bag.regression import main, parse_tolerance

    golden, cand = write(tmp_path / "a"), write(tmp_path / "b", speed_offset=0.01)
    assert main([str(golden), str(cand), "--topics", "/localization/odometry"]) == 1
    assert "regression: FAIL" in capsys.readouterr().out
    assert main([str(golden), str(cand), "--tol", "*:twist.twist.linear.x=0.02"]) == 0
    assert main([str(golden), str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert parse_tolerance("/a:b.c=0.1,0.01") == Tolerance("/a:b.c", 0.1, 0.01)
    assert parse_tolerance("*:header.*=ignore").ignore
    with pytest.raises(BagError, match="is not a number"):
        parse_tolerance("x=abc")
