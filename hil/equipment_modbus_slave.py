"""Work-equipment emulation of the HIL rig: the upper-body controller of a sweeper.

:class:`EquipmentModel` (pure) moves brushes up and down, spins brushes and the suction
fan with a lag, tips the dump bin, fills the hopper while sweeping and drains the water
tank while spraying. The CAN chassis ECU emulator uses it for equipment on CAN; the Modbus
part of this module puts it behind a pymodbus RTU slave on a pty (register map in
``config/chassis/equipment_modbus.yaml``), for upper-body controllers on RS-485.

The slave runs on the wall clock, like the controller it stands for: its replies, its heartbeat
watchdog and the actuators' motion are physical time. On a HIL rig on sim time it shares the
rig's CPU, so a starved rig answers late; the master (``equipment_modbus``) takes the decisions
the scenario sees on the node clock and gives it a longer reply timeout there.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice
from roadedge_msgs.srv import InjectFault

from roadedge.config import ConfigError, param
from roadedge.diagnostics import Health, Level
from roadedge.hal.bus import PtyHub
from roadedge.hal.modbus import RegisterMap
from roadedge.profiles import CONFIG_DIR
from roadedge.ros.node import RoadedgeNode, make_main

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


# --- Modbus RTU slave ---------------------------------------------------------------------------
class ModbusEquipmentSlave:
    """The EquipmentModel behind a pymodbus RTU server on a serial port (a pty of a PtyHub)."""

    def __init__(
        self,
        regmap: RegisterMap,
        port: str,
        model: EquipmentModel | None = None,
        *,
        baudrate: int = 115200,
        step_s: float = 0.05,
        heartbeat_timeout_s: float = 1.0,
    ) -> None:
        self.map = regmap
        self.port = port
        self.baudrate = baudrate
        self.model = model or EquipmentModel()
        self.step_s = step_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.vehicle_speed = 0.0
        self.watchdog_trips = 0
        n_cmd, n_status = len(self.map.command), len(self.map.status)
        self._command_regs = [0] * n_cmd
        self._status_regs = [0] * n_status
        self.device = SimDevice(
            id=self.map.device_id,
            simdata=(
                [SimData(0, count=1, datatype=DataType.BITS)],
                [SimData(0, count=1, datatype=DataType.BITS)],
                [SimData(self.map.command_address, count=n_cmd, datatype=DataType.REGISTERS)],
                [SimData(self.map.status_address, count=n_status, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        self.lock = threading.Lock()
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._heartbeat = -1
        self._heartbeat_time = time.monotonic()

    def start(self) -> None:
        started = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def run() -> None:
                self._server = ModbusSerialServer(
                    self.device,
                    framer=FramerType.RTU,
                    port=self.port,
                    baudrate=self.baudrate,
                    reconnect_delay=0.2,
                )
                started.set()
                await self._server.serve_forever()

            with contextlib.suppress(Exception):
                loop.run_until_complete(run())
            started.set()
            loop.close()

        self._threads = [
            threading.Thread(target=serve, name="modbus-slave", daemon=True),
            threading.Thread(target=self._step_loop, name="equipment-model", daemon=True),
        ]
        self._threads[0].start()
        started.wait(5.0)
        self._threads[1].start()

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None and self._server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(timeout=3.0)
        for t in self._threads:
            t.join(timeout=3.0)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: Any,
    ) -> None:
        """pymodbus calls this on every request: take the command, serve the latest status."""
        with self.lock:
            self.requests += 1
            if set_values is not None and start_address == self.map.command_address:
                offset = address - start_address
                for i, value in enumerate(set_values):
                    if 0 <= offset + i < len(self._command_regs):
                        self._command_regs[offset + i] = int(value)
            elif set_values is None and start_address == self.map.status_address:
                current_registers[:] = self._status_regs[: len(current_registers)]
        return None

    def _step_loop(self) -> None:
        hb_index = next((i for i, r in enumerate(self.map.command) if r.heartbeat), None)
        while not self._stop.wait(self.step_s):
            now = time.monotonic()
            with self.lock:
                regs = list(self._command_regs)
            if hb_index is not None and regs[hb_index] != self._heartbeat:
                self._heartbeat, self._heartbeat_time = regs[hb_index], now
            fresh = hb_index is None or now - self._heartbeat_time <= self.heartbeat_timeout_s
            if not fresh and self.model.command.get("enable"):
                self.watchdog_trips += 1
            self.model.set_command(self.map.decode("command", regs) if fresh else {})
            self.model.step(self.step_s, self.vehicle_speed)
            status = self.map.encode("status", self.model.fields())
            with self.lock:
                self._status_regs = status


# --- the ROS node of the rig ------------------------------------------------------------------
SLAVE_FAULTS = ("serial_unplug", "crc_error", "garbage", "no_response", "bin_full")
INJECT_FAULT_SERVICE = "hil/equipment_modbus_slave/inject_fault"


@dataclass(frozen=True)
class EquipmentSlaveConfig:
    register_map: str = param(
        "chassis/equipment_modbus.yaml", help="Modbus register map (relative: to config/)"
    )
    links: list[str] = param(
        ["/tmp/roadedge-modbus/slave", "/tmp/roadedge-modbus/master"],
        help="pty links this process creates: [the slave's, the master's (equipment_modbus port)]",
    )
    baudrate: int = param(115200, help="bit/s", low=1200, high=4000000)


class EquipmentSlaveNode(RoadedgeNode[EquipmentSlaveConfig]):
    Schema = EquipmentSlaveConfig
    default_name = "equipment_modbus_slave"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        if len(c.links) != 2:
            raise ConfigError("equipment_modbus_slave: 'links' needs exactly two paths [slave, master]")
        path = Path(c.register_map)
        regmap = RegisterMap(path if path.is_absolute() else CONFIG_DIR / path)
        self.hub = PtyHub(list(c.links), raw=True)
        self.hub.start()
        self.master_link = Path(c.links[1])
        self.slave = ModbusEquipmentSlave(regmap, c.links[0], baudrate=c.baudrate)
        self.slave.start()
        self.create_service(InjectFault, INJECT_FAULT_SERVICE, self._on_inject)
        self.health.add("equipment", self._health)

    def _on_inject(self, request: Any, response: Any) -> Any:
        fault, active = str(request.fault), bool(request.active)
        response.success, response.message = True, f"{fault} {'on' if active else 'off'}"
        if fault == "serial_unplug":
            (self.hub.unplug if active else self.hub.replug)(self.master_link)
        elif fault == "crc_error":
            (self.hub.corrupt_to.add if active else self.hub.corrupt_to.discard)(self.master_link)
        elif fault == "garbage":
            if active:
                self.hub.noise_to[self.master_link] = b"\x00\xff\x13\x37garbage"
            else:
                self.hub.noise_to.pop(self.master_link, None)
        elif fault == "no_response":
            (self.hub.mute_to.add if active else self.hub.mute_to.discard)(self.master_link)
        elif fault == "bin_full":
            self.slave.model.bin_fill = 1.0 if active else 0.2
        else:
            response.success, response.message = False, f"unknown fault {fault!r}; one of {SLAVE_FAULTS}"
        self.get_logger().warning(f"fault injection: {response.message}")
        return response

    def _health(self) -> Health:
        values = {"requests": str(self.slave.requests), "watchdog_trips": str(self.slave.watchdog_trips)}
        return Health(Level.OK, "running", values)

    def on_safe_stop(self) -> None:
        self.slave.stop()
        self.hub.stop()


NODE = EquipmentSlaveNode
main = make_main(NODE)
