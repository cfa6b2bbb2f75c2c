"""PNG report of a scenario run (matplotlib, Agg backend: no display needed).

Three panels: the map with the ego trajectory (coloured by speed), the actors, stop lines
coloured by their signal state, the RSU and RSI zones; the ego speed over time with the
ego approach's signal phases shaded; and a timeline of faults, events and advisories.
The verdict table goes under the title.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon, Rectangle

from roadedge.scenario.criteria import (
    RunData,
    SignalTrack,
    Verdict,
    ego_footprint,
    passed,
    stop_line_coordinates,
)
from roadedge.scenario.schema import GeoOrigin, Scenario

LIGHT_COLOURS = {
    "red": "#d62728",
    "flashing_red": "#ff9896",
    "yellow": "#ffbf00",
    "flashing_yellow": "#ffe680",
    "green": "#2ca02c",
    "protected_green": "#2ca02c",
    "permissive_green": "#98df8a",
    "flashing_green": "#98df8a",
    "dark": "#7f7f7f",
    "unavailable": "#c7c7c7",
}
ACTOR_COLOURS = {
    "pedestrian": "#9467bd",
    "cyclist": "#8c564b",
    "vehicle": "#1f77b4",
    "emergency_vehicle": "#e377c2",
    "obstacle": "#7f7f7f",
}


@dataclass(frozen=True)
class MapLine:
    points: tuple[tuple[float, float], ...]
    kind: str  # lanelet2 linestring type: road_border, line_thin, stop_line, virtual, ...


def osm_lines(path: str | Path, origin: GeoOrigin) -> list[MapLine]:
    """Line strings of a lanelet2 OSM map in the ENU frame of ``origin`` (for drawing only)."""
    import pymap3d

    root = ET.parse(path).getroot()
    nodes: dict[str, tuple[float, float]] = {}
    for node in root.iter("node"):
        e, n, _ = pymap3d.geodetic2enu(
            float(node.get("lat", 0)), float(node.get("lon", 0)), 0.0, origin.lat, origin.lon, 0.0
        )
        nodes[node.get("id", "")] = (float(e), float(n))
    out = []
    for way in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        pts = tuple(nodes[nd.get("ref", "")] for nd in way.iter("nd") if nd.get("ref", "") in nodes)
        if len(pts) >= 2:
            out.append(MapLine(pts, str(tags.get("type", ""))))
    return out


def scenario_map_lines(s: Scenario) -> list[MapLine]:
    """The scenario's lanelet2 map as lines, if the file and its origin are known (else none)."""
    if s.map.origin is None:
        return []
    file = Path(s.map.file)
    candidates = (
        [file] if file.is_absolute() else [Path.cwd() / file, Path(__file__).resolve().parents[2] / file]
    )
    if s.source:
        candidates.append(Path(s.source).resolve().parent / file)
    for candidate in candidates:
        if candidate.is_file():
            try:
                return osm_lines(candidate, s.map.origin)
            except (ET.ParseError, OSError, ValueError):
                return []
    return []


