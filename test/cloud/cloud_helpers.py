"""Data and helpers shared by the cloud-link tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

STATE = {
    "pose": {"lat": 22.543, "lon": 114.057, "alt": None, "heading": 0.5},
    "speed": 1.5,
    "mode": "sweeping",
    "estop": False,
    "battery": {"soc": 0.81, "voltage": 76.5, "current": 12.0},
    "equipment": {"enabled": True, "side_brush_left": "down", "main_brush": "down", "suction_fan": 0.7},
    "bin_fill": 0.3,
    "water_level": 0.6,
    "alarms": [],
    "faults": [],
}


def state(i: int) -> dict[str, Any]:
    return {**STATE, "speed": float(i % 40) * 0.1}


def wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition of the bridge side (the ops side has OpsCentre.wait_for)."""
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)
