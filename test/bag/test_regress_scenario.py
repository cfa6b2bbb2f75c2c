"""Golden-output regression of a full-stack run (roadedge regress): the first 20 s of the demo scenario
run on the HIL rig and recorded; its recorded inputs replayed twice through localization, planner and
controller in the deterministic mode; the replays identical, the replay's outputs matching the outputs
recorded live, and their summary matching the committed golden one (test/bag/golden/)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from roadedge.bag import golden
from roadedge.bag.recorder import BagRecorder
from roadedge.bag.regression import default_golden, regress
from roadedge.scenario.schema import load_scenario, scenario_dir

pytestmark = pytest.mark.dds

DURATION = 20.0


def test_demo_run_replays_identically_and_matches_live_and_golden(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_dir() / "demo_sweep_intersection.yaml")
    scenario = dataclasses.replace(scenario, duration=DURATION)
    golden_csv = default_golden(scenario.name, DURATION)
    result = regress(scenario, tmp_path, golden=golden_csv, progress=lambda text: None)
    report = "\n".join(
        [result.identical.summary(), result.live.report(), result.golden.report() if result.golden else ""]
    )
    # two replays: the same outputs, message for message, receive times included
    assert result.identical.passed, report
    compared = {r.topic for r in result.identical.results}
    assert {"/localization/odometry", "/vehicle/command", "/planning/trajectory"} <= compared
    assert "/vehicle/work_equipment/command" in compared  # a sweep: the equipment is commanded
    # the replay reproduces what the stack did live, and what it did when the golden summary was written
    assert result.live.passed, report
    assert result.golden is not None and result.golden.passed, report
    # the stack really drove: the sweeper moved along the curb with its brushes down
    rows = result.summary.rows
    cols = result.summary.columns
    x_end, v_mid = rows[-1][1][cols.index("x")], rows[len(rows) // 2][1][cols.index("v")]
    assert x_end > -75.0 and v_mid > 1.0, rows[-1]
    assert any(r[1][cols.index("main_brush")] == 1 for r in rows)


def test_golden_comparison_names_the_cells_that_changed(tmp_path: Path) -> None:
    """A behaviour change (here: the command 0.5 m/s faster from 10 s on) fails with a readable diff."""
    committed = golden.read_summary(default_golden("demo_sweep_intersection", DURATION))
    speed = committed.columns.index("cmd_speed")
    changed_rows = [
        (t, tuple(v + 0.5 if i == speed and t >= 10.0 else v for i, v in enumerate(values)))
        for t, values in committed.rows
    ]
    changed = golden.Summary(committed.columns, changed_rows, committed.period, committed.notes)
    path = changed.write(tmp_path / "changed.csv")
    result = golden.compare_summaries(committed, golden.read_summary(path), slack=2)
    assert not result.passed
    assert {d.column for d in result.diffs} == {"cmd_speed"}
    assert min(d.t for d in result.diffs) >= 10.0
    assert "cmd_speed" in result.report() and "FAIL" in result.report()
    assert golden.compare_summaries(
        committed, golden.read_summary(committed.write(tmp_path / "same.csv"))
    ).passed


def test_regress_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from roadedge.bag.regression import regress_main

    assert regress_main(["no_such_scenario"]) == 2
    assert "no_such_scenario" in capsys.readouterr().err
    assert regress_main(["demo_sweep_intersection", "--duration", "1000"]) == 2
    assert "--duration must be in" in capsys.readouterr().err
    not_a_run = tmp_path / "bag"
    with BagRecorder(not_a_run) as bag:
        bag.add_topic("/chatter", "std_msgs/msg/String")
        bag.write("/chatter", 1_000_000_000, bytes(serialize_message(String(data="hi"))))
    args = ["demo_sweep_intersection", "--bag", str(not_a_run), "--out", str(tmp_path / "o")]
    assert regress_main(args) == 2
    assert "not a run of the vehicle stack" in capsys.readouterr().err
