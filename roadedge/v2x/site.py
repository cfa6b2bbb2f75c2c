"""Roadside site configuration -> V2X messages: the MAP of an intersection and standing RSI events.

MAP YAML (ENU metres from ``reference``; see config/v2x/maps/demo_intersection.yaml)::

    name: demo_intersection
    node_id: 101
    region: 0                      # 0 / omitted: no region
    reference: {latitude: 31.2304, longitude: 121.4737, elevation: 4.0}
    links:
      - name: eastbound
        upstream_node_id: 1014
        width: 7.0                 # m
        speed_limit: 13.89         # m/s, optional
        points: [[-200, -3.5], [-12, -3.5]]
        movements: [{remote_node_id: 1012, phase_id: 1}]
        lanes:
          - {lane_id: 1, width: 3.5, maneuvers: [straight, left], points: [[-200, -1.75], [-12, -1.75]],
             connects_to: [{remote_node_id: 1012, lane_id: 1, maneuvers: [straight], phase_id: 1}]}

RSI YAML: ``reference`` as above and ``events`` / ``signs`` lists with the fields of
roadedge_msgs/RsiEvent and RsiSign (position / path points as [x, y] ENU metres).
"""

from __future__ import annotations

import math
from typing import Any

from geometry_msgs.msg import Point
from roadedge_msgs.msg import (
    GeoPoint,
    MapConnection,
    MapData,
    MapLane,
    MapLink,
    MapMovement,
    MapNode,
    Rsi,
    RsiEvent,
    RsiPath,
    RsiSign,
)

from roadedge.config import ConfigError

MANEUVERS = {"straight": 0, "left": 1, "right": 2, "uturn": 3, "left_on_red": 4, "right_on_red": 5}
EVENT_SOURCES = {
    "unknown": 0,
    "police": 1,
    "government": 2,
    "meteorological": 3,
    "internet": 4,
    "detection": 5,
}


def _point(xy: Any) -> Point:
    if not isinstance(xy, (list, tuple)) or len(xy) not in (2, 3):
        raise ConfigError(f"point {xy!r}: expected [x, y] or [x, y, z] metres")
    return Point(x=float(xy[0]), y=float(xy[1]), z=float(xy[2]) if len(xy) == 3 else 0.0)


def _maneuvers(names: Any) -> int:
    bits = 0
    for name in names or []:
        if name not in MANEUVERS:
            raise ConfigError(f"maneuver {name!r}: one of {sorted(MANEUVERS)}")
        bits |= 1 << MANEUVERS[name]
    return bits


def reference(tree: dict[str, Any]) -> GeoPoint:
    ref = tree.get("reference") or {}
    try:
        return GeoPoint(
            latitude=float(ref["latitude"]),
            longitude=float(ref["longitude"]),
            elevation=float(ref.get("elevation", math.nan)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"reference {ref!r}: needs latitude, longitude (elevation optional)") from err


def map_from_yaml(tree: dict[str, Any]) -> MapData:
    """One intersection node with its inbound links and lanes."""
    try:
        region = int(tree.get("region", 0) or 0)
        node = MapNode(
            name=str(tree.get("name", "")),
            region=region,
            node_id=int(tree["node_id"]),
            reference_position=reference(tree),
        )
        for link in tree.get("links") or []:
            out = MapLink(
                name=str(link.get("name", "")),
                upstream_region=int(link.get("upstream_region", region) or 0),
                upstream_node_id=int(link["upstream_node_id"]),
                width=float(link["width"]),
                speed_limit=float(link.get("speed_limit", math.nan)),
                points=[_point(p) for p in link.get("points") or []],
            )
            for mv in link.get("movements") or []:
                out.movements.append(
                    MapMovement(
                        remote_region=int(mv.get("remote_region", region) or 0),
                        remote_node_id=int(mv["remote_node_id"]),
                        phase_id=int(mv.get("phase_id", -1)),
                    )
                )
            for lane in link.get("lanes") or []:
                out_lane = MapLane(
                    lane_id=int(lane["lane_id"]),
                    width=float(lane.get("width", math.nan)),
                    maneuvers=_maneuvers(lane.get("maneuvers")),
                    lane_sharing=0,
                    speed_limit=float(lane.get("speed_limit", math.nan)),
                    points=[_point(p) for p in lane.get("points") or []],
                )
                for c in lane.get("connects_to") or []:
                    out_lane.connects_to.append(
                        MapConnection(
                            remote_region=int(c.get("remote_region", region) or 0),
                            remote_node_id=int(c["remote_node_id"]),
                            connecting_lane_id=int(c.get("lane_id", -1)),
                            maneuvers=_maneuvers(c.get("maneuvers")),
                            phase_id=int(c.get("phase_id", -1)),
                        )
                    )
                out.lanes.append(out_lane)
            if not out.lanes:
                raise ConfigError(f"link {out.name!r}: at least one lane")
            node.in_links.append(out)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"MAP configuration: {type(err).__name__}: {err}") from err
    msg = MapData()
    msg.nodes = [node]
    return msg


def _paths(items: Any) -> list[RsiPath]:
    return [
        RsiPath(points=[_point(p) for p in path["points"]], radius=float(path.get("radius", 0.0)))
        for path in items or []
    ]


def rsi_from_yaml(tree: dict[str, Any]) -> Rsi:
    msg = Rsi()
    msg.reference_position = reference(tree)
    try:
        for ev in tree.get("events") or []:
            msg.events.append(
                RsiEvent(
                    rte_id=int(ev["rte_id"]),
                    event_type=int(ev["event_type"]),
                    source=EVENT_SOURCES[str(ev.get("source", "unknown"))],
                    position=_point(ev.get("position", [0.0, 0.0])),
                    radius=float(ev.get("radius", math.nan)),
                    description=str(ev.get("description", "")),
                    priority=int(ev.get("priority", 0)),
                    reference_paths=_paths(ev.get("reference_paths")),
                    confidence=float(ev.get("confidence", math.nan)),
                )
            )
        for sign in tree.get("signs") or []:
            msg.signs.append(
                RsiSign(
                    rts_id=int(sign["rts_id"]),
                    sign_type=int(sign["sign_type"]),
                    position=_point(sign.get("position", [0.0, 0.0])),
                    description=str(sign.get("description", "")),
                    priority=int(sign.get("priority", 0)),
                    reference_paths=_paths(sign.get("reference_paths")),
                )
            )
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"RSI configuration: {type(err).__name__}: {err}") from err
    return msg
