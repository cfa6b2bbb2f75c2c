"""Criteria from a recorded run: a bag written like the HIL run's gives the same verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from geometry_msgs.msg import Quaternion
from nav_msgs.msg import Odometry
from rclpy.serialization import serialize_message
from roadedge_msgs.msg import (
    Advisory,
    AdvisoryArray,
    Object,
    ObjectArray,
    ObjectSource,
    Spat,
    SpatIntersection,
    SpatPhase,
    SpatPhaseState,
    TaskProgress,
)
from scenario_synth import Knobs, simulate

from roadedge.bag.recorder import BagRecorder
from roadedge.scenario.criteria import RunData, evaluate
from roadedge.scenario.extract import main as extract_main
from roadedge.scenario.extract import run_data_from_bag
from roadedge.scenario.schema import ADVISORY_TYPES, LIGHT_STATES, Scenario, load_scenario, scenario_dir

NS = 1_000_000_000


def stamp(msg: object, t: float) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(round(t * NS), NS)  # type: ignore[attr-defined]


def write_run(path: Path, s: Scenario, run: RunData, epoch: float = 0.0) -> Path:
    with BagRecorder(path) as bag:
        for topic, msgtype in (
            ("/hil/ground_truth", "nav_msgs/msg/Odometry"),
            ("/hil/actors", "roadedge_msgs/msg/ObjectArray"),
            ("/v2x/rx/spat", "roadedge_msgs/msg/Spat"),
            ("/planning/advisories", "roadedge_msgs/msg/AdvisoryArray"),
            ("/planning/task_progress", "roadedge_msgs/msg/TaskProgress"),
        ):
            bag.add_topic(topic, msgtype)
        ego = run.ego
        for i in range(len(ego)):
            t = float(ego.t[i])
            odom = Odometry()
            stamp(odom, t)
            odom.pose.pose.position.x, odom.pose.pose.position.y = float(ego.x[i]), float(ego.y[i])
            odom.pose.pose.orientation = Quaternion(z=math.sin(ego.yaw[i] / 2), w=math.cos(ego.yaw[i] / 2))
            odom.twist.twist.linear.x = float(ego.speed[i])
            bag.write("/hil/ground_truth", round(t * NS), bytes(serialize_message(odom)))
            if i % 5 == 0:  # 2 Hz SPaT and actors
                array = ObjectArray()
                stamp(array, t)
                for actor in s.actors:
                    state = actor.state_at(t - epoch)
                    if state is None:
                        continue
                    obj = Object(id=1, classification=Object.CLASS_PEDESTRIAN)
                    obj.pose.pose.position.x, obj.pose.pose.position.y = state[0], state[1]
                    obj.pose.pose.orientation = Quaternion(z=math.sin(state[2] / 2), w=math.cos(state[2] / 2))
                    obj.size.x, obj.size.y = actor.length, actor.width
                    obj.sources = [ObjectSource(type=ObjectSource.SIMULATION, sensor_id=actor.id)]
                    array.objects.append(obj)
                bag.write("/hil/actors", round(t * NS), bytes(serialize_message(array)))
                inter = s.intersections[0]
                phases = [
                    SpatPhase(
                        phase_id=p.phase_id,
                        states=[SpatPhaseState(light=LIGHT_STATES[p.state_at(t - epoch)[0]])],
                    )
                    for p in inter.phases
                ]
                spat = Spat(intersections=[SpatIntersection(node_id=inter.id, phases=phases)])
                bag.write("/v2x/rx/spat", round(t * NS), bytes(serialize_message(spat)))
        for adv in run.advisories:
            msg = AdvisoryArray(advisories=[Advisory(type=ADVISORY_TYPES[adv.type], target_id=adv.target_id)])
            bag.write("/planning/advisories", round(adv.t * NS), bytes(serialize_message(msg)))
        for p in run.progress[::10]:
            msg = TaskProgress(state=p.state, coverage=p.coverage)
            bag.write("/planning/task_progress", round(p.t * NS), bytes(serialize_message(msg)))
    return path


@pytest.mark.parametrize("knobs", [Knobs(), Knobs(ignore_red=True, lateral_bias=0.7)], ids=["good", "bad"])
def test_verdicts_from_a_bag_match_the_live_ones(tmp_path: Path, knobs: Knobs) -> None:
    s = load_scenario(scenario_dir() / "demo_sweep_intersection.yaml")
    run = simulate(s, knobs)
    bag = write_run(tmp_path / "run", s, run)
    extracted = run_data_from_bag(bag, s)
    assert len(extracted.ego) == len(run.ego) and set(extracted.actors) == {"ped1"}
    assert extracted.signals[(101, 1)].states[:3] == ["green", "yellow", "red"]
    live = {v.name: v for v in evaluate(s, run)}
    offline = {v.name: v for v in evaluate(s, extracted)}
    assert set(live) == set(offline)
    for name, verdict in live.items():
        assert offline[name].passed == verdict.passed, name
        if not math.isnan(verdict.value) and name not in ("coverage", "time_limit (task completed)"):
            assert offline[name].value == pytest.approx(verdict.value, abs=0.15), name


def test_extract_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_dir() / "demo_sweep_intersection.yaml"
    s = load_scenario(path)
    bag = write_run(tmp_path / "run", s, simulate(s))
    assert extract_main([str(path), str(bag), "--report", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "overall: PASS" in out and (tmp_path / "r.png").stat().st_size > 10_000
    assert extract_main([str(path), str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sim_clock_epoch_is_removed(tmp_path: Path) -> None:
    """The HIL runner's /clock is unix epoch + t: times in the bag are absolute, verdict times relative."""

    s = load_scenario(scenario_dir() / "red_light_stop.yaml")
    run = simulate(s)
    epoch = 1_795_000_000.0
    shifted = RunData(
        type(run.ego)(run.ego.t + epoch, run.ego.x, run.ego.y, run.ego.yaw, run.ego.speed),
        advisories=[],
        progress=[type(p)(p.t + epoch, p.coverage, p.state) for p in run.progress],
    )
    bag = write_run(tmp_path / "run", s, shifted, epoch)
    # no /clock in this bag: the first ground-truth stamp gives the epoch
    extracted = run_data_from_bag(bag, s)
    assert extracted.ego.t[0] == pytest.approx(0.0, abs=1e-6)
    live = {v.name: v for v in evaluate(s, run)}
    offline = {v.name: v for v in evaluate(s, extracted)}
    assert set(live) == set(offline)
    for name, verdict in live.items():
        assert offline[name].passed == verdict.passed, name
        if name != "time_limit (task completed)":  # progress is written at 1 Hz only
            assert offline[name].value == pytest.approx(verdict.value, abs=0.05), name
    assert run_data_from_bag(bag, s, epoch=epoch - 10).ego.t[0] == pytest.approx(10.0)
