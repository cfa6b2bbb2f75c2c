"""Roadside work zones from vehicles at work: a sweeper's BSM -> an RSI work-zone event (RSU side).

A sanitation vehicle at work says so in its BSM (v2x_obu while sweeping: LightbarInUse
slowMovingVehicle with the beacon on, and the configured VehicleEventFlags bits). The RSU turns the
*verified* BSMs of such a vehicle into an RSI road-traffic event:

- position: the vehicle's; reference path: the way it came (its last ``length_behind`` metres, from
  the positions of its BSMs; when the zone starts, from the path history its BSM carries, so that the
  way it came is known at once) and ``length_ahead`` metres along its heading, ``half_width`` either
  side;
- description: "<text> (<vehicle id>), limit <speed_advice> m/s" (planning reads the stated limit as the
  work-zone speed; the id lets a vehicle tell its own zone from others');
- refreshed with every BSM that keeps the flag; withdrawn as soon as a BSM from it comes without the
  flag, or when its BSMs have been missing for ``timeout`` seconds.

Pure and typed: the node (v2x_rsu) feeds BSMs and the clock, and merges :meth:`WorkZoneTracker.events`
into the RSI it broadcasts (one RSI per RSU, because receivers keep one RSI per sender).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pymap3d
from geometry_msgs.msg import Point
from roadedge_msgs.msg import Bsm, GeoPoint, RsiEvent, RsiPath

#: roadedge_msgs/RsiEvent SOURCE_DETECTION: the RSU saw it (here: heard it) itself
SOURCE_DETECTION = 5
#: CSAE LightbarInUse slowMovingVehicle (what v2x_obu sends while sweeping with the beacon on)
LIGHTBAR_SLOW_MOVING = 6
MAX_PATH_POINTS = 32  # CSAE PathPointList SIZE(2..32)
_VEHICLE_IN_TEXT = re.compile(r"\(([0-9a-f]{16})\)")


def describe(text: str, vehicle_id: str, speed_advice: float) -> str:
    """The event description "<text> (<vehicle id>), limit <speed> m/s"; :func:`working_vehicle` reads it."""
    return f"{text} ({vehicle_id}), limit {speed_advice:.1f} m/s"


def working_vehicle(description: str) -> str | None:
    """The vehicle id named in a work-zone description made by :func:`describe`, or None."""
    m = _VEHICLE_IN_TEXT.search(description)
    return m.group(1) if m else None


@dataclass(frozen=True)
class WorkZoneParams:
    lightbar_codes: frozenset[int] = frozenset({LIGHTBAR_SLOW_MOVING})  # LightbarInUse meaning "at work"
    event_mask: int = 0  # VehicleEventFlags bits meaning "at work" (0: lightbar only)
    vehicle_classes: frozenset[int] = frozenset()  # BasicVehicleClass codes that may work; empty: any
    length_ahead: float = 30.0  # m along the heading
    length_behind: float = 20.0  # m of the way it came
    half_width: float = 2.0  # m either side of the path
    speed_advice: float = 1.5  # m/s, stated in the description
    timeout: float = 2.0  # s without a BSM from it: withdrawn
    event_type: int = 401  # GB/T 29100 road works family (planning: work zone)
    rte_id_base: int = 200  # rte_id of the first work zone; the next ones count up
    max_zones: int = 4  # at most this many vehicles at once (RTEList holds 8 events in all)
    priority: int = 5
    description: str = "sanitation vehicle at work"

    def __post_init__(self) -> None:
        for name in ("length_ahead", "length_behind", "half_width", "speed_advice", "timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"work zone {name} {value!r}: a finite value >= 0")
        if self.timeout <= 0.0:
            raise ValueError("work zone timeout must be > 0")
        if not 0 <= self.rte_id_base <= 255 - max(self.max_zones - 1, 0) or not 1 <= self.max_zones <= 8:
            raise ValueError(
                f"work zone rte ids {self.rte_id_base}.. for {self.max_zones} zones: 0..255, <= 8"
            )
        if not 0 <= self.event_type <= 65535 or not 0 <= self.priority <= 7:
            raise ValueError("work zone event_type 0..65535, priority 0..7")


@dataclass
class _Zone:
    sender: str
    rte_id: int
    last_seen: float
    lat: float
    lon: float
    heading: float  # ENU yaw rad, NaN = unknown
    trail: list[tuple[float, float]] = field(default_factory=list)  # ENU m from the reference, oldest first


class WorkZoneTracker:
    """Vehicles at work -> RSI events; ``reference``: RSI reference position (None: the first vehicle's)."""

    def __init__(self, params: WorkZoneParams | None = None, reference: GeoPoint | None = None) -> None:
        self.params = params or WorkZoneParams()
        self.reference = reference
        self.zones: dict[str, _Zone] = {}
        self.started = 0
        self.withdrawn = 0
        self.ignored_untrusted = 0
        self.ignored_full = 0

    # ------------------------------------------------------------------ input
    def at_work(self, bsm: Bsm) -> bool:
        p = self.params
        if p.vehicle_classes and int(bsm.vehicle_class) not in p.vehicle_classes:
            return False
        return int(bsm.lights_in_use) in p.lightbar_codes or bool(int(bsm.event_flags) & p.event_mask)

    def update(self, bsm: Bsm, trusted: bool, now: float) -> str | None:
        """One received BSM (``trusted``: its signature was verified) -> "started", "withdrawn" or None."""
        sender = str(bsm.v2x.sender_id)
        if not trusted:
            self.ignored_untrusted += 1
            return None
        lat, lon = float(bsm.position.latitude), float(bsm.position.longitude)
        if not self.at_work(bsm) or not (math.isfinite(lat) and math.isfinite(lon)):
            if self.zones.pop(sender, None) is not None:
                self.withdrawn += 1
                return "withdrawn"
            return None
        if self.reference is None:
            self.reference = GeoPoint(latitude=lat, longitude=lon, elevation=float(bsm.position.elevation))
        zone = self.zones.get(sender)
        started = zone is None
        if zone is None:
            used = {z.rte_id for z in self.zones.values()}
            free = [
                i
                for i in range(self.params.rte_id_base, self.params.rte_id_base + self.params.max_zones)
                if i not in used
            ]
            if not free:
                self.ignored_full += 1
                return None
            zone = _Zone(sender, free[0], now, lat, lon, math.nan)
            self.zones[sender] = zone
            self.started += 1
        zone.last_seen, zone.lat, zone.lon = now, lat, lon
        heading = float(bsm.heading)
        if math.isfinite(heading):
            zone.heading = heading
        if started:  # the way it came as the vehicle reports it (its path history), oldest first
            crumbs = [c for c in bsm.path_history if math.isfinite(c.time_offset) and c.time_offset > 0.0]
            for crumb in sorted(crumbs, key=lambda c: -float(c.time_offset)):
                clat, clon = float(crumb.position.latitude), float(crumb.position.longitude)
                if math.isfinite(clat) and math.isfinite(clon):
                    self._extend_trail(zone, self._enu(clat, clon))
        self._extend_trail(zone, self._enu(lat, lon))
        return "started" if started else None

    def expire(self, now: float) -> list[str]:
        """Withdraw the zones whose BSMs went stale; the senders withdrawn."""
        gone = [s for s, z in self.zones.items() if now - z.last_seen > self.params.timeout]
        for sender in gone:
            del self.zones[sender]
        self.withdrawn += len(gone)
        return gone

    # ------------------------------------------------------------------ output
    def events(self, now: float) -> list[RsiEvent]:
        """The RSI events of the active zones (stale ones withdrawn first), positions from ``reference``."""
        self.expire(now)
        return [self._event(z) for z in sorted(self.zones.values(), key=lambda z: z.rte_id)]

    def _event(self, zone: _Zone) -> RsiEvent:
        p = self.params
        x, y = self._enu(zone.lat, zone.lon)
        points = [*zone.trail[:-1], (x, y)] if zone.trail else [(x, y)]
        yaw = zone.heading
        if not math.isfinite(yaw) and len(points) >= 2:  # no heading: the direction it came from
            (x0, y0), (x1, y1) = points[-2], points[-1]
            yaw = math.atan2(y1 - y0, x1 - x0) if math.hypot(x1 - x0, y1 - y0) > 0.5 else math.nan
        if math.isfinite(yaw) and p.length_ahead > 0.0:
            points.append((x + p.length_ahead * math.cos(yaw), y + p.length_ahead * math.sin(yaw)))
        if len(points) < 2:  # standing still, heading unknown: a short stub so that the path is valid
            points.append((x + 0.5, y))
        points = points[-MAX_PATH_POINTS:]
        return RsiEvent(
            rte_id=zone.rte_id,
            event_type=p.event_type,
            source=SOURCE_DETECTION,
            position=Point(x=x, y=y, z=0.0),
            radius=p.half_width,
            description=describe(p.description, zone.sender, p.speed_advice),
            priority=p.priority,
            reference_paths=[
                RsiPath(points=[Point(x=a, y=b, z=0.0) for a, b in points], radius=p.half_width)
            ],
            confidence=math.nan,
        )

    # ------------------------------------------------------------------ geometry
    def _enu(self, lat: float, lon: float) -> tuple[float, float]:
        ref = self.reference
        assert ref is not None
        h = ref.elevation if math.isfinite(ref.elevation) else 0.0
        e, n, _ = pymap3d.geodetic2enu(lat, lon, h, ref.latitude, ref.longitude, h)
        return float(e), float(n)

    def _extend_trail(self, zone: _Zone, here: tuple[float, float]) -> None:
        """Keep the way the vehicle came: points >= 2 m apart, ``length_behind`` metres back from ``here``."""
        trail = zone.trail
        if trail and math.dist(trail[-1], here) < 2.0:
            return  # the newest point stands for the current position (see _event)
        trail.append(here)
        # trim from the oldest end to length_behind (measured along the trail from the newest point)
        total = 0.0
        keep = len(trail) - 1
        while keep > 0:
            step = math.dist(trail[keep - 1], trail[keep])
            if total + step > self.params.length_behind + 1e-9:
                break
            total += step
            keep -= 1
        del trail[:keep]
        if len(trail) > MAX_PATH_POINTS - 2:
            del trail[: len(trail) - (MAX_PATH_POINTS - 2)]
