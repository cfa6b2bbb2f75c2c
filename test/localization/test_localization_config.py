"""The shipped localization parameter files validate against the node schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadedge.config import ConfigError, load_node_parameters, validate

ROOT = Path(__file__).resolve().parents[2]


def test_sweeper_and_hil_files_validate() -> None:
    from hil.gnss_emulator import GnssEmulatorNodeConfig
    from nodes.gnss_receiver import GnssReceiverConfig
    from nodes.localization import LocalizationConfig, map_origin

    sweeper = ROOT / "config/localization/sweeper.yaml"
    rx = load_node_parameters(sweeper, "gnss_receiver", GnssReceiverConfig)
    assert rx.port == "/dev/ttyUSB0" and rx.baudrate == 115200
    assert rx.stamp_source == "receiver" and rx.velocity_sigma == 0.05
    loc = load_node_parameters(sweeper, "localization", LocalizationConfig)
    origin = map_origin(loc)  # the planning map's site origin
    assert (origin.latitude, origin.longitude, origin.altitude) == (31.2304, 121.4737, 4.0)
    emu = load_node_parameters(ROOT / "config/localization/hil.yaml", "gnss_emulator", GnssEmulatorNodeConfig)
    assert emu.link == "/tmp/roadedge/gnss0" and emu.origin_altitude == origin.altitude
    assert loc.use_curb_range and len(loc.curb_range_mount) == 3
    from hil.curb_sensor import CurbSensorConfig

    curb = load_node_parameters(ROOT / "config/localization/hil.yaml", "curb_sensor", CurbSensorConfig)
    assert curb.site == loc.site and list(curb.mount) == list(loc.curb_range_mount)


def test_bad_values_are_refused_with_the_parameter_named() -> None:
    from nodes.localization import LocalizationConfig, map_origin

    with pytest.raises(ConfigError, match="gate_probability"):
        validate({"gate_probability": 1.5}, LocalizationConfig, node="localization", source="test")
    with pytest.raises(ConfigError, match="no_such_site"):
        map_origin(validate({"site": "no_such_site"}, LocalizationConfig, node="localization", source="test"))


def test_imu_mounting_and_quaternion_helpers() -> None:
    import math

    import numpy as np

    from nodes.localization import quaternion_yaw, rotation_matrix, rpy_quaternion, yaw_quaternion

    # An IMU mounted upside down (roll = pi) measures the yaw rate with the opposite sign.
    assert (rotation_matrix(math.pi, 0.0, 0.0) @ np.array([0.0, 0.0, 0.2]))[2] == pytest.approx(-0.2)
    assert rotation_matrix(0.0, 0.0, math.pi / 2) @ np.array([1.0, 0.0, 0.0]) == pytest.approx(
        [0.0, 1.0, 0.0]
    )
    for yaw in (-3.0, -0.5, 0.0, 1.2, 3.1):
        assert quaternion_yaw(yaw_quaternion(yaw)) == pytest.approx(yaw)
        assert quaternion_yaw(rpy_quaternion(0.0, 0.0, yaw)) == pytest.approx(yaw)
    q = rpy_quaternion(0.1, -0.2, 0.3)
    assert q.x**2 + q.y**2 + q.z**2 + q.w**2 == pytest.approx(1.0)
