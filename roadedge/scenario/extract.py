"""Criteria inputs from a recorded run: a rosbag2 bag of a scenario run -> :class:`RunData`.

The HIL runner evaluates live; this module evaluates a bag afterwards (or a replay's output
bag), so a run can be judged again, compared, and reported without the rig:

    tools/with_env.sh python -m roadedge.scenario.extract hil/scenarios/<s>.yaml <bag> [--report out.png]

Topics (names as recorded, see :class:`RunTopics`): ego ground truth (nav_msgs/Odometry,
header stamp = sim time), the scenario world's actors (roadedge_msgs/ObjectArray, actor id in
``sources[0].sensor_id``), SPaT as received (roadedge_msgs/Spat: the current light of each
phase), advisories (roadedge_msgs/AdvisoryArray) and task progress (roadedge_msgs/TaskProgress),
both at their receive time. Without SPaT in the bag the signal plans of the scenario are used.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions
from roadedge.bag.replay import NS, BagSource
from roadedge.localization.geodesy import yaw_of_quaternion
from roadedge.scenario.criteria import (
    ActorTrack,
    AdvisoryEvent,
    EgoTrack,
    ProgressSample,
    RunData,
    SignalTrack,
    evaluate,
    format_table,
    passed,
    signals_from_plan,
)
from roadedge.scenario.schema import (
    ACTOR_SIZES,
    ADVISORY_TYPES,
    LIGHT_STATES,
    Scenario,
    ScenarioError,
    load_scenario,
)

ADVISORY_NAMES = {v: k for k, v in ADVISORY_TYPES.items()}
LIGHT_NAMES = {v: k for k, v in LIGHT_STATES.items() if k != "protected_green"}
#: roadedge_msgs/Object CLASS_* -> scenario actor kind
CLASS_KINDS = {1: "pedestrian", 2: "cyclist", 3: "vehicle", 4: "obstacle", 5: "emergency_vehicle"}


@dataclass(frozen=True)
class RunTopics:
    ground_truth: str = "/hil/ground_truth"
    actors: str = "/hil/actors"
    spat: str = "/v2x/rx/spat"
    advisories: str = "/planning/advisories"
    progress: str = "/planning/task_progress"


def _stamp(header: Any) -> float:
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def _decoded(source: BagSource, topic: str, defs: MessageDefinitions) -> list[tuple[float, Any]]:
    if topic not in source.topics:
        return []
    msgtype = source.topics[topic].msgtype
    store = defs.typestore([msgtype])
    out = []
    for msg in source.messages([topic]):
        try:
            out.append((msg.timestamp_ns / NS, store.deserialize_cdr(msg.data, msgtype)))
        except Exception as err:
            raise BagError(
                f"bag {source.path}: a message on {topic} does not decode as {msgtype}: {err}"
            ) from err
    return out


def find_epoch(source: BagSource, topics: RunTopics, defs: MessageDefinitions) -> float:
    """Unix time of scenario t = 0 when the sim clock ran on an epoch (the HIL runner's /clock is
    epoch + t with an integer epoch): the whole second of the first /clock (or ground truth) stamp."""
    for topic in ("/clock", topics.ground_truth):
        if topic not in source.topics:
            continue
        msgtype = source.topics[topic].msgtype
        store = defs.typestore([msgtype])
        for msg in source.messages([topic]):
            decoded: Any = store.deserialize_cdr(msg.data, msgtype)
            stamp = decoded.clock if topic == "/clock" else decoded.header.stamp
            seconds = float(stamp.sec) + float(stamp.nanosec) * 1e-9
            return float(math.floor(seconds)) if seconds > 1e8 else 0.0
    return 0.0


def run_data_from_bag(
    bag: str | Path,
    scenario: Scenario,
    topics: RunTopics | None = None,
    definitions: MessageDefinitions | None = None,
    epoch: float | None = None,
) -> RunData:
    """``epoch``: unix time of scenario t = 0 on the sim clock (None: found from /clock, 0 if relative)."""
    topics = topics or RunTopics()
    defs = definitions or MessageDefinitions()
    with BagSource(bag) as source:
        t0 = find_epoch(source, topics, defs) if epoch is None else epoch
        # ego ground truth, by header stamp, strictly increasing
        ego_rows: list[tuple[float, float, float, float, float]] = []
        for _t, odom in _decoded(source, topics.ground_truth, defs):
            t = _stamp(odom.header) - t0
            if ego_rows and t <= ego_rows[-1][0]:
                continue
            p = odom.pose.pose.position
            ego_rows.append(
                (t, p.x, p.y, yaw_of_quaternion(odom.pose.pose.orientation), odom.twist.twist.linear.x)
            )
        columns = [list(c) for c in zip(*ego_rows, strict=True)] if ego_rows else [[], [], [], [], []]
        ego = EgoTrack.from_lists(*columns)
        # actors
        samples: dict[str, list[tuple[float, float, float, float]]] = {}
        kinds: dict[str, tuple[str, float, float]] = {}
        for _t, array in _decoded(source, topics.actors, defs):
            t = _stamp(array.header) - t0
            for obj in array.objects:
                actor_id = obj.sources[0].sensor_id if len(obj.sources) else str(obj.id)
                pose = obj.pose.pose
                samples.setdefault(actor_id, []).append(
                    (t, pose.position.x, pose.position.y, yaw_of_quaternion(pose.orientation))
                )
                kind = CLASS_KINDS.get(int(obj.classification), "obstacle")
                kinds[actor_id] = (
                    kind,
                    float(obj.size.x) or ACTOR_SIZES[kind][0],
                    float(obj.size.y) or ACTOR_SIZES[kind][1],
                )
        actors = {}
        for actor_id, rows in samples.items():
            rows.sort()
            arr = np.asarray(rows, dtype=np.float64)
            kind, length, width = kinds[actor_id]
            actors[actor_id] = ActorTrack(
                actor_id, kind, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], length, width
            )
        # signals from SPaT as received
        signals: dict[tuple[int, int], SignalTrack] = {}
        for t, spat in _decoded(source, topics.spat, defs):
            for inter in spat.intersections:
                for phase in inter.phases:
                    if not len(phase.states):
                        continue
                    state = LIGHT_NAMES.get(int(phase.states[0].light), "unavailable")
                    track = signals.setdefault((int(inter.node_id), int(phase.phase_id)), SignalTrack([], []))
                    if not track.states or track.states[-1] != state:
                        track.t.append(t - t0)
                        track.states.append(state)
        advisories = [
            AdvisoryEvent(
                t - t0,
                ADVISORY_NAMES.get(int(a.type), str(a.type)),
                int(a.severity),
                str(a.target_id),
                str(a.text),
            )
            for t, array in _decoded(source, topics.advisories, defs)
            for a in array.advisories
        ]
        progress = [
            ProgressSample(t - t0, float(p.coverage), int(p.state))
            for t, p in _decoded(source, topics.progress, defs)
        ]
        end = max([float(ego.t[-1])] if len(ego) else [0.0])
    if not signals:
        signals = signals_from_plan(scenario.intersections, max(end, scenario.duration))
    return RunData(ego, actors, signals, advisories, progress, [], end or None)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m roadedge.scenario.extract",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path)
    p.add_argument("bag", type=Path)
    p.add_argument("--report", type=Path, default=None, help="also write the PNG report here")
    p.add_argument("--epoch", type=float, default=None, help="unix time of t = 0 (default: from /clock)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        scenario = load_scenario(args.scenario)
        run = run_data_from_bag(args.bag, scenario, epoch=args.epoch)
    except (ScenarioError, BagError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verdicts = evaluate(scenario, run)
    print(format_table(verdicts))
    if args.report is not None:
        from roadedge.scenario.report import render_report

        print(f"report: {render_report(scenario, run, verdicts, args.report)}")
    return 0 if passed(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
