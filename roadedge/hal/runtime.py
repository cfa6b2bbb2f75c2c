"""The chassis HAL loop: commands through the safety watchdog onto CAN, status back.

A transmit thread (the sender) runs on absolute deadlines (cycle = the shortest command
frame cycle, 20 ms for the reference chassis): each cycle it asks the watchdog for the
command of this cycle and sends each command frame whose cycle is due; an e-stop input
wakes it at once for an extra frame. The sender owns the watchdog's clock: commands are
only inputs, so a producer that stalls (no fresh command) turns into controlled-stop
frames from the sender itself after ``command_timeout_s``. A receive thread decodes
status frames (checksum and counter checked), feeds the watchdog (speed, steering, e-stop
input) and hands merged status fields to the caller. A send or receive error, or a
bus-off error frame, marks the bus down; the transmit thread reopens it (at once if it had
been up for ``reconnect_s``, else every ``reconnect_s``) and sends the latched controlled
stop first.

``realtime_priority`` > 0 runs both threads SCHED_FIFO (:func:`apply_realtime`); a refusal
(no CAP_SYS_NICE, RLIMIT_RTPRIO too low) is a diagnostic, and the loop runs on. In the
chassis_hal node this class runs in a process of its own (:mod:`roadedge.hal.sender`),
away from the executor's GIL; in one process it serves tests and the ``virtual`` bus.

Everything here is ROS-free: the chassis HAL node, the benchmark and the tests drive it.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import can

from roadedge.diagnostics import EventCounter
from roadedge.hal.canmap import CanMap, Decoded, FieldValue, FrameCodec, StatusAssembler
from roadedge.hal.safety import Fault, Output, SafetyLimits, SafetyWatchdog

CAN_ERR_BUSOFF = 0x00000040  # linux/can/error.h, in the id of an error frame

#: Equipment command that leaves the work equipment safe (brushes up, fan and spray off).
EQUIPMENT_SAFE: dict[str, Any] = {
    "enable": False,
    "side_brush_left": 0,
    "side_brush_right": 0,
    "main_brush": 0,
    "side_brush_speed": 0.0,
    "main_brush_speed": 0.0,
    "suction_fan_speed": 0.0,
    "water_spray_flow": 0.0,
    "dump": 0,
}


def command_cycle(canmap: CanMap) -> float:
    """The sender's cycle: the shortest cycle of the command frames (s)."""
    frames = canmap.frames("vehicle_command") + canmap.frames("equipment_command")
    return min((f.cycle_s for f in frames), default=0.02)


def apply_realtime(priority: int, tid: int = 0) -> str:
    """SCHED_FIFO at ``priority`` for a thread (0: the caller; threads it starts inherit it).

    Returns the state for diagnostics: ``"off"``, ``"SCHED_FIFO <p>"`` or ``"refused: ..."``
    naming what the deployment has to grant (the process keeps its normal scheduling).
    """
    if priority <= 0:
        return "off"
    if not hasattr(os, "sched_setscheduler"):
        return "refused: no SCHED_FIFO on this platform"
    try:
        os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as err:
        soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
        why = "permission denied" if err.errno == errno.EPERM else os.strerror(err.errno or 0)
        return (
            f"refused: SCHED_FIFO {priority}: {why} (RLIMIT_RTPRIO {soft}, no CAP_SYS_NICE); grant it "
            f"with LimitRTPRIO={priority} in the systemd unit (or rtprio in limits.conf)"
        )
    return f"SCHED_FIFO {priority}"


@dataclass(frozen=True)
class Snapshot:
    """What the node reports, taken at one instant (also sent across by the sender process)."""

    status: dict[str, dict[str, FieldValue]]
    faults: dict[str, int]
    clamps: dict[str, int]
    rejected_commands: int
    tx_frames: int
    rx_frames: int
    reconnects: int
    events: dict[str, int]
    event_details: dict[str, str]
    last_output: Output | None
    connected: bool
    running: bool
    realtime: str