def _map_panel(ax: Axes, s: Scenario, run: RunData, lines: Sequence[MapLine]) -> None:
    styles = {
        "road_border": {"color": "#404040", "lw": 1.6},
        "curbstone": {"color": "#404040", "lw": 1.6},
        "line_thin": {"color": "#a0a0a0", "lw": 0.8, "ls": "--"},
        "line_thick": {"color": "#a0a0a0", "lw": 1.2},
        "virtual": {"color": "#e0e0e0", "lw": 0.5, "ls": ":"},
    }
    for map_line in lines:
        if map_line.kind in ("stop_line", "traffic_light"):
            continue
        style = styles.get(map_line.kind, {"color": "#c0c0c0", "lw": 0.6})
        mx = [p[0] for p in map_line.points]
        my = [p[1] for p in map_line.points]
        ax.plot(mx, my, **style, zorder=1)  # type: ignore[arg-type]
    task = s.task
    px, py = [p.x for p in task.path], [p.y for p in task.path]
    label = "curb line (sweep task)" if task.kind == "sweep" else "route"
    ax.plot(px, py, color="#8fbc8f", lw=4, alpha=0.5, zorder=2, label=label)
    t_end = float(run.ego.t[-1]) if len(run.ego) else s.duration
    for inter in s.intersections:
        for line in inter.stop_lines:
            track = run.signals.get((inter.id, line.phase_id))
            state = track.state_at(t_end) if track else "unavailable"
            c, sn = math.cos(line.heading), math.sin(line.heading)
            hw = line.width / 2
            ax.plot(
                [line.x - sn * hw, line.x + sn * hw],
                [line.y + c * hw, line.y - c * hw],
                color=LIGHT_COLOURS.get(state, "k"),
                lw=3,
                zorder=3,
            )
            ax.annotate(
                line.id,
                (line.x, line.y),
                fontsize=6,
                color="#555555",
                xytext=(3, 3),
                textcoords="offset points",
            )
    for event in s.v2x.rsi:
        ex = [p.x for p in event.path]
        ey = [p.y for p in event.path]
        ax.plot(ex, ey, color="#ff7f0e", lw=event.radius * 2, alpha=0.2, solid_capstyle="round", zorder=2)
        ax.annotate(f"RSI {event.kind} {event.id}", (ex[0], ey[0]), fontsize=7, color="#ff7f0e")
    if s.v2x.rsu is not None:
        rsu = s.v2x.rsu
        ax.plot(
            rsu.position.x,
            rsu.position.y,
            marker="^",
            color="#17becf",
            ms=10,
            zorder=5,
            ls="none",
            label=f"RSU {rsu.id}",
        )
    ego = run.ego
    if len(ego) > 1:
        pts = np.column_stack([ego.x, ego.y]).reshape(-1, 1, 2)
        segs = np.concatenate([pts[:-1], pts[1:]], axis=1)
        coll = LineCollection(list(segs), cmap="viridis", linewidths=2.5, zorder=4)
        coll.set_array(ego.speed[:-1])
        ax.add_collection(coll)
        plt.colorbar(coll, ax=ax, label="ego speed [m/s]", fraction=0.035, pad=0.01)
        # footprint at start and end
        for i, alpha in ((0, 0.3), (len(ego) - 1, 0.6)):
            poly = ego_footprint(s.vehicle, float(ego.x[i]), float(ego.y[i]), float(ego.yaw[i]))
            ax.add_patch(Polygon(poly, closed=True, fc="#1f77b4", alpha=alpha, ec="k", lw=0.5, zorder=5))
    for actor in run.actors.values():
        colour = ACTOR_COLOURS.get(actor.kind, "k")
        ax.plot(actor.x, actor.y, color=colour, lw=1.2, ls="-", zorder=4, label=f"{actor.kind} {actor.id}")
        if len(actor.x):
            ax.plot(actor.x[-1], actor.y[-1], marker="o", color=colour, ms=5, zorder=5)
            ax.plot(actor.x[0], actor.y[0], marker="x", color=colour, ms=5, zorder=5)
    # frame the interesting part: ego, actors, task and intersections
    xs_all = list(ego.x) + px + [i.position.x for i in s.intersections]
    ys_all = list(ego.y) + py + [i.position.y for i in s.intersections]
    for actor in run.actors.values():
        xs_all += list(actor.x)
        ys_all += list(actor.y)
    if xs_all:
        pad = 12.0
        ax.set_xlim(min(xs_all) - pad, max(xs_all) + pad)
        ax.set_ylim(min(ys_all) - pad, max(ys_all) + pad)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x east [m]")
    ax.set_ylabel("y north [m]")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.8)
    ax.set_title(
        "map: ego trajectory (colour = speed), actors (x start, o end), stop lines at the end", fontsize=9
    )


def ego_signal(s: Scenario, run: RunData) -> tuple[str, SignalTrack] | None:
    """The signal of the stop line the ego comes closest to crossing in its direction (for shading)."""
    best: tuple[float, str, SignalTrack] | None = None
    for inter in s.intersections:
        for line in inter.stop_lines:
            track = run.signals.get((inter.id, line.phase_id))
            if track is None or len(run.ego) == 0:
                continue
            sl, lat = stop_line_coordinates(run.ego, s.vehicle, line)
            heading_ok = np.abs(np.remainder(run.ego.yaw - line.heading + np.pi, 2 * np.pi) - np.pi) < 0.6
            near = np.abs(lat) <= line.width / 2 + 1.0
            mask = heading_ok & near
            if not mask.any():
                continue
            dist = float(np.min(np.abs(sl[mask])))
            if best is None or dist < best[0]:
                best = (dist, f"stop line {line.id} (intersection {inter.id}, phase {line.phase_id})", track)
    return None if best is None else (best[1], best[2])


