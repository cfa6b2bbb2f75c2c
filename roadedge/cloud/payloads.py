"""Pure helpers the cloud_bridge node uses to build uplink data and read downlink data.

Enumeration tables (index = the roadedge_msgs constant), JSON-safe numbers, a change filter
for event streams, the diagnostics summary and the geodetic -> ENU step of an RSI update.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pymap3d

from roadedge.cloud import schema

#: VehicleStatus.MODE_* -> schema name
DRIVE_MODE_NAMES = ("manual", "autonomous", "sweeping", "remote", "fault")
#: WorkEquipmentStatus.BRUSH_* / DUMP_*
BRUSH_NAMES = ("up", "down", "moving")
DUMP_NAMES = ("lowered", "raising", "raised", "lowering")
#: TaskProgress.STATE_*
TASK_STATE_NAMES = schema.TASK_STATES
#: Advisory.TYPE_* / SEVERITY_*
ADVISORY_NAMES = schema.ADVISORY_TYPES
SEVERITY_NAMES = schema.SEVERITIES
#: SpatPhaseState.LIGHT_*
LIGHT_NAMES = schema.LIGHTS
#: RsmParticipant.TYPE_*
PARTICIPANT_NAMES = schema.PARTICIPANT_TYPES
#: RsiEvent.SOURCE_*
RSI_SOURCE_NAMES = ("unknown", "police", "government", "meteorological", "internet", "detection")
#: diagnostic_msgs/DiagnosticStatus levels
LEVEL_NAMES = ("ok", "warn", "error", "stale")


def name_of(names: Sequence[str], index: int, default: str = "unknown") -> str:
    return names[index] if 0 <= index < len(names) else default


def index_of(names: Sequence[str], name: str) -> int:
    return list(names).index(name)


def num(value: float, digits: int = 6) -> float | None:
    """A finite float rounded for JSON, or None (JSON has no NaN/inf)."""
    v = float(value)
    return round(v, digits) if math.isfinite(v) else None


def fraction(value: float) -> float | None:
    v = num(value, 4)
    return None if v is None else min(1.0, max(0.0, v))


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """ENU yaw (rad, CCW from east) of an orientation quaternion."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


class ChangeFilter:
    """Passes an event when its value changed, or when ``repeat_s`` passed since it last passed.

    Advisories come at the planner's rate; the cloud wants each one once (and a reminder).
    """

    def __init__(self, repeat_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._repeat = repeat_s
        self._clock = clock
        self._last: dict[Any, tuple[Any, float]] = {}

    def passes(self, key: Any, value: Any) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and last[0] == value and now - last[1] < self._repeat:
            return False
        self._last[key] = (value, now)
        if len(self._last) > 4096:  # bounded: forget the oldest half
            for k in sorted(self._last, key=lambda k: self._last[k][1])[:2048]:
                del self._last[k]
        return True


@dataclass(frozen=True)
class StatusLine:
    name: str
    level: int
    message: str


def diag_summary(
    statuses: Iterable[StatusLine], link: Mapping[str, int] | None = None, max_components: int = 256
) -> dict[str, Any]:
    """The ``diag`` uplink: the worst level and every component that is not OK (worst first)."""
    items = sorted(statuses, key=lambda s: (-min(max(s.level, 0), 3), s.name))
    worst = max((min(max(s.level, 0), 3) for s in items), default=0)
    data: dict[str, Any] = {
        "level": LEVEL_NAMES[worst],
        "components": [
            {"name": s.name[:128], "level": LEVEL_NAMES[min(max(s.level, 0), 3)], "message": s.message[:256]}
            for s in items
            if s.level != 0
        ][:max_components],
    }
    if link is not None:
        data["link"] = dict(link)
    return data


@dataclass(frozen=True)
class EnuEvent:
    """An RSI event of a downlink rsi_update, positioned in ENU metres from the reference."""

    rte_id: int
    event_type: int
    source: int
    east: float
    north: float
    up: float
    radius: float  # NaN = unavailable
    description: str
    start_time: float  # UNIX s, 0 = unavailable
    end_time: float
    priority: int


def rsi_events_to_enu(reference: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[EnuEvent]:
    """Validated rsi_update data -> events in ENU metres from ``reference`` (WGS-84)."""
    lat0, lon0 = float(reference["lat"]), float(reference["lon"])
    alt0 = float(reference.get("alt") or 0.0)
    out = []
    for e in events:
        pos = e["position"]
        e_, n_, u_ = pymap3d.geodetic2enu(
            float(pos["lat"]), float(pos["lon"]), float(pos.get("alt") or alt0), lat0, lon0, alt0
        )
        radius = e.get("radius")
        out.append(
            EnuEvent(
                rte_id=int(e["rte_id"]),
                event_type=int(e["event_type"]),
                source=index_of(RSI_SOURCE_NAMES, str(e.get("source", "unknown"))),
                east=float(e_),
                north=float(n_),
                up=float(u_),
                radius=math.nan if radius is None else float(radius),
                description=str(e.get("description", "")),
                start_time=float(e.get("start_time") or 0.0),
                end_time=float(e.get("end_time") or 0.0),
                priority=int(e.get("priority", 0)),
            )
        )
    return out


def enu_to_geodetic(
    reference: tuple[float, float, float], east: float, north: float, up: float
) -> dict[str, Any]:
    """ENU metres from a WGS-84 reference -> the schema's {lat, lon, alt}."""
    lat, lon, alt = pymap3d.enu2geodetic(east, north, up, *reference)
    return {"lat": round(float(lat), 8), "lon": round(float(lon), 8), "alt": num(float(alt), 2)}
