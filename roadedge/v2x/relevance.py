"""Verify on demand: which received messages are relevant enough to have their signature checked.

Modelled on the verify-on-demand practice of SAE J2945/1 and the CAMP SCMS: a receiver decodes every
frame but spends an ECDSA verification only on the messages it may act on. Here that is

- every MAP, SPAT, RSI and RSM (infrastructure messages: few, and every one may drive a decision);
- a BSM of an emergency vehicle or a vehicle at work (VehicleEmergencyExtensions present), or one
  with any VehicleEventFlags set (hazard lights, hard braking, ...);
- a BSM whose position lies within ``radius_m`` of the own position (the vehicle's fix on an OBU,
  the site on an RSU), or without a usable position;
- everything while the own position is unknown.

The rest is published marked UNVERIFIED (``security.Verdict.UNVERIFIED``): consumers that may act
(planning, roadside services) must ignore it. The test works on the decoded ASN.1 values (1e-7 deg
positions), before SI conversion, so that it costs about a microsecond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from roadedge.v2x.si import DEG_UNIT, LAT_UNAVAILABLE, LON_UNAVAILABLE

VERIFY_MODES = ("all", "on_demand")

#: metres per 1e-7 degree of latitude (and of longitude at the equator), WGS-84 mean
_M_PER_UNIT = DEG_UNIT * 111_320.0

INFRASTRUCTURE_KINDS = frozenset({"mapFrame", "spatFrame", "rsiFrame", "rsmFrame"})


@dataclass(frozen=True)
class RelevancePolicy:
    radius_m: float = 300.0  # BSMs from within this distance of the own position are verified
    always: frozenset[str] = INFRASTRUCTURE_KINDS  # frame kinds always verified
    events: bool = True  # BSMs with event flags / emergency or work extensions are verified

    def __post_init__(self) -> None:
        if not self.radius_m >= 0.0:
            raise ValueError(f"relevance radius {self.radius_m!r} must be >= 0")


class Relevance:
    """``relevance(kind, value) -> bool`` on decoded MessageFrame values; the own position is updated."""

    def __init__(self, policy: RelevancePolicy | None = None) -> None:
        self.policy = policy or RelevancePolicy()
        self._own: tuple[int, int] | None = None  # 1e-7 deg
        self._lon_scale = 1.0
        self._r2 = (self.policy.radius_m / _M_PER_UNIT) ** 2  # squared radius in 1e-7 deg (latitude)

    @property
    def own_position(self) -> tuple[float, float] | None:
        """(latitude, longitude) in degrees, None while unknown."""
        if self._own is None:
            return None
        return self._own[0] * DEG_UNIT, self._own[1] * DEG_UNIT

    def set_own_position(self, latitude: float, longitude: float) -> None:
        """Degrees; a non-finite value makes the position unknown (then everything is relevant)."""
        if not (math.isfinite(latitude) and math.isfinite(longitude)) or abs(latitude) > 90.0:
            self._own = None
            return
        self._own = (round(latitude / DEG_UNIT), round(longitude / DEG_UNIT))
        self._lon_scale = math.cos(math.radians(latitude))

    def __call__(self, kind: str, value: dict[str, Any]) -> bool:
        if kind in self.policy.always:
            return True
        if kind != "bsmFrame" or self._own is None:
            return True
        if self.policy.events:
            if value.get("emergencyExt") is not None:
                return True
            safety = value.get("safetyExt")
            if safety is not None:
                events = safety.get("events")
                if events is not None and any(events[0]):
                    return True
        pos = value.get("pos")
        if not isinstance(pos, dict):
            return True
        lat, lon = pos.get("lat"), pos.get("long")
        if not isinstance(lat, int) or not isinstance(lon, int):
            return True
        if lat == LAT_UNAVAILABLE or lon == LON_UNAVAILABLE:
            return True
        dlat = lat - self._own[0]
        dlon = lon - self._own[1]
        if dlon > 1_800_000_000:
            dlon -= 3_600_000_000
        elif dlon < -1_800_000_000:
            dlon += 3_600_000_000
        dx = dlon * self._lon_scale
        return dlat * dlat + dx * dx <= self._r2
