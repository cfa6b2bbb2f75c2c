"""Work equipment on Modbus RTU: the register map as data, and the master's link.

:class:`RegisterMap` turns WorkEquipmentCommand fields into a block of holding registers
and a block of input registers back into WorkEquipmentStatus fields (YAML, e.g.
``config/chassis/equipment_modbus.yaml``). :class:`ModbusEquipmentLink` is the master
(pymodbus, serial RTU): one cycle writes the command block and reads the status block;
timeouts, exception responses and frames with a bad CRC or garbage on the line are
counted, never raised; after ``max_failures`` failed cycles in a row it closes the port
and reopens it every ``reconnect_s`` (the adapter was unplugged). :class:`LinkLoss` decides
when the controller counts as lost, from evidence on the wall clock and on the node clock.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadedge.config import ConfigError, load_yaml
from roadedge.diagnostics import EventCounter

FieldValue = float | int | bool | list[int]


@dataclass(frozen=True)
class Register:
    field: str | None
    scale: float = 1.0
    signed: bool = False
    append: bool = False
    heartbeat: bool = False


def _registers(where: str, spec: Any) -> tuple[int, list[Register]]:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("registers"), list):
        raise ConfigError(f"{where}: expected 'address' and a list of 'registers'")
    out = []
    for i, r in enumerate(spec["registers"]):
        if not isinstance(r, Mapping):
            raise ConfigError(f"{where}.registers[{i}]: expected a mapping")
        unknown = set(r) - {"field", "scale", "signed", "append", "heartbeat"}
        if unknown:
            raise ConfigError(f"{where}.registers[{i}]: unknown keys {sorted(unknown)}")
        if "field" not in r and not r.get("heartbeat"):
            raise ConfigError(f"{where}.registers[{i}]: needs 'field' (or heartbeat: true)")
        scale = float(r.get("scale", 1.0))
        if scale == 0.0:
            raise ConfigError(f"{where}.registers[{i}]: scale must not be 0")
        out.append(
            Register(
                field=str(r["field"]) if "field" in r else None,
                scale=scale,
                signed=bool(r.get("signed", False)),
                append=bool(r.get("append", False)),
                heartbeat=bool(r.get("heartbeat", False)),
            )
        )
    return int(spec.get("address", 0)), out


class RegisterMap:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        spec = load_yaml(self.path)
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{path}: expected a mapping")
        unknown = set(spec) - {"name", "device_id", "command", "status"}
        if unknown:
            raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
        self.name = str(spec.get("name", self.path.stem))
        self.device_id = int(spec.get("device_id", 1))
        self.command_address, self.command = _registers(f"{path}: command", spec.get("command"))
        self.status_address, self.status = _registers(f"{path}: status", spec.get("status"))
        self._heartbeat = 0

    def fields(self, block: str) -> set[str]:
        regs = self.command if block == "command" else self.status
        return {r.field for r in regs if r.field}

    @staticmethod
    def _to_register(reg: Register, value: Any) -> int:
        number = float(value) * reg.scale
        if not math.isfinite(number):
            raise ValueError(f"{reg.field} is not finite")
        raw = round(number)
        lo, hi = (-0x8000, 0x7FFF) if reg.signed else (0, 0xFFFF)
        return min(max(raw, lo), hi) & 0xFFFF

    def encode(self, block: str, fields: Mapping[str, Any]) -> list[int]:
        regs = self.command if block == "command" else self.status
        out = []
        queues: dict[str, list[int]] = {}
        for reg in regs:
            if reg.heartbeat:
                self._heartbeat = (self._heartbeat + 1) & 0xFFFF
                out.append(self._heartbeat)
            elif reg.append:
                key = reg.field or ""
                queue = queues.setdefault(key, [int(v) for v in fields.get(key, [])])
                out.append(self._to_register(reg, queue.pop(0)) if queue else 0)
            else:
                out.append(self._to_register(reg, fields.get(reg.field or "", 0)))
        return out

    def decode(self, block: str, registers: list[int]) -> dict[str, FieldValue]:
        regs = self.command if block == "command" else self.status
        if len(registers) < len(regs):
            raise ValueError(f"{len(registers)} registers, the map has {len(regs)}")
        out: dict[str, FieldValue] = {}
        for reg, raw in zip(regs, registers, strict=False):
            if reg.field is None:
                continue
            value = raw - 0x10000 if reg.signed and raw & 0x8000 else raw
            if reg.append:
                codes = out.setdefault(reg.field, [])
                if value and isinstance(codes, list):
                    codes.append(int(value))
            else:
                out[reg.field] = value / reg.scale
        return out


def modbus_crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class ModbusEquipmentLink:
    """The Modbus RTU master of the equipment controller (blocking; run it off the executor)."""

    def __init__(
        self,
        regmap: RegisterMap,
        port: str,
        *,
        baudrate: int = 115200,
        timeout_s: float = 0.1,
        max_failures: int = 3,
        reconnect_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.map = regmap
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.max_failures = max_failures
        self.reconnect_s = reconnect_s
        self._clock = clock
        self.events = EventCounter()
        self.cycles_ok = 0
        self.failures_in_row = 0
        self.connected = False
        self.reconnects = 0
        self._client: Any = None
        self._last_attempt = -1e9
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we count, pymodbus need not shout

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending and len(data) >= 4 and modbus_crc16(data[:-2]) != int.from_bytes(data[-2:], "little"):
            self.events.record("crc_error", data.hex())
        return data

    def connect(self) -> bool:
        from pymodbus.client import ModbusSerialClient
        from pymodbus.framer import FramerType

        self._last_attempt = self._clock()
        self.close()
        try:
            client = ModbusSerialClient(
                self.port,
                framer=FramerType.RTU,
                baudrate=self.baudrate,
                timeout=self.timeout_s,
                retries=0,
                trace_packet=self._trace_packet,
            )
            ok = bool(client.connect())
        except Exception as err:  # pty gone, permissions
            self.events.record("open_failed", repr(err))
            return False
        if not ok:
            self.events.record("open_failed", self.port)
            return False
        self._client = client
        self.connected = True
        self.failures_in_row = 0
        return True

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None
        self.connected = False

    def cycle(self, command: Mapping[str, Any]) -> dict[str, FieldValue] | None:
        """Write the command block, read the status block; None when this cycle failed."""
        if self._client is None:
            if self._clock() - self._last_attempt < self.reconnect_s:
                return None
            self.reconnects += 1
            if not self.connect():
                return None
        try:
            registers = self.map.encode("command", command)
        except (ValueError, TypeError) as err:
            self.events.record("bad_command", str(err))
            registers = self.map.encode("command", {})
        try:
            reply = self._client.write_registers(
                self.map.command_address, registers, device_id=self.map.device_id
            )
            if reply.isError():
                self._failed("exception_response", str(reply))
                return None
            reply = self._client.read_input_registers(
                self.map.status_address, count=len(self.map.status), device_id=self.map.device_id
            )
            if reply.isError():
                self._failed("exception_response", str(reply))
                return None
            fields = self.map.decode("status", list(reply.registers))
        except Exception as err:  # no response, I/O error on an unplugged port, short reply
            self._failed("no_response" if "No response" in str(err) else "io_error", repr(err))
            return None
        self.failures_in_row = 0
        self.cycles_ok += 1
        return fields

    def _failed(self, kind: str, detail: str) -> None:
        self.events.record(kind, detail)
        self.failures_in_row += 1
        if self.failures_in_row >= self.max_failures and self._client is not None:
            self.events.record("disconnected", f"{self.failures_in_row} failed cycles")
            self.close()


class LinkLoss:
    """Whether the equipment controller counts as lost: the decision that ends the work.

    Two kinds of evidence are needed, each on the clock it belongs to:

    * ``cycles`` master cycles in a row without a good reply. The master paces its cycles and
      times out its replies on the wall clock, the serial link's own time, so each failed cycle
      is a chance the controller had and missed (no reply, an exception or garbage, a port that
      could not be opened).
    * ``after_s`` seconds without a good reply on the node clock (sim time on a HIL rig, wall
      time on a vehicle), the time the rest of the stack lives in.

    On a vehicle the two clocks run together and ``after_s`` decides. On a HIL rig that runs on
    sim time, a stall of the whole rig (wall time passes, sim time does not) meets only the
    first, and a short stall of a rig that runs faster than real time (a few wall-clock cycles
    that span seconds of sim time) only the second: neither is taken for a lost controller. A
    real unplug or a line of garbage meets both. Pure: the caller passes the node-clock time.
    """

    def __init__(self, after_s: float, cycles: int) -> None:
        self.after_s = after_s
        self.cycles = cycles
        self.failed_in_row = 0
        self._last_good: float | None = None

    def reset(self) -> None:
        self.failed_in_row = 0
        self._last_good = None

    def good(self, now: float) -> None:
        self.failed_in_row = 0
        self._last_good = now

    def failed(self, now: float) -> None:
        self.failed_in_row += 1
        if self._last_good is None or now < self._last_good:
            self._last_good = now  # the window starts at the first cycle, and again after a clock step back

    def silent_for(self, now: float) -> float:
        """Node-clock seconds since the last good reply (0 before the first cycle)."""
        if self._last_good is None:
            return 0.0
        return max(0.0, now - self._last_good)

    def lost(self, now: float) -> bool:
        return self.failed_in_row >= self.cycles and self.silent_for(now) >= self.after_s
