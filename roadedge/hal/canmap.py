"""The chassis interface as data: a DBC (cantools) plus a YAML map, no code per chassis.

The map names, per section (``vehicle_command``, ``vehicle_status``, ``equipment_command``,
``equipment_status``), the CAN messages and for each signal the message field it carries,
with scaling beyond the DBC, value tables, constants, list fields (fault codes), cycle
times, stale timeouts, rolling counters and checksums (algorithm and byte range). The
binding is symmetric (``signal = field * scale + offset``), so the HAL encodes commands and
decodes status with it, and the HIL chassis ECU does the reverse with the same files.

Fields are plain names and values (the roadedge_msgs field names); converting to and from
the ROS messages is the node's job, so this module has no ROS dependency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cantools
import cantools.database

from roadedge.config import ConfigError, load_yaml
from roadedge.hal.integrity import ALGORITHMS, CounterTracker

SECTIONS = ("vehicle_command", "vehicle_status", "equipment_command", "equipment_status")
FieldValue = float | int | bool | list[int]


@dataclass(frozen=True)
class Binding:
    """How one DBC signal relates to one message field."""

    signal: str
    field: str | None
    scale: float = 1.0
    offset: float = 0.0
    values: Mapping[int, int] | None = None  # field value -> raw signal value
    const: float | None = None
    append: bool = False
    bits: Mapping[int, int] | None = None  # bit -> code appended when set


@dataclass(frozen=True)
class ChecksumSpec:
    signal: str
    algorithm: str
    first: int
    last: int


@dataclass(frozen=True)
class CounterSpec:
    signal: str
    modulo: int
    max_delta: int


@dataclass
class Decoded:
    """Result of decoding one received frame: fields, or the reason it was rejected."""

    frame: str
    section: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


class FrameCodec:
    """Encoder/decoder of one CAN message of the map, with its counter state."""

    def __init__(
        self,
        section: str,
        message: Any,
        bindings: list[Binding],
        cycle_s: float,
        timeout_s: float,
        counter: CounterSpec | None,
        checksum: ChecksumSpec | None,
    ) -> None:
        self.section = section
        self.message = message
        self.name: str = message.name
        self.frame_id: int = message.frame_id
        self.is_extended_id: bool = bool(message.is_extended_frame)
        self.length: int = message.length
        self.bindings = bindings
        self.cycle_s = cycle_s
        self.timeout_s = timeout_s
        self.counter = counter
        self.checksum = checksum
        self._tx_counter = 0
        self._rx_counter = CounterTracker(counter.modulo, counter.max_delta) if counter else None
        self._signals = {s.name: s for s in message.signals}
        self._raw_zero = {s.name: 0 for s in message.signals}
        self._checksum_mask = b""
        if checksum is not None:
            sig = self._signals[checksum.signal]
            full = dict(self._raw_zero)
            full[checksum.signal] = (1 << sig.length) - 1
            self._checksum_mask = bytes(message.encode(full, scaling=False, strict=False))
        self.fields = sorted({b.field for b in bindings if b.field})

    # --- encoding -------------------------------------------------------------------------
    def _phys(self, binding: Binding, value: Any) -> float:
        sig = self._signals[binding.signal]
        if binding.values is not None:
            key = int(value)
            if key not in binding.values:
                raise ValueError(f"{binding.field}={value} has no entry in the value table of {sig.name}")
            return float(binding.values[key] * sig.scale + sig.offset)
        phys = float(value) * binding.scale + binding.offset
        if not math.isfinite(phys):
            raise ValueError(f"{binding.field} is not finite")
        return phys

    def _clamp(self, sig: Any, phys: float) -> float:
        raw_min = -(1 << (sig.length - 1)) if sig.is_signed else 0
        raw_max = (1 << (sig.length - 1)) - 1 if sig.is_signed else (1 << sig.length) - 1
        lo = min(raw_min * sig.scale + sig.offset, raw_max * sig.scale + sig.offset)
        hi = max(raw_min * sig.scale + sig.offset, raw_max * sig.scale + sig.offset)
        if sig.minimum is not None:
            lo = max(lo, float(sig.minimum))
        if sig.maximum is not None:
            hi = min(hi, float(sig.maximum))
        return float(min(max(phys, lo), hi))

    def signal_values(self, fields: Mapping[str, Any]) -> dict[str, float]:
        """Physical signal values for the given fields (missing fields count as 0)."""
        out: dict[str, float] = {}
        by_bits = {code for b in self.bindings if b.bits for code in b.bits.values()}
        queues: dict[str, list[int]] = {}
        for b in self.bindings:
            sig = self._signals[b.signal]
            if b.const is not None:
                phys = b.const
            elif b.bits is not None:
                codes = set(_as_list(fields.get(b.field or "", [])))
                phys = float(sum(1 << bit for bit, code in b.bits.items() if code in codes))
            elif b.append:
                key = b.field or ""
                if key not in queues:
                    queues[key] = [c for c in _as_list(fields.get(key, [])) if c not in by_bits]
                phys = float(queues[key].pop(0)) if queues[key] else 0.0
            else:
                phys = self._phys(b, fields.get(b.field or "", 0))
            out[b.signal] = self._clamp(sig, phys)
        for name, sig in self._signals.items():
            out.setdefault(name, float(sig.offset))
        return out

    def encode(self, fields: Mapping[str, Any]) -> bytes:
        """Frame payload for the fields, with the next rolling counter and the checksum.

        Raises ValueError for a field the map cannot express (e.g. not in its value table).
        """
        values = self.signal_values(fields)
        if self.counter is not None:
            values[self.counter.signal] = self._tx_counter
            self._tx_counter = (self._tx_counter + 1) % self.counter.modulo
        if self.checksum is not None:
            values[self.checksum.signal] = 0
        data = bytes(self.message.encode(values, scaling=True, strict=False))
        if self.checksum is not None:
            values[self.checksum.signal] = self.compute_checksum(data)
            data = bytes(self.message.encode(values, scaling=True, strict=False))
        return data

    def compute_checksum(self, data: bytes) -> int:
        """Checksum of a payload over the configured byte range, the checksum bits zeroed."""
        assert self.checksum is not None
        masked = bytes(d & ~m & 0xFF for d, m in zip(data, self._checksum_mask, strict=False))
        return ALGORITHMS[self.checksum.algorithm](masked[self.checksum.first : self.checksum.last + 1])

    # --- decoding -------------------------------------------------------------------------
    def decode(self, data: bytes, check_counter: bool = True) -> Decoded:
        """Fields of a received payload, or the rejection reason (checksum, counter, value)."""
        result = Decoded(self.name, self.section)
        if len(data) < self.length:
            result.error = "short_frame"
            return result
        try:
            values = self.message.decode(data, decode_choices=False, scaling=True)
        except Exception as err:  # cantools raises several types for malformed data
            result.error = f"undecodable: {err}"
            return result
        if self.checksum is not None and int(values[self.checksum.signal]) != self.compute_checksum(data):
            result.error = "checksum"
            return result
        if check_counter and self.counter is not None and self._rx_counter is not None:
            verdict = self._rx_counter.check(int(values[self.counter.signal]))
            if not verdict.ok:
                result.error = verdict.reason
                return result
        out = result.fields
        for b in self.bindings:
            if b.field is None or b.const is not None:
                continue
            sig = self._signals[b.signal]
            phys = float(values[b.signal])
            if b.bits is not None:
                flags = int(phys)
                codes = _as_list(out.setdefault(b.field, []))
                codes.extend(code for bit, code in b.bits.items() if flags >> bit & 1)
            elif b.append:
                codes = _as_list(out.setdefault(b.field, []))
                if int(phys) != 0:
                    codes.append(int(phys))
            elif b.values is not None:
                raw = round((phys - sig.offset) / sig.scale)
                inverse = {v: k for k, v in b.values.items()}
                if raw not in inverse:
                    result.error = f"unknown_value {b.signal}={raw}"
                    result.fields = {}
                    return result
                out[b.field] = inverse[raw]
            else:
                out[b.field] = (phys - b.offset) / b.scale
        return result

    def reset_counter(self) -> None:
        if self._rx_counter is not None:
            self._rx_counter.reset()


def _as_list(value: Any) -> list[int]:
    if isinstance(value, list):
        return value
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return [int(v) for v in value]
    return []


class CanMap:
    """A chassis: its DBC and YAML map, as frame codecs per section."""

    def __init__(self, map_path: str | Path) -> None:
        path = Path(map_path)
        spec = load_yaml(path)
        if not isinstance(spec, Mapping) or "dbc" not in spec:
            raise ConfigError(f"{path}: expected a mapping with a 'dbc' entry")
        dbc_path = (path.parent / str(spec["dbc"])).resolve()
        try:
            db = cantools.database.load_file(str(dbc_path))
        except Exception as err:
            raise ConfigError(f"{path}: cannot load DBC {dbc_path}: {err}") from err
        if not isinstance(db, cantools.database.can.Database):
            raise ConfigError(f"{path}: {dbc_path} is not a CAN database")
        self.db = db
        self.name = str(spec.get("name", path.stem))
        self.path = path
        unknown = set(spec) - {"dbc", "name", *SECTIONS}
        if unknown:
            raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}")
        self.sections: dict[str, list[FrameCodec]] = {s: [] for s in SECTIONS}
        self.by_id: dict[tuple[int, bool], FrameCodec] = {}
        for section in SECTIONS:
            for msg_name, msg_spec in (spec.get(section) or {}).items():
                codec = self._frame(path, section, str(msg_name), msg_spec)
                self.sections[section].append(codec)
                self.by_id[(codec.frame_id, codec.is_extended_id)] = codec

    def _frame(self, path: Path, section: str, name: str, spec: Any) -> FrameCodec:
        where = f"{path}: {section}.{name}"
        try:
            message = self.db.get_message_by_name(name)
        except KeyError:
            raise ConfigError(f"{where}: no such message in the DBC") from None
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        unknown = set(spec) - {"signals", "cycle_ms", "timeout_ms", "counter", "checksum"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        signals = {s.name: s for s in message.signals}
        bindings = []
        for sig_name, b in (spec.get("signals") or {}).items():
            if sig_name not in signals:
                raise ConfigError(f"{where}: signal {sig_name} not in the DBC message")
            bindings.append(self._binding(f"{where}.{sig_name}", signals[sig_name], b))
        cycle_ms = spec.get("cycle_ms", message.cycle_time or 100)
        timeout_ms = spec.get("timeout_ms", 0)
        counter = None
        if "counter" in spec:
            c = spec["counter"]
            if c.get("signal") not in signals:
                raise ConfigError(f"{where}: counter signal {c.get('signal')} not in the message")
            modulo = int(c.get("modulo", 1 << signals[c["signal"]].length))
            counter = CounterSpec(str(c["signal"]), modulo, int(c.get("max_delta", 1)))
        checksum = None
        if "checksum" in spec:
            c = spec["checksum"]
            if c.get("signal") not in signals:
                raise ConfigError(f"{where}: checksum signal {c.get('signal')} not in the message")
            if c.get("algorithm") not in ALGORITHMS:
                raise ConfigError(f"{where}: checksum algorithm must be one of {sorted(ALGORITHMS)}")
            first, last = (int(v) for v in c.get("bytes", [0, message.length - 1]))
            if not 0 <= first <= last < message.length:
                raise ConfigError(f"{where}: checksum byte range {first}..{last} outside the frame")
            checksum = ChecksumSpec(str(c["signal"]), str(c["algorithm"]), first, last)
        cycle_s, timeout_s = float(cycle_ms) / 1000.0, float(timeout_ms) / 1000.0
        return FrameCodec(section, message, bindings, cycle_s, timeout_s, counter, checksum)

    @staticmethod
    def _binding(where: str, sig: Any, b: Any) -> Binding:
        if not isinstance(b, Mapping):
            raise ConfigError(f"{where}: expected a mapping")
        unknown = set(b) - {"field", "scale", "offset", "values", "const", "append", "bits"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        if "field" not in b and "const" not in b:
            raise ConfigError(f"{where}: needs 'field' or 'const'")
        values = None
        if "values" in b:
            choices = {str(v): int(k) for k, v in (sig.choices or {}).items()}
            values = {}
            for k, v in dict(b["values"]).items():
                if isinstance(v, str):
                    if v not in choices:
                        raise ConfigError(f"{where}: {v!r} not in the DBC value table {sorted(choices)}")
                    values[int(k)] = choices[v]
                else:
                    values[int(k)] = int(v)
        scale = float(b.get("scale", 1.0))
        if scale == 0.0:
            raise ConfigError(f"{where}: scale must not be 0")
        return Binding(
            signal=sig.name,
            field=str(b["field"]) if "field" in b else None,
            scale=scale,
            offset=float(b.get("offset", 0.0)),
            values=values,
            const=float(b["const"]) if "const" in b else None,
            append=bool(b.get("append", False)),
            bits={int(k): int(v) for k, v in dict(b["bits"]).items()} if "bits" in b else None,
        )

    def frames(self, section: str) -> list[FrameCodec]:
        return self.sections[section]

    def fields(self, section: str) -> set[str]:
        return {f for codec in self.sections[section] for f in codec.fields}

    def lookup(self, frame_id: int, is_extended_id: bool = False) -> FrameCodec | None:
        return self.by_id.get((frame_id, is_extended_id))


class StatusAssembler:
    """Merges decoded frames of one status section into one field set, and tracks staleness.

    List fields (fault codes) are the concatenation of each frame's latest contribution.
    """

    def __init__(self, frames: list[FrameCodec]) -> None:
        self._frames = frames
        self._latest: dict[str, dict[str, FieldValue]] = {}
        self.last_rx: dict[str, float] = {}

    def update(self, decoded: Decoded, now: float) -> None:
        self._latest[decoded.frame] = decoded.fields
        self.last_rx[decoded.frame] = now

    def fields(self) -> dict[str, FieldValue]:
        merged: dict[str, FieldValue] = {}
        for codec in self._frames:
            for key, value in self._latest.get(codec.name, {}).items():
                if isinstance(value, list):
                    existing = merged.get(key)
                    merged[key] = (existing if isinstance(existing, list) else []) + value
                else:
                    merged[key] = value
        return merged

    def received_any(self) -> bool:
        return bool(self._latest)

    def stale(self, now: float, since: float) -> list[str]:
        """Frames with a timeout not received within it (counting from ``since`` if never seen)."""
        out = []
        for codec in self._frames:
            if codec.timeout_s <= 0:
                continue
            last = self.last_rx.get(codec.name, since)
            if now - last > codec.timeout_s:
                out.append(codec.name)
        return out
