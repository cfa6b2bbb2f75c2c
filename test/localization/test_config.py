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
    loc = load_node_parameters(sweeper, "localization", LocalizationConfig)
    origin = map_origin(loc)  # the planning map's site origin
    assert (origin.latitude, origin.longitude, origin.altitude) == (31.2304, 121.4737, 4.0)
    emu = load_node_parameters(ROOT / "config/localization/hil.yaml", "gnss_emulator", GnssEmulatorNodeConfig)
    assert emu.link == "/tmp/roadedge/gnss0" and emu.origin_altitude == origin.altitude


def test_bad_values_are_refused_with_the_parameter_named() -> None:
    from nodes.localization import LocalizationConfig, map_origin

    with pytest.raises(ConfigError, match="gate_probability"):
        validate({"gate_probability": 1.5}, LocalizationConfig, node="localization", source="test")
    with pytest.raises(ConfigError, match="no_such_site"):
        map_origin(validate({"site": "no_such_site"}, LocalizationConfig, node="localization", source="test"))
