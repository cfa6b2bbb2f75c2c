"""chassis_hal's glue between the map's fields and roadedge_msgs (no DDS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from roadedge_msgs.msg import VehicleCommand, VehicleStatus
from roadedge_nodes.chassis_hal import check_map, from_message, to_message

from roadedge.config import ConfigError
from roadedge.hal.canmap import CanMap

ROOT = Path(__file__).resolve().parents[2]
SWEEPER = ROOT / "config" / "chassis" / "sweeper_v1.yaml"
MINIBUS = Path(__file__).parent / "data" / "minibus.yaml"


def test_shipped_and_test_maps_name_only_real_message_fields() -> None:
    check_map(CanMap(SWEEPER))
    check_map(CanMap(MINIBUS))


def test_a_map_naming_an_unknown_field_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sweeper_v1.dbc").write_text((SWEEPER.parent / "sweeper_v1.dbc").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(SWEEPER.read_text().replace("{field: target_speed,", "{field: target_sped,", 1))
    with pytest.raises(ConfigError, match="target_sped"):
        check_map(CanMap(bad))


def test_fields_to_and_from_messages() -> None:
    cmd = VehicleCommand(enable=True, gear=4, target_speed=1.5)
    fields = from_message(cmd)
    assert fields["enable"] is True and fields["gear"] == 4 and "header" not in fields
    status = to_message(
        VehicleStatus(), {"speed": -1.25, "gear": 2.0, "autonomy_enabled": 1.0, "fault_codes": [7, 0x5003]}
    )
    assert status.speed == pytest.approx(-1.25) and status.gear == 2 and status.autonomy_enabled is True
    assert list(status.fault_codes) == [7, 0x5003]
    assert to_message(VehicleStatus(), {"drive_mode": 300.0}).drive_mode == 255  # clamped, never raises
