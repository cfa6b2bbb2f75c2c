"""lanelet2 sample maps, loader, routing and the V2X link."""

from __future__ import annotations

import builtins
import math
from typing import Any

import pytest
from planning_sim import SITES, link, road

from roadedge.planning import lanelet_map
from roadedge.planning.lanelet_map import MapError, RoadMap, heading_change, load_sites, parse_speed_limit


def test_block_has_curbs_on_both_sides_and_loops() -> None:
    m = road("hil_block")
    assert sorted(m.lanelets) == list(range(1001, 1009)) + list(range(1101, 1109))
    for lid, info in m.lanelets.items():
        assert info.right_type == "road_border", lid  # curb on the right of every lane
        assert info.edge("right") is not None and info.edge("left") is None
    outer = m.route(1001, 1008)
    assert outer == list(range(1001, 1009))
    assert m.successors(1008) == [1001]
    # counter-clockwise outer loop turns left by ~2 pi, the clockwise inner loop by ~ -2 pi
    assert heading_change(m.route_path(outer).path) == pytest.approx(2 * math.pi, abs=0.15)
    inner = m.route(1101, 1108)
    assert heading_change(m.route_path(inner).path) == pytest.approx(-2 * math.pi, abs=0.15)
    assert m.lanelets[1001].speed_limit == pytest.approx(30 / 3.6)
    assert m.lanelets[1002].speed_limit == pytest.approx(20 / 3.6)


def test_origin_and_projection_round_trip() -> None:
    site = SITES["hil_block"]
    m = road("hil_block")
    lat, lon, _ = m.to_geodetic(0.0, 0.0)
    assert (lat, lon) == pytest.approx((site.origin.latitude, site.origin.longitude), abs=1e-9)
    x, y, _ = m.to_local(*m.to_geodetic(100.0, -50.0))
    assert (x, y) == pytest.approx((100.0, -50.0), abs=1e-3)


def test_intersection_routing_and_stop_lines() -> None:
    m = road("demo_intersection")
    # eastbound curb lane straight through, right turn, and the inner lane's left turn
    assert m.route(2302, 2104) == [2302, 2321, 2104]
    assert m.route(2302, 2004) == [2302, 2322, 2004]
    assert m.route(2301, 2203) == [2301, 2312, 2203]
    for k in range(4):
        for lane in (1, 2):
            info = m.lanelets[2000 + 100 * k + lane]
            assert info.stop_line_id == 3000 + k and info.traffic_light_ids == [4000 + k]
    rp = m.route_path([2302, 2321, 2104])
    assert [s.stop_line_id for s in rp.stop_lines] == [3003]
    x, _ = rp.path.point_at(rp.stop_lines[0].s)
    assert x == pytest.approx(-12.0, abs=1e-3)  # stop line at the box edge
    # curb corners are the right bounds of right turns
    assert m.lanelets[2322].right_type == "road_border"
    # map matching respects the heading
    hit = m.match(-50.0, -5.25, 0.0)
    assert hit is not None and hit[0] == 2302
    assert m.match(-50.0, -5.25, math.pi) is None


def test_route_errors_are_map_errors() -> None:
    m = road("demo_intersection")
    with pytest.raises(MapError):
        m.route(2302, 99999)
    with pytest.raises(MapError):
        m.route(2104, 2302)  # outbound lanes lead nowhere


def test_v2x_link_matches_the_map() -> None:
    m = road("demo_intersection")
    lk = link("demo_intersection")
    stop_lines = {i.stop_line_id for i in m.lanelets.values() if i.stop_line_id is not None}
    assert lk.validate(set(m.lanelets), stop_lines) == []
    ctl = lk.control_for(2302, 2321)
    assert ctl is not None and (ctl.node_id, ctl.phase_id, ctl.stop_line, ctl.map_lane_id) == (
        101,
        1,
        3003,
        2,
    )
    assert lk.control_for(2002, 2021) is not None and lk.control_for(2002, 2021).phase_id == 2  # type: ignore[union-attr]
    assert lk.control_for(2321, 2104) is None
    assert [c.phase_id for c in lk.controls_on_route([2302, 2321, 2104])] == [1]
    assert lk.validate({2302}, set())  # problems reported for a map lacking the elements


def test_speed_limit_parsing() -> None:
    assert parse_speed_limit("30") == pytest.approx(30 / 3.6)
    assert parse_speed_limit("30 km/h") == pytest.approx(30 / 3.6)
    assert parse_speed_limit("20mph") == pytest.approx(8.9408)
    assert parse_speed_limit("5 mps") == 5.0
    assert parse_speed_limit("fast") is None and parse_speed_limit(None) is None


def test_bad_site_files(tmp_path: Any) -> None:
    bad = tmp_path / "sites.yaml"
    bad.write_text("sites: {x: {map: a.osm}}\n")
    with pytest.raises(MapError):
        load_sites(bad)
    bad.write_text("sites: {x: {map: a.osm, origin: {latitude: 1, longitude: 2}, projector: mercator}}\n")
    with pytest.raises(MapError):
        load_sites(bad)
    bad.write_text("sites: {x: {map: missing.osm, origin: {latitude: 1, longitude: 2}}}\n")
    with pytest.raises(MapError, match="not found"):
        RoadMap.from_site(load_sites(bad)["x"])


def test_missing_lanelet2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_lanelet2(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("lanelet2"):
            raise ImportError("No module named 'lanelet2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lanelet2)
    with pytest.raises(MapError, match="lanelet2 is not installed"):
        lanelet_map.require_lanelet2()


def test_lanelet2_projection_agrees_with_the_localization_map_frame() -> None:
    from roadedge.localization.geodesy import GeodeticOrigin, MapFrame

    site = SITES["demo_intersection"]
    o = site.origin
    frame = MapFrame(GeodeticOrigin(o.latitude, o.longitude, o.elevation))
    m = road("demo_intersection")
    for x, y in [(0.0, 0.0), (90.0, -7.0), (-500.0, 300.0)]:
        lat, lon, alt = m.to_geodetic(x, y, 0.0)
        fx, fy, _ = frame.to_map(lat, lon, alt)
        assert (fx, fy) == pytest.approx((x, y), abs=0.01)
