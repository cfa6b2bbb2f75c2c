"""Work equipment on Modbus RTU: register map, master link against the HIL slave over a pty."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from roadedge_hil.equipment_modbus_slave import ModbusEquipmentSlave

from roadedge.config import ConfigError
from roadedge.hal.bus import PtyHub
from roadedge.hal.modbus import ModbusEquipmentLink, RegisterMap, modbus_crc16

ROOT = Path(__file__).resolve().parents[2]
REGMAP = ROOT / "config" / "chassis" / "equipment_modbus.yaml"
SWEEP = {
    "enable": True,
    "main_brush": 1,
    "side_brush_right": 1,
    "main_brush_speed": 12.5,
    "suction_fan_speed": 0.7,
    "water_spray_flow": 3.0,
}


def test_register_map_round_trip_and_limits() -> None:
    rm = RegisterMap(REGMAP)
    regs = rm.encode("command", SWEEP)
    assert regs[:4] == [1, 0, 1, 1] and regs[5] == 1250 and regs[6] == 700
    assert regs[-1] == 1 and rm.encode("command", SWEEP)[-1] == 2  # heartbeat advances
    assert rm.encode("command", {"main_brush_speed": 1e9})[5] == 0xFFFF  # clamped, not wrapped
    with pytest.raises(ValueError):
        rm.encode("command", {"main_brush_speed": float("nan")})
    status = rm.decode(
        "status", rm.encode("status", {"bin_fill": 0.5, "bin_full": True, "fault_codes": [7, 9]})
    )
    assert status["bin_fill"] == 0.5 and status["bin_full"] == 1 and status["fault_codes"] == [7, 9]
    with pytest.raises(ValueError):
        rm.decode("status", [0, 1])
    assert modbus_crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value


def test_register_map_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(REGMAP.read_text().replace("{field: dump}", "{feld: dump}", 1))
    with pytest.raises(ConfigError, match="unknown keys"):
        RegisterMap(bad)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[PtyHub, ModbusEquipmentSlave, ModbusEquipmentLink]]:
    hub = PtyHub([tmp_path / "slave", tmp_path / "master"], raw=True)
    hub.start()
    slave = ModbusEquipmentSlave(RegisterMap(REGMAP), str(tmp_path / "slave"))
    slave.start()
    link = ModbusEquipmentLink(RegisterMap(REGMAP), str(tmp_path / "master"), reconnect_s=0.1)
    yield hub, slave, link
    link.close()
    slave.stop()
    hub.stop()


def cycles(link: ModbusEquipmentLink, n: int, command: dict[str, object] = SWEEP) -> list[dict | None]:
    out = []
    for _ in range(n):
        out.append(link.cycle(command))
        time.sleep(0.02)
    return out


def test_commands_reach_the_slave_and_status_comes_back(rig) -> None:
    _hub, slave, link = rig
    assert wait_for(lambda: link.cycle(SWEEP) is not None)
    assert wait_for(lambda: slave.model.command.get("main_brush") == 1)
    assert slave.model.command["main_brush_speed"] == 12.5
    assert wait_for(lambda: (link.cycle(SWEEP) or {}).get("main_brush") == 1)
    status = link.cycle(SWEEP)
    assert status is not None and status["enabled"] == 1 and status["side_brush_right"] == 1
    assert status["water_level"] == pytest.approx(0.8, abs=0.01)


def test_crc_errors_and_garbage_are_counted_never_fatal(rig) -> None:
    hub, _slave, link = rig
    assert wait_for(lambda: link.cycle(SWEEP) is not None)
    hub.corrupt_to.add(hub.links[1])
    assert cycles(link, 2) == [None, None]
    hub.corrupt_to.clear()
    hub.noise_to[hub.links[1]] = b"\x00\xff\x13garbage"
    cycles(link, 2)
    del hub.noise_to[hub.links[1]]
    assert link.events.counts["crc_error"] >= 3
    assert wait_for(lambda: link.cycle(SWEEP) is not None)  # recovered by itself


def test_unplug_reconnects_and_slave_watchdog_makes_equipment_safe(rig) -> None:
    hub, slave, link = rig
    assert wait_for(lambda: link.cycle(SWEEP) is not None)
    assert wait_for(lambda: slave.model.enabled)
    hub.unplug(hub.links[1])
    cycles(link, 4)
    assert not link.connected and link.events.counts.get("disconnected", 0) >= 1
    # no heartbeat: the slave's own watchdog brings the equipment to the safe state
    assert wait_for(lambda: not slave.model.enabled, timeout=3.0)
    hub.replug(hub.links[1])
    assert wait_for(lambda: link.cycle(SWEEP) is not None, timeout=5.0)
    assert link.connected and link.reconnects >= 1
    assert wait_for(lambda: slave.model.enabled)
