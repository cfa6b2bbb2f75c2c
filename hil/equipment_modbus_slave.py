"""Work-equipment emulation of the HIL rig: the upper-body controller of a sweeper.

:class:`EquipmentModel` (pure) moves brushes up and down, spins brushes and the suction
fan with a lag, tips the dump bin, fills the hopper while sweeping and drains the water
tank while spraying. The CAN chassis ECU emulator uses it for equipment on CAN; the Modbus
part of this module puts it behind a pymodbus RTU slave on a pty (register map in
``config/chassis/equipment_modbus.yaml``), for upper-body controllers on RS-485.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

UP, DOWN, MOVING = 0, 1, 2
DUMP_LOWERED, DUMP_RAISING, DUMP_RAISED, DUMP_LOWERING = 0, 1, 2, 3
DUMP_HOLD, DUMP_RAISE, DUMP_LOWER = 0, 1, 2


@dataclass
class EquipmentParams:
    brush_travel_s: float = 0.4
    dump_travel_s: float = 2.0
    speed_lag_s: float = 0.3
    fill_per_m: float = 0.002  # hopper fraction per metre swept with main brush down + fan
    water_per_litre: float = 0.002  # tank fraction per litre sprayed
    max_brush_speed: float = 30.0  # rad/s
    max_spray_flow: float = 20.0  # L/min


class EquipmentModel:
    """The upper-body controller and its actuators."""

    def __init__(
        self, params: EquipmentParams | None = None, bin_fill: float = 0.2, water_level: float = 0.8
    ):
        self.p = params or EquipmentParams()
        self.command: dict[str, Any] = {}
        self.enabled = False
        self.brush_pos = {
            "side_brush_left": 0.0,
            "side_brush_right": 0.0,
            "main_brush": 0.0,
        }  # 0 up .. 1 down
        self.side_brush_speed = 0.0
        self.main_brush_speed = 0.0
        self.suction_fan_speed = 0.0
        self.water_spray_flow = 0.0
        self.dump_pos = 0.0
        self.dump_state = DUMP_LOWERED
        self.bin_fill = bin_fill
        self.water_level = water_level
        self.fault_codes: list[int] = []

    def set_command(self, fields: Mapping[str, Any]) -> None:
        self.command = dict(fields)

    def step(self, dt: float, vehicle_speed: float = 0.0) -> None:
        c, p = self.command, self.p
        self.enabled = bool(c.get("enable", False))
        on = self.enabled
        travel = dt / p.brush_travel_s
        for name in self.brush_pos:
            target = 1.0 if on and int(c.get(name, UP)) == DOWN else 0.0
            pos = self.brush_pos[name]
            self.brush_pos[name] = min(pos + travel, target) if target > pos else max(pos - travel, target)
        k = min(1.0, dt / p.speed_lag_s)

        def follow(value: float, target: float) -> float:
            return value + (target - value) * k

        side = min(max(float(c.get("side_brush_speed", 0.0)), 0.0), p.max_brush_speed) if on else 0.0
        main = min(max(float(c.get("main_brush_speed", 0.0)), 0.0), p.max_brush_speed) if on else 0.0
        fan = min(max(float(c.get("suction_fan_speed", 0.0)), 0.0), 1.0) if on else 0.0
        spray = min(max(float(c.get("water_spray_flow", 0.0)), 0.0), p.max_spray_flow) if on else 0.0
        if self.water_level <= 0.0:
            spray = 0.0
        self.side_brush_speed = follow(self.side_brush_speed, side)
        self.main_brush_speed = follow(self.main_brush_speed, main)
        self.suction_fan_speed = follow(self.suction_fan_speed, fan)
        self.water_spray_flow = follow(self.water_spray_flow, spray)
        # hopper and tank
        if self.brush_pos["main_brush"] >= 1.0 and self.suction_fan_speed > 0.2:
            self.bin_fill = min(1.0, self.bin_fill + p.fill_per_m * abs(vehicle_speed) * dt)
        self.water_level = max(0.0, self.water_level - p.water_per_litre * self.water_spray_flow / 60.0 * dt)
        # dump: raise only at standstill
        dump = int(c.get("dump", DUMP_HOLD)) if on else DUMP_HOLD
        step = dt / p.dump_travel_s
        if dump == DUMP_RAISE and abs(vehicle_speed) < 0.05:
            self.dump_pos = min(1.0, self.dump_pos + step)
            self.dump_state = DUMP_RAISED if self.dump_pos >= 1.0 else DUMP_RAISING
            if self.dump_pos >= 1.0:
                self.bin_fill = max(0.0, self.bin_fill - 0.5 * dt)
        elif dump == DUMP_LOWER or (not on and self.dump_pos > 0.0):
            self.dump_pos = max(0.0, self.dump_pos - step)
            self.dump_state = DUMP_LOWERED if self.dump_pos <= 0.0 else DUMP_LOWERING
        elif self.dump_pos >= 1.0:
            self.dump_state = DUMP_RAISED
        elif self.dump_pos <= 0.0:
            self.dump_state = DUMP_LOWERED

    def fields(self) -> dict[str, Any]:
        def brush(pos: float) -> int:
            return DOWN if pos >= 1.0 else UP if pos <= 0.0 else MOVING

        return {
            "enabled": self.enabled,
            "side_brush_left": brush(self.brush_pos["side_brush_left"]),
            "side_brush_right": brush(self.brush_pos["side_brush_right"]),
            "main_brush": brush(self.brush_pos["main_brush"]),
            "side_brush_speed": self.side_brush_speed,
            "main_brush_speed": self.main_brush_speed,
            "suction_fan_speed": self.suction_fan_speed,
            "water_spray_flow": self.water_spray_flow,
            "dump": self.dump_state,
            "bin_fill": self.bin_fill,
            "bin_full": self.bin_fill >= 0.95,
            "water_level": self.water_level,
            "water_low": self.water_level <= 0.1,
            "fault_codes": list(self.fault_codes),
        }