def _speed_panel(ax: Axes, s: Scenario, run: RunData, t_end: float) -> None:
    sig = ego_signal(s, run)
    if sig is not None:
        label, track = sig
        for i, (t0, state) in enumerate(zip(track.t, track.states, strict=True)):
            t1 = track.t[i + 1] if i + 1 < len(track.t) else t_end
            ax.axvspan(t0, min(t1, t_end), color=LIGHT_COLOURS.get(state, "#cccccc"), alpha=0.18, lw=0)
        ax.text(
            0.995,
            0.97,
            f"shading: signal of {label}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="#444444",
        )
    ego = run.ego
    ax.plot(ego.t, ego.speed, color="#1f77b4", lw=1.5, label="ego speed")
    ax.axhline(s.task.target_speed, color="#1f77b4", lw=0.6, ls=":", label="task target speed")
    for lim in s.criteria.speed_limit:
        ax.axhline(lim.max, color="#ff7f0e", lw=0.8, ls="--", label=f"speed limit {lim.zone or ''}".strip())
    ax.set_xlim(0, t_end)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("speed [m/s]")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(loc="upper left", fontsize=7)


def _timeline_panel(ax: Axes, s: Scenario, run: RunData, t_end: float) -> None:
    rows: list[str] = []

    def row(name: str) -> int:
        if name not in rows:
            rows.append(name)
        return rows.index(name)

    for fault in s.faults:
        y = row(f"fault {fault.kind}")
        ax.add_patch(Rectangle((fault.start, y - 0.3), fault.duration, 0.6, color="#d62728", alpha=0.6))
    for forged in s.v2x.forged:
        y = row(f"forged {forged.message}")
        ax.add_patch(Rectangle((forged.start, y - 0.3), forged.duration, 0.6, color="#8c564b", alpha=0.5))
    for event in run.events:
        y = row(f"event {event.kind}")
        if event.end is not None and event.end > event.t:
            ax.add_patch(Rectangle((event.t, y - 0.3), event.end - event.t, 0.6, color="#9467bd", alpha=0.5))
        else:
            ax.plot([event.t], [y], marker="|", ms=12, mew=2, color="#9467bd", clip_on=False, zorder=5)
        if event.text:
            text = event.text if len(event.text) <= 60 else event.text[:57] + "..."
            ax.annotate(
                text, (event.t, y), xytext=(5, 3), textcoords="offset points", fontsize=6, color="#555555"
            )
    by_type: dict[str, list[float]] = {}
    for adv in run.advisories:
        by_type.setdefault(adv.type, []).append(adv.t)
    for kind, times in sorted(by_type.items()):
        y = row(f"advisory {kind}")
        ax.plot(times, [y] * len(times), marker="o", ls="none", ms=3, color="#ff7f0e")
    if run.progress:
        t = [p.t for p in run.progress]
        cov = [p.coverage for p in run.progress]
        y = row("task coverage")
        ax.fill_between(
            t, y - 0.35, [y - 0.35 + 0.7 * c for c in cov], color="#2ca02c", alpha=0.4, step="post"
        )
    if not rows:
        row("(no events)")
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(0, t_end)
    ax.set_xlabel("sim time [s]")
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)


def _value(v: Verdict) -> str:
    return "n/a" if math.isnan(v.value) else f"{v.value:g}"


def render_report(
    s: Scenario,
    run: RunData,
    verdicts: Sequence[Verdict],
    out: str | Path,
    *,
    map_lines: Sequence[MapLine] | None = None,
    title: str | None = None,
) -> Path:
    """Write the PNG report and return its path (map lines default to the scenario's map file)."""
    out = Path(out)
    if map_lines is None:
        map_lines = scenario_map_lines(s)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_end = run.end_time or (float(run.ego.t[-1]) if len(run.ego) else s.duration)
    fig = plt.figure(figsize=(13, 12), dpi=100)
    grid = fig.add_gridspec(4, 1, height_ratios=[0.55, 2.6, 1.1, 0.9], hspace=0.35)
    head = fig.add_subplot(grid[0])
    head.axis("off")
    ok = passed(verdicts)
    heading = title or f"scenario {s.name}: {'PASS' if ok else 'FAIL'}"
    head.text(0.0, 1.0, heading, fontsize=14, weight="bold", va="top", color="#2ca02c" if ok else "#d62728")
    if s.description:
        head.text(0.0, 0.72, s.description, fontsize=9, va="top")
    cells = [f"{'PASS' if v.passed else 'FAIL'}  {v.name}: {_value(v)} ({v.limit})" for v in verdicts]
    ncol = 3
    for i, cell in enumerate(cells):
        head.text(
            (i % ncol) / ncol,
            0.45 - 0.17 * (i // ncol),
            cell,
            fontsize=7.5,
            va="top",
            color="#1a7f1a" if verdicts[i].passed else "#c00000",
            family="monospace",
        )
    _map_panel(fig.add_subplot(grid[1]), s, run, map_lines)
    _speed_panel(fig.add_subplot(grid[2]), s, run, t_end)
    _timeline_panel(fig.add_subplot(grid[3]), s, run, t_end)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out
