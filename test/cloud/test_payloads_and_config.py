"""Pure helpers of the node (payloads) and the shipped configuration examples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from roadedge.cloud import payloads as pl
from roadedge.cloud import schema
from roadedge.cloud.broker import acl_text
from roadedge.config import ConfigError, parameters_from_file, validate

ROOT = Path(__file__).resolve().parents[2]


def test_diag_summary_reports_worst_and_non_ok_components() -> None:
    lines = [pl.StatusLine("a", 0, "ok"), pl.StatusLine("b", 2, "bus off"), pl.StatusLine("c", 1, "slow")]
    data = pl.diag_summary(
        lines, {"queue_size": 3, "queue_capacity": 10, "dropped": 0, "rejected_commands": 1}
    )
    assert data["level"] == "error"
    assert [c["name"] for c in data["components"]] == ["b", "c"]
    assert schema.check_uplink_data("diag", data) is None
    assert pl.diag_summary([])["level"] == "ok"


def test_change_filter_passes_changes_and_reminders() -> None:
    now = [0.0]
    f = pl.ChangeFilter(repeat_s=10.0, clock=lambda: now[0])
    assert f.passes("k", 1) and not f.passes("k", 1) and f.passes("k", 2)
    now[0] = 11.0
    assert f.passes("k", 2)
    assert f.passes("other", 2)


def test_json_numbers() -> None:
    assert pl.num(math.nan) is None and pl.num(math.inf) is None and pl.num(1.23456789, 3) == 1.235
    assert pl.fraction(1.7) == 1.0 and pl.fraction(-0.2) == 0.0 and pl.fraction(math.nan) is None
    assert (
        pl.name_of(pl.DRIVE_MODE_NAMES, 2) == "sweeping" and pl.name_of(pl.DRIVE_MODE_NAMES, 99) == "unknown"
    )
    assert pl.yaw_from_quaternion(0.0, 0.0, math.sin(0.25), math.cos(0.25)) == pytest.approx(0.5)


def test_rsi_update_round_trip_geodetic_enu() -> None:
    ref = {"lat": 31.2304, "lon": 121.4737, "alt": 4.0}
    events = [{"rte_id": 1, "event_type": 401, "position": {"lat": 31.2304, "lon": 121.4747}, "radius": None}]
    (e,) = pl.rsi_events_to_enu(ref, events)
    assert e.east == pytest.approx(95.2, abs=0.5) and abs(e.north) < 0.1 and math.isnan(e.radius)
    back = pl.enu_to_geodetic((31.2304, 121.4737, 4.0), e.east, e.north, e.up)
    assert back["lat"] == pytest.approx(31.2304, abs=1e-7) and back["lon"] == pytest.approx(
        121.4747, abs=1e-7
    )


@pytest.mark.parametrize("name", ["vehicle.yaml", "roadside.yaml"])
def test_shipped_parameter_files_validate(name: str) -> None:
    from nodes.cloud_bridge import CloudBridgeConfig

    path = ROOT / "config" / "cloud" / name
    values = parameters_from_file(path, "cloud_bridge")
    config = validate(values, CloudBridgeConfig, node="cloud_bridge", source=str(path))
    assert config.profile == name.removesuffix(".yaml")
    with pytest.raises(ConfigError):
        validate({**values, "delivery": "carrier pigeon"}, CloudBridgeConfig, node="cloud_bridge", source="x")


def test_acl_example_matches_the_test_broker() -> None:
    example = (ROOT / "config" / "cloud" / "acl.example").read_text()
    for line in acl_text().splitlines():
        if line:
            assert line in example
