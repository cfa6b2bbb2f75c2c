"""HIL chassis ECU on CAN: the bicycle-model plant (hil/plant.py) behind the chassis DBC.

:class:`ChassisEcu` (no ROS) receives the command frames of a chassis map (checksum and
rolling counter checked, like a real drive-by-wire ECU), drives the plant and the work
equipment model, and sends the status frames at their cycle times. It has its own
command timeout: when valid commands stop, autonomy drops and it brakes to a stop, as a
real chassis does. Faults are injected by name (``roadedge_msgs/srv/InjectFault`` on the
node, :meth:`ChassisEcu.inject` in tests):

==================  ===============================================================
``can_loss``        the ECU goes silent: sends nothing, ignores everything
``feedback_stale``  the first vehicle status frame (VCU_DriveStatus) is no longer sent
``bad_checksum``    status frames carry a wrong checksum
``bad_counter``     status frames repeat their rolling counter
``estop``           the e-stop button is pressed (e-stop flag in the status, full brake)
``chassis_fault``   a chassis fault code (value, default 0x5003) and drive mode FAULT
``bus_off``         the ECU's controller reports bus-off (an error frame on the bus)
``unplug``          (with a hub) the HAL's link of the CAN hub is unplugged
==================  ===============================================================
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can
from roadedge_hil.chassis_emulator import ground_truth
from roadedge_hil.equipment_modbus_slave import EquipmentModel
from roadedge_hil.plant import PlantCommand, PlantParams, VehiclePlant
from roadedge_msgs.srv import InjectFault

from roadedge import topics
from roadedge.config import param
from roadedge.diagnostics import Health, Level
from roadedge.hal.bus import INTERFACES, BusConfig, PtyCanHub, SocketCanHub, open_bus
from roadedge.hal.canmap import CanMap, FieldValue
from roadedge.hal.runtime import CAN_ERR_BUSOFF
from roadedge.profiles import CONFIG_DIR
from roadedge.ros.node import RoadedgeNode, make_main

FAULTS = (
    "can_loss",
    "feedback_stale",
    "bad_checksum",
    "bad_counter",
    "estop",
    "chassis_fault",
    "bus_off",
    "unplug",
)
GEAR_PARK, GEAR_REVERSE, GEAR_NEUTRAL, GEAR_DRIVE = 1, 2, 3, 4
MODE_MANUAL, MODE_FAULT = 0, 4
TIMEOUT_CODE = 0x5005
DEFAULT_FAULT_CODE = 0x5003


@dataclass
class EcuCounters:
    rx_ok: int = 0
    rx_rejected: int = 0
    tx: int = 0
    timeouts: int = 0


class ChassisEcu:
    """The chassis ECU emulator on one CAN bus."""

    def __init__(
        self,
        canmap: CanMap,
        bus: can.BusABC,
        plant: VehiclePlant | None = None,
        *,
        command_timeout_s: float = 0.25,
        step_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        hub: PtyCanHub | SocketCanHub | None = None,
        hal_link: str | Path | None = None,
    ) -> None:
        self.map = canmap
        self.bus = bus
        self.plant = plant or VehiclePlant(PlantParams())
        self.equipment = EquipmentModel()
        self.command_timeout_s = command_timeout_s
        self.step_s = step_s
        self._clock = clock
        self._hub = hub
        self._hal_link = hal_link
        self.lock = threading.Lock()
        self.counters = EcuCounters()
        self.faults: dict[str, float] = {}
        self.command: dict[str, Any] = {}
        self.equipment_command: dict[str, Any] = {}
        self._command_time = -1e9
        self._equipment_time = -1e9
        self.gear = GEAR_PARK
        self.mode = MODE_MANUAL
        self.autonomy = False
        self.battery_soc = 0.9
        self._prev_steer = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.command_log: list[tuple[float, dict[str, FieldValue]]] = []  # (time, DBW_DriveCmd fields)
        self.log_commands = False
        self.last_tx: dict[str, float] = {}  # frame name -> time of its last transmission

    # --- faults -----------------------------------------------------------------------------
    def inject(self, fault: str, active: bool, value: float = 0.0) -> tuple[bool, str]:
        if fault not in FAULTS:
            return False, f"unknown fault {fault!r}; one of {', '.join(FAULTS)}"
        with self.lock:
            if active:
                self.faults[fault] = value
            else:
                self.faults.pop(fault, None)
        if fault == "unplug":
            if self._hub is None or self._hal_link is None:
                return False, "unplug needs the ECU to host the CAN hub"
            (self._hub.unplug if active else self._hub.replug)(self._hal_link)
        if fault == "bus_off" and active:
            self._send(can.Message(arbitration_id=CAN_ERR_BUSOFF, is_error_frame=True, dlc=8, data=bytes(8)))
        return True, f"{fault} {'on' if active else 'off'}"

    # --- threads ----------------------------------------------------------------------------
    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._rx_loop, name="ecu-rx", daemon=True),
            threading.Thread(target=self._loop, name="ecu-step", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2.0)

    def _rx_loop(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.bus.recv(timeout=0.05)
            except (can.CanError, OSError, ValueError) as err:
                del err  # the link is down (unplugged); keep trying
                self._stop.wait(0.05)
                continue
            if msg is not None:
                self.handle_frame(msg)

    def handle_frame(self, msg: can.Message) -> None:
        now = self._clock()
        if msg.is_error_frame:
            return
        codec = self.map.lookup(msg.arbitration_id, msg.is_extended_id)
        if codec is None or codec.section not in ("vehicle_command", "equipment_command"):
            return
        if "can_loss" in self.faults:
            if self.log_commands and codec is self.map.frames("vehicle_command")[0]:
                # on the wire, though the deaf ECU ignores it (the benchmark times the HAL)
                self.command_log.append((now, codec.decode(bytes(msg.data), check_counter=False).fields))
            return
        decoded = codec.decode(bytes(msg.data))
        with self.lock:
            if not decoded.ok:
                self.counters.rx_rejected += 1
                return
            self.counters.rx_ok += 1
            if codec.section == "vehicle_command":
                self.command.update(decoded.fields)
                if codec is self.map.frames("vehicle_command")[0]:
                    self._command_time = now
                    if self.log_commands:
                        self.command_log.append((now, dict(decoded.fields)))
            else:
                self.equipment_command.update(decoded.fields)
                self._equipment_time = now

    def _loop(self) -> None:
        next_time = self._clock()
        tick = 0
        while not self._stop.is_set():
            self.step(self.step_s, tick)
            tick += 1
            next_time += self.step_s
            delay = next_time - self._clock()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_time = self._clock()

    # --- one step -----------------------------------------------------------------------------
    def plant_command(self, now: float) -> PlantCommand:
        c = self.command
        fresh = now - self._command_time <= self.command_timeout_s
        if self.autonomy and not fresh:
            self.counters.timeouts += 1
        estop = "estop" in self.faults or (fresh and bool(c.get("emergency_stop", False)))
        enable = fresh and bool(c.get("enable", False)) and "chassis_fault" not in self.faults
        enable = enable and int(c.get("drive_mode", 1)) != MODE_MANUAL  # no mode signal: autonomous
        self.autonomy = enable
        if enable and int(c.get("gear", 0)) != 0:
            self.gear = int(c["gear"])
        self.mode = int(c.get("drive_mode", 1)) if enable else MODE_MANUAL
        if "chassis_fault" in self.faults or (not fresh and self._command_time > 0):
            self.mode = MODE_FAULT if self._command_time > 0 else MODE_MANUAL
        return PlantCommand(
            enable=enable and self.gear in (GEAR_DRIVE, GEAR_REVERSE),
            target_speed=float(c.get("target_speed", 0.0)),
            target_acceleration=float(c.get("target_acceleration", 0.0)),
            steering_angle=float(c.get("steering_angle", 0.0)),
            steering_rate=float(c.get("steering_rate", 0.0)),
            use_pedals=bool(c.get("use_pedals", False)),
            throttle=float(c.get("throttle", 0.0)),
            brake=float(c.get("brake", 0.0)),
            emergency_stop=estop,
            reverse=self.gear == GEAR_REVERSE,
        )

    def step(self, dt: float, tick: int) -> None:
        now = self._clock()
        with self.lock:
            cmd = self.plant_command(now)
            state = self.plant.step(dt, cmd)
            if now - self._equipment_time > 1.0:
                self.equipment.set_command({})
            else:
                self.equipment.set_command(self.equipment_command)
            self.equipment.step(dt, state.speed)
            self.battery_soc = max(0.0, self.battery_soc - 1e-6 * abs(state.speed) * dt)
            vehicle = self.vehicle_status(dt)
            equipment = self.equipment.fields()
            faults = dict(self.faults)
        if "can_loss" in faults:
            return
        ticks_per = {}
        for section, fields in (("vehicle_status", vehicle), ("equipment_status", equipment)):
            for i, codec in enumerate(self.map.frames(section)):
                every = ticks_per.setdefault(codec.name, max(1, round(codec.cycle_s / self.step_s)))
                if tick % every:
                    continue
                if section == "vehicle_status" and i == 0 and "feedback_stale" in faults:
                    continue
                if "bad_counter" in faults and codec.counter is not None:
                    codec._tx_counter = 3  # frozen counter
                data = bytearray(codec.encode(fields))
                if "bad_checksum" in faults and codec.checksum is not None:
                    data[codec.checksum.first] ^= 0x01  # corrupt a covered byte
                self._send(
                    can.Message(
                        arbitration_id=codec.frame_id, data=bytes(data), is_extended_id=codec.is_extended_id
                    )
                )
                self.last_tx[codec.name] = self._clock()

    def _send(self, msg: can.Message) -> None:
        try:
            self.bus.send(msg)
            self.counters.tx += 1
        except (can.CanError, OSError, ValueError):
            pass  # bus not there (unplugged): the frame is lost, as on a real bus

    def vehicle_status(self, dt: float) -> dict[str, Any]:
        s = self.plant.state
        track = 1.2
        rate = (s.steering_angle - self._prev_steer) / dt if dt > 0 else 0.0
        self._prev_steer = s.steering_angle
        inner, outer = s.speed - s.yaw_rate * track / 2, s.speed + s.yaw_rate * track / 2
        codes = []
        if "chassis_fault" in self.faults:
            codes.append(int(self.faults["chassis_fault"]) or DEFAULT_FAULT_CODE)
        if self.mode == MODE_FAULT and self.counters.timeouts:
            codes.append(TIMEOUT_CODE)
        standstill = abs(s.speed) < 0.05
        park = standstill and (bool(self.command.get("park_brake", False)) or self.gear == GEAR_PARK)
        return {
            "speed": s.speed,
            "acceleration": s.acceleration,
            "wheel_speed_front_left": abs(inner),
            "wheel_speed_rear_left": abs(inner),
            "wheel_speed_front_right": abs(outer),
            "wheel_speed_rear_right": abs(outer),
            "steering_angle": s.steering_angle,
            "steering_rate": rate,
            "yaw_rate": s.yaw_rate,
            "gear": self.gear,
            "park_brake_engaged": park,
            "drive_mode": self.mode,
            "autonomy_enabled": self.autonomy,
            "emergency_stop_active": "estop" in self.faults,  # the button (the HAL adds its latch)
            "hazard_lights_on": bool(self.command.get("hazard_lights", 0)),
            "beacon_light_on": bool(self.command.get("beacon_light", 0)),
            "battery_soc": self.battery_soc,
            "battery_voltage": 44.0 + 8.0 * self.battery_soc,
            "battery_current": 5.0 + 20.0 * abs(s.acceleration) + 2.0 * abs(s.speed),
            "fault_codes": codes,
        }

    def speed(self) -> float:
        return float(self.plant.state.speed)

    def standstill(self) -> bool:
        return math.isclose(self.plant.state.speed, 0.0, abs_tol=1e-3)


# --- the ROS node of the rig ------------------------------------------------------------------
INJECT_FAULT_SERVICE = "hil/chassis_ecu/inject_fault"


@dataclass(frozen=True)
class ChassisEcuConfig:
    chassis_map: str = param("chassis/sweeper_v1.yaml", help="YAML map of the chassis (relative: to config/)")
    can_interface: str = param("serial", help="python-can interface of the ECU", choices=INTERFACES)
    can_channel: str = param("/tmp/roadedge-can/ecu", help="bus channel; with hub_links: the ECU's own link")
    hub_links: list[str] = param(
        [],
        help="links of a CAN hub this process hosts (first: the ECU's, second: the HAL's): pty paths, "
        "or socket://127.0.0.1:PORT (loopback TCP, for timing)",
    )
    command_timeout: float = param(0.25, help="s without valid command frames -> the ECU stops", low=0.02)
    wheelbase: float = param(2.8, help="m", low=0.5, high=10.0)
    max_speed: float = param(12.0, help="m/s", low=0.1, high=40.0)
    speed_lag: float = param(0.3, help="s, longitudinal actuator lag", low=0.0)
    initial_x: float = param(0.0, help="m, start position east in the map frame")
    initial_y: float = param(0.0, help="m, start position north in the map frame")
    initial_yaw: float = param(0.0, help="rad, start heading (ENU)")
    truth_rate: float = param(50.0, help="hil/ground_truth rate, Hz", low=1.0, high=200.0)


class ChassisEcuNode(RoadedgeNode[ChassisEcuConfig]):
    Schema = ChassisEcuConfig
    default_name = "chassis_ecu"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        path = Path(c.chassis_map)
        canmap = CanMap(path if path.is_absolute() else CONFIG_DIR / path)
        self.hub: PtyCanHub | SocketCanHub | None = None
        channel = c.can_channel
        if c.hub_links and all(link.startswith("socket://") for link in c.hub_links):
            self.hub = SocketCanHub([int(link.rsplit(":", 1)[1]) for link in c.hub_links])
            self.hub.start()
            channel = self.hub.links[0]
        elif c.hub_links:
            self.hub = PtyCanHub(list(c.hub_links))
            self.hub.start()
            channel = c.hub_links[0]
        self.bus = open_bus(BusConfig(c.can_interface, channel))
        plant = VehiclePlant(PlantParams(wheelbase=c.wheelbase, max_speed=c.max_speed, speed_lag=c.speed_lag))
        plant.reset(c.initial_x, c.initial_y, c.initial_yaw)
        hal_link = self.hub.links[1] if self.hub is not None and len(self.hub.links) > 1 else None
        self.ecu = ChassisEcu(
            canmap, self.bus, plant, command_timeout_s=c.command_timeout, hub=self.hub, hal_link=hal_link
        )
        self.ecu.start()
        self._truth_pub = self.publisher(topics.GROUND_TRUTH)
        self.create_service(InjectFault, INJECT_FAULT_SERVICE, self._on_inject)
        self.create_timer(1.0 / c.truth_rate, self._publish_truth)
        self.health.add("ecu", self._health)

    def _on_inject(self, request: Any, response: Any) -> Any:
        response.success, response.message = self.ecu.inject(
            request.fault, bool(request.active), request.value
        )
        self.get_logger().warning(f"fault injection: {response.message}")
        return response

    def _publish_truth(self) -> None:
        with self.ecu.lock:
            truth = ground_truth(self.ecu.plant.state, self.get_clock().now().to_msg())
        self._truth_pub.publish(truth)

    def _health(self) -> Health:
        n = self.ecu.counters
        values = {
            "rx_ok": str(n.rx_ok),
            "rx_rejected": str(n.rx_rejected),
            "tx": str(n.tx),
            "timeouts": str(n.timeouts),
            "faults": ",".join(sorted(self.ecu.faults)) or "none",
        }
        return Health(Level.WARN if self.ecu.faults else Level.OK, "running", values)

    def on_safe_stop(self) -> None:
        self.ecu.stop()
        try:
            self.bus.shutdown()
        finally:
            if self.hub is not None:
                self.hub.stop()


NODE = ChassisEcuNode
main = make_main(NODE)
