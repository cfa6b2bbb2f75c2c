"""Work equipment over Modbus RTU: /vehicle/work_equipment/command -> registers, registers -> .../status.

A lifecycle driver for upper-body controllers on RS-485 (those on CAN go through
chassis_hal). A worker thread runs :class:`roadedge.hal.modbus.ModbusEquipmentLink`
cycles at ``rate``: write the command block, read the status block. A command older
than ``command_timeout`` is replaced by the safe state (brushes up, fan and spray off);
deactivate and shutdown write the safe state. Unplugged ports are reopened, garbage
and CRC errors are counted on /diagnostics, never fatal. While the controller cannot be
reached (:class:`roadedge.hal.modbus.LinkLoss`) the status carries ``LINK_LOST_FAULT``, so the
planner ends the work.

Clocks: the serial link's own timing (cycle pacing, reply timeout, reopening the port) is on
the wall clock, because it is physical. The decisions the rest of the stack sees follow the
node clock (:meth:`EquipmentModbus.decision_time`: sim time on a HIL rig; on a vehicle the
monotonic wall clock, immune to steps of the system time): command freshness, and the
link-lost window, which also needs ``link_lost_cycles`` failed wall-clock cycles in a row. So
a HIL rig starved of CPU (wall time passing while sim time does not, or sim time running
ahead of a briefly stalled emulator) is not taken for a device fault, and a real unplug is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclpy.clock import ROSClock
from roadedge_msgs.msg import WorkEquipmentCommand, WorkEquipmentStatus
from roadedge_nodes.chassis_hal import from_message, msg_fields, to_message

from roadedge import topics
from roadedge.config import ConfigError, param
from roadedge.diagnostics import Health, Level
from roadedge.hal.modbus import FieldValue, LinkLoss, ModbusEquipmentLink, RegisterMap
from roadedge.hal.runtime import EQUIPMENT_SAFE
from roadedge.profiles import CONFIG_DIR
from roadedge.ros.node import RoadedgeLifecycleNode, make_main

#: Fault code reported in WorkEquipmentStatus while the controller cannot be reached (not a
#: controller code: above the 16-bit range of the register map's codes).
LINK_LOST_FAULT = 0x10000


@dataclass(frozen=True)
class EquipmentModbusConfig:
    register_map: str = param(
        "chassis/equipment_modbus.yaml", help="Modbus register map (relative: to config/)"
    )
    port: str = param("/tmp/roadedge-modbus/master", help="serial device of the RS-485 adapter")
    baudrate: int = param(115200, help="bit/s", low=1200, high=4000000)
    rate: float = param(10.0, help="cycles per second (write command, read status)", low=0.5, high=100.0)
    timeout: float = param(
        0.1,
        help="s (wall clock) to wait for a reply; longer on a rig whose emulator shares the CPU",
        low=0.01,
        high=5.0,
    )
    max_failures: int = param(3, help="failed cycles in a row before the port is reopened", low=1)
    reconnect_period: float = param(0.5, help="s between attempts to reopen the port", low=0.05)
    command_timeout: float = param(
        1.0, help="s (node clock) without a command -> equipment to the safe state", low=0.05
    )
    link_lost_after: float = param(
        2.0, help="s (node clock) without a good reply before status reports the link lost", low=0.1
    )
    link_lost_cycles: int = param(
        5, help="and at least this many cycles in a row (wall clock) without a good reply", low=1
    )


class EquipmentModbus(RoadedgeLifecycleNode[EquipmentModbusConfig]):
    Schema = EquipmentModbusConfig
    default_name = "equipment_modbus"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.link: ModbusEquipmentLink | None = None
        self._lock = threading.Lock()
        self._command: dict[str, Any] = dict(EQUIPMENT_SAFE)
        self._command_time: float | None = None  # decision_time()
        self._status: dict[str, FieldValue] | None = None
        self._status_new = False
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.link_loss = LinkLoss(self.config.link_lost_after, self.config.link_lost_cycles)
        self._pub = self.publisher(topics.EQUIPMENT_STATUS)
        self.subscription(topics.EQUIPMENT_COMMAND, self._on_command)
        self.create_timer(1.0 / self.config.rate, self._publish)
        self.health.add("modbus", self._health)

    def open_device(self) -> bool:
        c = self.config
        path = Path(c.register_map)
        try:
            regmap = RegisterMap(path if path.is_absolute() else CONFIG_DIR / path)
            for block, msg_type in (("command", WorkEquipmentCommand), ("status", WorkEquipmentStatus)):
                unknown = regmap.fields(block) - set(msg_fields(msg_type))
                if unknown:
                    raise ConfigError(
                        f"{regmap.path}: {block} fields {sorted(unknown)} not in {msg_type.__name__}"
                    )
        except ConfigError as err:
            self.get_logger().error(str(err))
            return False
        self.link = ModbusEquipmentLink(
            regmap,
            c.port,
            baudrate=c.baudrate,
            timeout_s=c.timeout,
            max_failures=c.max_failures,
            reconnect_s=c.reconnect_period,
        )
        return True

    def close_device(self) -> None:
        if self.link is not None:
            self.link.close()
        self.link = None

    def start_output(self) -> None:
        with self._lock:
            self.link_loss.reset()
        self._stop.clear()
        self._worker = threading.Thread(target=self._run, name="modbus-master", daemon=True)
        self._worker.start()

    def stop_output(self) -> None:
        if self._worker is None:
            return
        self._stop.set()
        self._worker.join(timeout=3.0)
        self._worker = None
        if self.link is not None and self.link.connected:
            self.link.cycle(EQUIPMENT_SAFE)  # leave the equipment safe

    def _on_command(self, msg: WorkEquipmentCommand) -> None:
        with self._lock:
            self._command = from_message(msg)
            self._command_time = self.decision_time()

    def decision_time(self) -> float:
        """Seconds on the clock of the decisions the stack sees: the node clock while it runs on sim
        time (/clock), else the monotonic wall clock (what the node clock means on a vehicle, without
        its steps when the system time is set)."""
        clock = self.get_clock()
        if isinstance(clock, ROSClock) and clock.ros_time_is_active:
            return self.now_s()
        return time.monotonic()

    def _fresh_command(self, now: float) -> dict[str, Any]:
        """The planner's command while it is fresh (``now``: decision_time()), else the safe state."""
        with self._lock:
            age = None if self._command_time is None else now - self._command_time
            # a negative age is a clock stepped back: not trusted until the next command arrives
            fresh = age is not None and 0.0 <= age <= self.config.command_timeout
            return self._command if fresh else EQUIPMENT_SAFE

    def _run(self) -> None:
        period = 1.0 / self.config.rate
        next_time = time.monotonic()  # the link's cycles are paced on the wall clock
        while not self._stop.is_set():
            command = self._fresh_command(self.decision_time())
            assert self.link is not None
            status = self.link.cycle(command)
            now = self.decision_time()
            with self._lock:
                if status is not None:
                    self._status, self._status_new = status, True
                    self.link_loss.good(now)
                else:
                    self.link_loss.failed(now)
            next_time += period
            delay = next_time - time.monotonic()
            if delay < 0:
                next_time, delay = time.monotonic(), 0.0
            self._stop.wait(delay)

    def _publish(self) -> None:
        now = self.decision_time()
        with self._lock:
            lost = self.link_loss.lost(now)
        if self.active and self.link is not None and lost:
            # The controller is unreachable: say so, so the planner ends the work safely instead of
            # trusting the last status it saw.
            msg = WorkEquipmentStatus(enabled=False, fault_codes=[LINK_LOST_FAULT])
            msg.header.stamp = self.get_clock().now().to_msg()
            self._pub.publish(msg)
            return
        with self._lock:
            if not self._status_new or self._status is None:
                return
            status, self._status_new = self._status, False
        msg = to_message(WorkEquipmentStatus(), status)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub.publish(msg)

    def _health(self) -> Health:
        link = self.link
        if link is None:
            return Health(Level.STALE, "not configured")
        values = {"cycles_ok": str(link.cycles_ok), "reconnects": str(link.reconnects)}
        values.update(link.events.values())
        now = self.decision_time()
        with self._lock:
            lost, silent = self.link_loss.lost(now), self.link_loss.silent_for(now)
        if lost:
            return Health(Level.ERROR, f"controller lost: no good reply for {silent:.1f} s", values)
        if not link.connected:
            return Health(Level.ERROR, f"port {link.port} not open", values)
        errors = sum(v for k, v in link.events.counts.items() if k != "disconnected")
        if link.failures_in_row:
            return Health(Level.WARN, f"{link.failures_in_row} failed cycles in a row", values)
        return Health(Level.OK if not errors else Level.WARN, f"ok ({errors} errors counted)", values)


NODE = EquipmentModbus
main = make_main(NODE)
