"""Nodes started as executables: bad configuration fails fast naming the parameter and file;
good configuration gives diagnostics on /diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray

pytestmark = pytest.mark.dds


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("speed_controller:\n  ros__parameters:\n    target_sped: 3.0\n", "has no parameter 'target_sped'"),
        (
            "speed_controller:\n  ros__parameters:\n    target_speed: fast\n",
            "parameter 'target_speed' of node",
        ),
        (
            "speed_controller:\n  ros__parameters:\n    rate: 0.0\n",
            "parameter 'rate' of node 'speed_controller'",
        ),
    ],
)
def test_bad_parameter_file_stops_the_node_naming_parameter_and_file(
    node_process, tmp_path: Path, params: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(params)
    proc = node_process("speed_controller", path)
    assert proc.proc.wait(30) == 2
    out = proc.output()
    assert expected in out and str(path) in out, out


def test_missing_parameter_file_stops_the_node(node_process, tmp_path: Path) -> None:
    proc = node_process("speed_controller", tmp_path / "missing.yaml")
    assert proc.proc.wait(30) == 2
    assert "missing.yaml: file not found" in proc.output()


def test_running_node_reports_on_diagnostics(ros, node_process) -> None:
    arrays = ros.collect(DiagnosticArray, "/diagnostics")
    node_process("chassis_emulator")
    ros.spin_until(
        lambda: any(s.name.startswith("chassis_emulator") for a in arrays for s in a.status),
        20.0,
        "chassis_emulator diagnostics",
    )
