"""Scenario loading: every shipped file loads; each class of mistake names its field."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from roadedge.scenario.schema import ScenarioError, load_scenario, parse_scenario, scenario_dir

DEMO = scenario_dir() / "demo_sweep_intersection.yaml"


def demo() -> dict[str, Any]:
    data = yaml.safe_load(DEMO.read_text())
    assert isinstance(data, dict)
    return data


def error_of(data: Any) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return info.value


def test_all_shipped_scenarios_load() -> None:
    files = sorted(scenario_dir().glob("*.yaml"))
    assert len(files) >= 11
    names = set()
    for file in files:
        s = load_scenario(file)
        assert s.name == file.stem, file
        assert s.criteria != type(s.criteria)(), f"{file} sets no criteria"
        names.add(s.name)
    assert "demo_sweep_intersection" in names


def test_demo_content() -> None:
    s = load_scenario(DEMO)
    assert s.task.kind == "sweep" and s.v2x.rsu is not None
    assert [a.kind for a in s.actors] == ["pedestrian"]
    assert s.intersections[0].phases[0].state_at(20.0)[0] == "red" and s.intersections[0].id == 101
    # pedestrian timing derived from its speed: 18 m at 1.0 m/s from t = 34 s
    t_end = s.actors[0].timed()[-1][0]
    assert t_end == pytest.approx(34.0 + 18.0 / 1.0)
    x, _y, heading, speed = s.actors[0].state_at(43.0) or (0, 0, 0, 0)
    assert (x, speed) == (15.0, pytest.approx(1.0)) and heading == pytest.approx(-math.pi / 2)
    assert s.actors[0].state_at(10.0) is None


def test_wrong_type_names_the_field() -> None:
    data = demo()
    data["actors"].append({"id": "car", "kind": "vehicle", "trajectory": [{"x": 0, "y": 0, "t": "soon"}]})
    err = error_of(data)
    assert str(err) == "actors[1].trajectory[0].t: expected a number, got 'soon'"
    assert err.path == "actors[1].trajectory[0].t"


def test_missing_required_field() -> None:
    data = demo()
    del data["initial_pose"]["y"]
    assert error_of(data).path == "initial_pose.y"
    data = demo()
    del data["task"]
    assert "task: required field missing" in str(error_of(data))


def test_unknown_field_is_rejected() -> None:
    data = demo()
    data["criteria"]["max_decel"] = 3.0
    err = error_of(data)
    assert err.path == "criteria.max_decel" and "unknown field" in err.reason


def test_bad_choice_lists_the_choices() -> None:
    data = demo()
    data["actors"][0]["kind"] = "dog"
    err = error_of(data)
    assert err.path == "actors[0].kind" and "pedestrian" in err.reason and "'dog'" in err.reason
    data = demo()
    data["intersections"][0]["phases"][0]["plan"][1]["state"] = "amber"
    assert error_of(data).path == "intersections[0].phases[0].plan[1].state"


def test_out_of_range() -> None:
    data = demo()
    data["v2x"]["loss"] = 1.5
    err = error_of(data)
    assert (err.path, err.reason) == ("v2x.loss", "must be <= 1.0, got 1.5")
    data = demo()
    data["duration"] = 0
    assert error_of(data).path == "duration"
    data = demo()
    data["criteria"]["max_deceleration"] = True
    assert "expected a number, got True" in str(error_of(data))


def test_trajectory_timing() -> None:
    data = demo()
    data["criteria"]["stop_distance"] = []
    data["actors"][0] = {"id": "p", "kind": "pedestrian", "trajectory": [[0, 0], [1, 0]]}
    err = error_of(data)
    assert err.path == "actors[0].trajectory[1].t" and "speed" in err.reason
    data["actors"][0]["trajectory"] = [{"x": 0, "y": 0, "t": 2.0}, {"x": 1, "y": 0, "t": 2.0}]
    err = error_of(data)
    assert err.path == "actors[0].trajectory[1].t" and "after the previous point" in err.reason
    # a per-point speed is enough
    data["actors"][0]["trajectory"] = [{"x": 0, "y": 0, "speed": 2.0}, {"x": 4, "y": 0}]
    assert parse_scenario(data).actors[0].timed()[-1][0] == pytest.approx(2.0)


def test_references_and_duplicates() -> None:
    data = demo()
    data["criteria"]["stop_distance"][0]["target"] = "stop_line:nowhere"
    err = error_of(data)
    assert err.path == "criteria.stop_distance[0].target" and "'nowhere'" in err.reason
    data = demo()
    data["criteria"]["stop_distance"][0]["target"] = "ped1"
    assert "expected 'stop_line:<id>' or 'actor:<id>'" in str(error_of(data))
    data = demo()
    data["actors"].append(copy.deepcopy(data["actors"][0]))
    assert error_of(data).path == "actors[1].id"
    data = demo()
    data["intersections"][0]["stop_lines"][0]["phase_id"] = 7
    assert error_of(data).path == "intersections[0].stop_lines[0].phase_id"
    data = demo()
    data["criteria"]["speed_limit"] = [{"max": 1.0, "zone": "wz9"}]
    assert error_of(data).path == "criteria.speed_limit[0].zone"


def test_windows_faults_and_structure() -> None:
    data = demo()
    data["criteria"]["stop_distance"][0]["window"] = [30, 10]
    assert error_of(data).path == "criteria.stop_distance[0].window"
    data = demo()
    data["faults"] = [{"kind": "serial_unplug", "start": 10, "duration": 5}]
    assert error_of(data).path == "faults[0].device"
    data["faults"] = [{"kind": "can_loss", "start": 500, "duration": 5}]
    assert error_of(data).path == "faults[0].start"
    data = demo()
    data["actors"] = {"id": "x"}
    assert str(error_of(data)) == "actors: expected a list, got a mapping"
    assert str(error_of([1, 2])) == "expected a mapping, got a list"
    data = demo()
    data["task"]["path"] = [[0, 0, 0], [1, 1]]
    assert str(error_of(data)) == "task.path[0]: expected [x, y], got a list of 3"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: [1,\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert str(bad) in str(info.value) and "not valid YAML at line" in str(info.value)
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.yaml")
    data = demo()
    data["seed"] = -1
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert str(info.value) == f"{bad}: seed: must be >= 0, got -1"