@dataclass
class RuntimeStats:
    tx_frames: int = 0
    rx_frames: int = 0
    reconnects: int = 0
    tx_errors: int = 0
    last_output: Output | None = None
    events: EventCounter = field(default_factory=EventCounter)


class ChassisRuntime:
    """One chassis on one bus: threads for transmit and receive around a SafetyWatchdog."""

    def __init__(
        self,
        canmap: CanMap,
        open_bus: Callable[[], can.BusABC],
        limits: SafetyLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[str, dict[str, FieldValue]], None] | None = None,
        on_event: Callable[[str, str], None] | None = None,
        reconnect_s: float = 0.5,
        equipment_timeout_s: float = 1.0,
        realtime_priority: int = 0,
    ) -> None:
        self.map = canmap
        self._open_bus = open_bus
        self._clock = clock
        self._on_status = on_status
        self._on_event = on_event
        self.reconnect_s = reconnect_s
        self.realtime_priority = realtime_priority
        self.realtime = "off"  # state of the SCHED_FIFO request (apply_realtime)
        self.equipment_timeout_s = equipment_timeout_s
        self.lock = threading.RLock()
        self.watchdog = SafetyWatchdog(limits or SafetyLimits(), clock())
        self.stats = RuntimeStats()
        self._bus: can.BusABC | None = None
        self._bus_gen = 0
        self._connected_at = clock()
        self._down_at: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._assemblers = {
            "vehicle_status": StatusAssembler(canmap.frames("vehicle_status")),
            "equipment_status": StatusAssembler(canmap.frames("equipment_status")),
        }
        self._equipment: dict[str, Any] = dict(EQUIPMENT_SAFE)
        self._equipment_time = -1e9
        self._estop_input = False
        cmd_frames = canmap.frames("vehicle_command") + canmap.frames("equipment_command")
        self.cycle_s = command_cycle(canmap)
        self._drive_frame = cmd_frames[0].frame_id if cmd_frames else -1
        self._schedule: list[tuple[FrameCodec, int]] = [
            (f, max(1, round(f.cycle_s / self.cycle_s))) for f in cmd_frames
        ]
        #: per fault: when the first stop frame with it latched went out (since it was last detected)
        self.stop_sent_at: dict[Fault, float] = {}
        #: set to [] to record when each regular-cycle frame of the first command message has been
        #: written to the bus (the bench's "leaving the HAL" point)
        self.tx_log: list[float] | None = None
        self.wake_log: list[tuple[float, float]] = []  # with tx_log: (deadline, how late the sender woke)

    # --- inputs from the node ---------------------------------------------------------------
    def command(self, fields: Mapping[str, Any], age: float = 0.0) -> bool:
        """A command from the producer; a rejected one (stale stamp, unknown mode/gear) is counted."""
        with self.lock:
            ok = self.watchdog.command(fields, self._clock(), age)
        if not ok:
            self._event("rejected_command", f"stamp {age:.3f} s old, mode {fields.get('drive_mode')}")
        return ok

    def equipment_command(self, fields: Mapping[str, Any]) -> None:
        with self.lock:
            self._equipment = dict(fields)
            self._equipment_time = self._clock()

    def request_mode(self, mode: int) -> tuple[bool, str]:
        with self.lock:
            return self.watchdog.request_mode(mode)

    def remote_stop(self, active: bool) -> None:
        with self.lock:
            self.watchdog.remote_stop(active)

    def status(self, section: str) -> dict[str, FieldValue]:
        with self.lock:
            return self._assemblers[section].fields()

    @property
    def connected(self) -> bool:
        return self._bus is not None

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def report(self, kind: str, detail: str = "") -> None:
        """Count an event of the caller with the runtime's events."""
        self._event(kind, detail)

    def snapshot(self) -> Snapshot:
        with self.lock:
            counters = self.watchdog.counters
            return Snapshot(
                status={name: asm.fields() for name, asm in self._assemblers.items()},
                faults=dict(counters.faults),
                clamps=dict(counters.clamps),
                rejected_commands=counters.rejected_commands,
                tx_frames=self.stats.tx_frames,
                rx_frames=self.stats.rx_frames,
                reconnects=self.stats.reconnects,
                events=dict(self.stats.events.counts),
                event_details=dict(self.stats.events.last_detail),
                last_output=self.stats.last_output,
                connected=self.connected,
                running=self.running,
                realtime=self.realtime,
            )

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._connect()
        self._threads = [
            threading.Thread(target=self._tx_loop, name="chassis-tx", daemon=True),
            threading.Thread(target=self._rx_loop, name="chassis-rx", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, send_stop: bool = True) -> None:
        """Stop the threads; first a few controlled-stop frames (leave the chassis safe)."""
        if send_stop and self._bus is not None:
            with self.lock:
                self.watchdog.command({"enable": False, "drive_mode": self.watchdog.mode()}, self._clock())
            for _ in range(3):
                self._send_cycle(force_all=True)
                time.sleep(self.cycle_s)
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._disconnect()

    def _event(self, kind: str, detail: str = "") -> None:
        text = self.stats.events.record(kind, detail)
        if text and self._on_event:
            self._on_event(kind, text)

    def _connect(self) -> None:
        try:
            bus = self._open_bus()
        except Exception as err:  # adapter missing, pty gone, permissions
            self._event("bus_open_failed", repr(err))
            with self.lock:
                self.watchdog.bus_state(False, self._clock())
            return
        with self.lock:
            self._bus = bus
            self._bus_gen += 1
            self._connected_at = self._clock()
            for codec in self.map.frames("vehicle_status") + self.map.frames("equipment_status"):
                codec.reset_counter()
            self.watchdog.bus_state(True, self._clock())

    def _disconnect(self) -> None:
        with self.lock:
            bus, self._bus = self._bus, None
        if bus is not None:
            try:
                bus.shutdown()
            except Exception as err:  # already gone
                self._event("bus_shutdown_failed", repr(err))

    def _bus_down(self, reason: str) -> None:
        self._event("bus_down", reason)
        self._down_at = self._clock()
        with self.lock:
            self.watchdog.bus_state(False, self._clock())
        self._disconnect()

    # --- transmit -----------------------------------------------------------------------------
    def _apply_priority(self) -> None:
        """SCHED_FIFO for this thread when configured; refused -> counted, state for diagnostics."""
        state = apply_realtime(self.realtime_priority)
        if self.realtime_priority > 0:
            self.realtime = state
        if state.startswith("refused"):
            self._event("realtime_priority_refused", state)

    def _tx_loop(self) -> None:
        self._apply_priority()
        tick = 0
        next_time = self._clock()
        last_reconnect = -1e9
        while not self._stop.is_set():
            if self._down_at is not None:
                # reopen at once after a bus that had been up for a while; a flapping one waits
                last_reconnect, self._down_at = max(last_reconnect, self._connected_at), None
            if self._bus is None and self._clock() - last_reconnect >= self.reconnect_s:
                last_reconnect = self._clock()
                self.stats.reconnects += 1
                self._connect()
            if self.tx_log is not None and len(self.wake_log) < 100000:
                self.wake_log.append((next_time, self._clock() - next_time))  # timer lateness
            self._send_cycle(tick=tick)
            tick += 1
            next_time += self.cycle_s
            while not self._stop.is_set():
                remaining = next_time - self._clock()
                if remaining <= 0:
                    break
                if self._wake.wait(remaining):
                    self._wake.clear()
                    if not self._stop.is_set():
                        self._send_cycle(force_all=True, extra=True)  # e-stop: do not wait
            if self._clock() - next_time > 5 * self.cycle_s:
                next_time = self._clock()  # fell far behind (suspended): no burst

    def _send_cycle(self, tick: int = 0, force_all: bool = False, extra: bool = False) -> None:
        with self.lock:
            now = self._clock()
            for name, asm in self._assemblers.items():
                stale = asm.stale(now, since=self._connected_at)
                if name == "vehicle_status":
                    self.watchdog.stale_feedback(stale)
            out = self.watchdog.step(now)
            self.stats.last_output = out
            equipment = self._equipment
            if (out.stopping and out.faults) or now - self._equipment_time > self.equipment_timeout_s:
                equipment = EQUIPMENT_SAFE
            bus = self._bus
            frames: list[can.Message] = []
            for codec, every in self._schedule:
                if not (force_all or tick % every == 0):
                    continue
                if extra and codec.section != "vehicle_command":
                    continue
                fields = out.fields if codec.section == "vehicle_command" else equipment
                try:
                    data = codec.encode(fields)
                except ValueError as err:
                    self._event("unencodable_command", f"{codec.name}: {err}")
                    data = codec.encode(EQUIPMENT_SAFE if codec.section == "equipment_command" else {})
                frames.append(
                    can.Message(arbitration_id=codec.frame_id, data=data, is_extended_id=codec.is_extended_id)
                )
            if out.stopping and out.faults:
                for fault in out.faults:
                    if self.stop_sent_at.get(fault, -1e18) < self.watchdog.detected_at.get(fault, 0.0):
                        self.stop_sent_at[fault] = now
        if bus is None:
            return
        log = self.tx_log is not None and not extra and not force_all and len(self.tx_log) < 100000
        try:
            for msg in frames:
                bus.send(msg, timeout=self.cycle_s)
                self.stats.tx_frames += 1
                if log and msg.arbitration_id == self._drive_frame and self.tx_log is not None:
                    self.tx_log.append(self._clock())
        except (can.CanError, OSError, ValueError) as err:
            self.stats.tx_errors += 1
            self._bus_down(f"send failed: {err}")

    # --- receive ------------------------------------------------------------------------------
    def _rx_loop(self) -> None:
        self._apply_priority()
        while not self._stop.is_set():
            bus = self._bus
            if bus is None:
                self._stop.wait(0.02)
                continue
            try:
                msg = bus.recv(timeout=0.05)
            except (can.CanError, OSError, ValueError, TypeError) as err:
                if bus is self._bus:
                    self._bus_down(f"receive failed: {err}")
                continue
            if msg is None:
                continue
            self.handle_frame(msg)

    def handle_frame(self, msg: can.Message) -> None:
        if msg.is_error_frame:
            if msg.arbitration_id & CAN_ERR_BUSOFF:
                self._bus_down("bus-off")
            else:
                self._event("error_frame", hex(msg.arbitration_id))
            return
        codec = self.map.lookup(msg.arbitration_id, msg.is_extended_id)
        if codec is None or codec.section not in self._assemblers:
            return
        now = self._clock()
        decoded: Decoded = codec.decode(bytes(msg.data))
        self.stats.rx_frames += 1
        with self.lock:
            if not decoded.ok:
                kind = decoded.error.split(" ")[0]
                self.watchdog.rx_error(kind, now)
                self._event(f"rx_{kind}", f"{codec.name}: {decoded.error}")
                return
            self._assemblers[codec.section].update(decoded, now)
            fields = self._assemblers[codec.section].fields()
            wake = False
            if codec.section == "vehicle_status":
                speed, steer = decoded.fields.get("speed"), decoded.fields.get("steering_angle")
                self.watchdog.feedback(
                    float(speed) if isinstance(speed, (int, float)) else None,
                    float(steer) if isinstance(steer, (int, float)) else None,
                )
                if "emergency_stop_active" in decoded.fields:
                    estop = bool(decoded.fields["emergency_stop_active"])
                    wake = estop and not self._estop_input
                    self._estop_input = estop
                    self.watchdog.estop_input(estop)
        if wake:
            self._wake.set()
        if self._on_status:
            self._on_status(codec.section, fields)
