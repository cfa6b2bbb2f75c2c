"""The chassis map: DBC + YAML -> frames and back, checksums, counters, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from roadedge.config import ConfigError
from roadedge.hal.canmap import CanMap, StatusAssembler
from roadedge.hal.integrity import CounterTracker, crc8_sae_j1850, xor8

ROOT = Path(__file__).resolve().parents[2]
SWEEPER = ROOT / "config" / "chassis" / "sweeper_v1.yaml"
MINIBUS = Path(__file__).parent / "data" / "minibus.yaml"


def test_checksum_algorithms_known_values() -> None:
    assert crc8_sae_j1850(b"123456789") == 0x4B  # the catalogued check value
    assert crc8_sae_j1850(b"\x00\x00\x00\x00") == 0x59
    assert xor8(b"\x01\x02\x04\x80") == 0x87
    assert xor8(b"") == 0


def test_counter_tracker_rejects_repeat_and_jump_then_resyncs() -> None:
    t = CounterTracker(16, max_delta=2)
    assert t.check(14).ok
    assert t.check(15).ok
    assert t.check(1).ok  # wraps, delta 2
    assert t.check(1).reason == "counter_repeated"
    assert t.check(9).reason == "counter_jump"
    assert t.check(10).ok  # resynchronised


@pytest.fixture(scope="module")
def sweeper() -> CanMap:
    return CanMap(SWEEPER)


def test_sweeper_map_covers_the_interfaces(sweeper: CanMap) -> None:
    cmd = sweeper.fields("vehicle_command")
    for name in (
        "enable",
        "drive_mode",
        "target_speed",
        "target_acceleration",
        "steering_angle",
        "steering_rate",
        "throttle",
        "brake",
        "use_pedals",
        "gear",
        "park_brake",
        "emergency_stop",
    ):
        assert name in cmd
    status = sweeper.fields("vehicle_status")
    for name in (
        "speed",
        "wheel_speed_front_left",
        "wheel_speed_rear_right",
        "steering_angle",
        "gear",
        "drive_mode",
        "battery_soc",
        "battery_voltage",
        "fault_codes",
        "emergency_stop_active",
    ):
        assert name in status
    assert {"side_brush_left", "main_brush_speed", "suction_fan_speed", "water_spray_flow", "dump"} <= (
        sweeper.fields("equipment_command")
    )
    assert {"bin_full", "bin_fill", "water_level", "water_low", "fault_codes"} <= sweeper.fields(
        "equipment_status"
    )
    assert sweeper.frames("vehicle_command")[0].cycle_s == pytest.approx(0.02)  # from the DBC


def test_command_round_trip_with_scaling_and_value_tables(sweeper: CanMap) -> None:
    drive, steer = sweeper.frames("vehicle_command")[:2]
    cmd = {
        "enable": True,
        "drive_mode": 2,
        "gear": 4,
        "target_speed": 2.0,
        "target_acceleration": -0.75,
        "steering_angle": 0.2,
        "steering_rate": 0.5,
    }
    data = drive.encode(cmd)
    # m/s -> km/h beyond the DBC: 2 m/s = 7.2 km/h = raw 720 at 0.01 km/h
    assert int.from_bytes(data[2:4], "little") == 720
    assert data[0] & 1 == 1 and (data[0] >> 4) & 7 == 4 and data[1] & 7 == 2
    out = drive.decode(data)
    assert out.ok, out.error
    assert out.fields["target_speed"] == pytest.approx(2.0, abs=0.003)
    assert out.fields["gear"] == 4 and out.fields["drive_mode"] == 2
    out = steer.decode(steer.encode(cmd))
    assert out.fields["steering_angle"] == pytest.approx(0.2, abs=2e-4)
    assert out.fields["steering_rate"] == pytest.approx(0.5, abs=2e-3)


def test_checksum_and_counter_are_written_and_checked(sweeper: CanMap) -> None:
    drive = CanMap(SWEEPER).frames("vehicle_command")[0]
    frames = [drive.encode({"enable": True, "gear": 4, "drive_mode": 1}) for _ in range(17)]
    assert [f[6] & 0xF for f in frames] == [*range(16), 0]
    assert all(f[7] == crc8_sae_j1850(f[:7]) for f in frames)
    steer = sweeper.frames("vehicle_command")[1]
    f = steer.encode({"steering_angle": -0.1})
    assert f[7] == xor8(f[:7])
    # receiver side: flip one bit -> checksum; replay -> counter
    rx = CanMap(SWEEPER).frames("vehicle_command")[0]
    assert rx.decode(frames[0]).ok
    bad = bytearray(frames[1])
    bad[2] ^= 0x10
    assert rx.decode(bytes(bad)).error == "checksum"
    assert rx.decode(frames[1]).ok
    assert rx.decode(frames[1]).error == "counter_repeated"
    assert rx.decode(frames[9]).error == "counter_jump"


def test_out_of_range_values_are_clamped_to_the_dbc_and_unknown_values_refused(sweeper: CanMap) -> None:
    drive = sweeper.frames("vehicle_command")[0]
    out = drive.decode(drive.encode({"target_speed": 100.0, "gear": 4}))
    assert out.fields["target_speed"] == pytest.approx(60 / 3.6, abs=0.01)  # DBC max 60 km/h
    with pytest.raises(ValueError):
        drive.encode({"gear": 9})
    with pytest.raises(ValueError):
        drive.encode({"gear": 4, "target_speed": math.nan})


def test_fault_codes_from_codes_and_flag_bits(sweeper: CanMap) -> None:
    faults = next(f for f in sweeper.frames("vehicle_status") if f.name == "VCU_Faults")
    out = faults.decode(faults.encode({"fault_codes": [7, 0x5002, 0x5005, 12]}))
    assert sorted(out.fields["fault_codes"]) == [7, 12, 0x5002, 0x5005]  # type: ignore[type-var]


def test_status_assembler_merges_and_detects_stale(sweeper: CanMap) -> None:
    frames = sweeper.frames("vehicle_status")
    asm = StatusAssembler(frames)
    enc = CanMap(SWEEPER)
    drive = next(f for f in enc.frames("vehicle_status") if f.name == "VCU_DriveStatus")
    steer = next(f for f in enc.frames("vehicle_status") if f.name == "VCU_SteerStatus")
    rx = {f.name: f for f in frames}
    asm.update(
        rx["VCU_DriveStatus"].decode(drive.encode({"speed": -1.0, "gear": 2, "drive_mode": 4})), now=10.0
    )
    asm.update(rx["VCU_SteerStatus"].decode(steer.encode({"steering_angle": 0.1})), now=10.0)
    fields = asm.fields()
    assert (
        fields["speed"] == pytest.approx(-1.0, abs=0.003)
        and fields["gear"] == 2
        and fields["drive_mode"] == 4
    )
    assert asm.stale(now=10.05, since=0.0) == []
    assert asm.stale(now=10.2, since=0.0) == ["VCU_DriveStatus", "VCU_SteerStatus"]


def test_a_second_chassis_needs_only_its_files() -> None:
    bus = CanMap(MINIBUS)
    ctl = bus.frames("vehicle_command")[0]
    assert ctl.is_extended_id and ctl.cycle_s == pytest.approx(0.01)
    data = ctl.encode({"enable": True, "gear": 4, "target_speed": 3.25, "steering_angle": 0.25})
    out = CanMap(MINIBUS).frames("vehicle_command")[0].decode(data)
    assert out.ok, out.error
    assert out.fields["gear"] == 3 + 1  # D; raw 3 in this DBC
    assert out.fields["target_speed"] == pytest.approx(3.25, abs=1e-3)
    assert out.fields["steering_angle"] == pytest.approx(0.25, abs=1e-3)
    state = bus.frames("vehicle_status")[0]
    twin = CanMap(MINIBUS).frames("vehicle_status")[0]
    got = state.decode(twin.encode({"speed": -0.5, "gear": 2, "battery_soc": 0.8, "fault_codes": [3]}))
    assert got.ok, got.error
    assert got.fields["speed"] == pytest.approx(-0.5, abs=1e-3) and got.fields["fault_codes"] == [3]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("DBW_DriveCmd:", "NoSuchMsg:"),
        ("TargetSpeed: {field", "NoSuchSignal: {field"),
        ("algorithm: xor8, bytes", "algorithm: md5, bytes"),
        ("4: Drive}", "4: Forward}"),
        ("bytes: [0, 6]", "bytes: [0, 8]"),
    ],
)
def test_map_errors_name_the_problem(tmp_path: Path, edit: str, message: str) -> None:
    text = SWEEPER.read_text().replace(edit, message, 1)
    (tmp_path / "sweeper_v1.dbc").write_text((SWEEPER.parent / "sweeper_v1.dbc").read_text())
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        CanMap(path)
    assert str(path) in str(err.value)


def test_garbage_frames_are_rejected_not_raised(sweeper: CanMap) -> None:
    rx = CanMap(SWEEPER)
    for codec in rx.frames("vehicle_status") + rx.frames("equipment_status"):
        assert codec.decode(b"\x01").error == "short_frame"
        result = codec.decode(bytes(range(8)))
        assert result.ok or result.error
