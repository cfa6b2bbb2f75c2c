"""HAL runtime <-> CAN <-> chassis ECU emulator, fault injection for every fault (no DDS).

The runtime and the ECU run their own threads on a python-can ``virtual`` bus, or on the
pty CAN hub (python-can ``serial`` framing) that the cross-process tests use.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from roadedge_hil.chassis_ecu import ChassisEcu
from roadedge_hil.plant import PlantParams, VehiclePlant

from roadedge.hal.bus import BusConfig, PtyCanHub, open_bus
from roadedge.hal.canmap import CanMap
from roadedge.hal.runtime import ChassisRuntime
from roadedge.hal.safety import Fault, SafetyLimits

ROOT = Path(__file__).resolve().parents[2]
SWEEPER = ROOT / "config" / "chassis" / "sweeper_v1.yaml"
MINIBUS = Path(__file__).parent / "data" / "minibus.yaml"
_channels = itertools.count()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, poll: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()


@dataclass
class Loop:
    runtime: ChassisRuntime
    ecu: ChassisEcu
    hub: PtyCanHub | None
    hal_link: str
    channel: str = ""

    def drive(
        self,
        speed: float = 1.0,
        until: float = 0.4,
        equipment: dict[str, object] | None = None,
        **extra: object,
    ) -> None:
        """Send fresh commands (as the controller node would) until the vehicle moves."""
        end = time.monotonic() + 10.0
        while self.ecu.speed() < until and time.monotonic() < end:
            self.runtime.command({"enable": True, "drive_mode": 1, "gear": 4, "target_speed": speed, **extra})
            if equipment:
                self.runtime.equipment_command(equipment)
            time.sleep(0.02)
        assert self.ecu.speed() >= until

    def keep_commanding_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.runtime.command({"enable": True, "drive_mode": 1, "gear": 4, "target_speed": 1.0})
            time.sleep(0.02)
        return predicate()


@pytest.fixture
def make_loop(tmp_path: Path) -> Iterator[Callable[..., Loop]]:
    made: list[tuple[ChassisRuntime, ChassisEcu, object, PtyCanHub | None]] = []

    def make(map_path: Path = SWEEPER, transport: str = "virtual") -> Loop:
        hub, channel = None, ""
        if transport == "virtual":
            channel = f"hal-test-{next(_channels)}"
            ecu_bus = open_bus(BusConfig("virtual", channel))
            hal_config = BusConfig("virtual", channel)
        else:
            hub = PtyCanHub([tmp_path / "ecu", tmp_path / "hal"])
            hub.start()
            ecu_bus = open_bus(BusConfig("serial", str(tmp_path / "ecu")))
            hal_config = BusConfig("serial", str(tmp_path / "hal"))
        plant = VehiclePlant(PlantParams(speed_lag=0.1))  # a brisk chassis keeps the suite short
        ecu = ChassisEcu(CanMap(map_path), ecu_bus, plant, hub=hub, hal_link=tmp_path / "hal")
        ecu.start()
        limits = SafetyLimits(feedback_grace_s=0.3)
        runtime = ChassisRuntime(CanMap(map_path), lambda: open_bus(hal_config), limits, reconnect_s=0.2)
        runtime.start()
        made.append((runtime, ecu, ecu_bus, hub))
        return Loop(runtime, ecu, hub, str(tmp_path / "hal"), channel)

    yield make
    for runtime, ecu, bus, hub in made:
        runtime.stop(send_stop=False)
        ecu.stop()
        bus.shutdown()  # type: ignore[attr-defined]
        if hub:
            hub.stop()


def test_reference_chassis_closed_loop_with_work_equipment(make_loop: Callable[..., Loop]) -> None:
    loop = make_loop()
    equipment = {
        "enable": True,
        "main_brush": 1,
        "side_brush_left": 1,
        "main_brush_speed": 12.0,
        "suction_fan_speed": 0.7,
        "water_spray_flow": 4.0,
    }
    loop.drive(speed=1.5, until=1.2, steering_angle=0.1, equipment=equipment)
    status = loop.runtime.status("vehicle_status")
    assert status["speed"] == pytest.approx(loop.ecu.speed(), abs=0.2)
    assert status["gear"] == 4 and status["drive_mode"] == 1 and status["autonomy_enabled"]
    assert 0.0 < float(status["steering_angle"]) <= 0.1 + 1e-3  # type: ignore[arg-type]
    assert loop.runtime.status("equipment_status").get("main_brush") == 1
    equipment = loop.runtime.status("equipment_status")
    assert equipment["enabled"] and equipment["side_brush_left"] == 1 and equipment["side_brush_right"] == 0
    assert loop.ecu.equipment.main_brush_speed > 5.0
    assert loop.ecu.counters.rx_rejected == 0
    assert loop.runtime.stats.events.counts == {}


def test_second_chassis_dbc_and_map_drive_without_code_change(make_loop: Callable[..., Loop]) -> None:
    loop = make_loop(MINIBUS)
    loop.drive(speed=1.0, until=0.8, steering_angle=-0.05)
    status = loop.runtime.status("vehicle_status")
    assert status["gear"] == 4 and float(status["speed"]) > 0.7  # type: ignore[arg-type]
    assert float(status["steering_angle"]) < -0.01  # type: ignore[arg-type]
    assert loop.runtime.cycle_s == pytest.approx(0.01)  # this chassis wants 100 Hz


def _assert_stopped_by(loop: Loop, fault: Fault, keep_commanding: bool = True) -> None:
    """The fault is diagnosed, the stop goes out in the step that detected it, the vehicle stops.

    (Latencies in milliseconds are measured by bench/hal_can.py, not asserted here.)
    """
    counts = loop.runtime.watchdog.counters.faults

    def stopped() -> bool:
        return counts.get(fault.value, 0) >= 1 and loop.ecu.speed() < 0.02

    wait = loop.keep_commanding_until if keep_commanding else wait_for
    assert wait(stopped, 6.0), (counts, loop.ecu.speed())
    detected = loop.runtime.watchdog.detected_at[fault]
    assert loop.runtime.stop_sent_at[fault] == detected  # same 20 ms cycle
    if loop.ecu.log_commands:  # the bus stayed up: the stop frames reached the ECU
        stops = [
            t for t, f in loop.ecu.command_log if t >= detected and float(f["target_acceleration"]) <= -1.99
        ]
        assert stops


def test_fault_command_timeout(make_loop: Callable[..., Loop]) -> None:
    loop = make_loop()
    loop.drive()
    loop.ecu.log_commands = True
    _assert_stopped_by(loop, Fault.COMMAND_TIMEOUT, keep_commanding=False)
    # the HAL's stop frames reach the ECU, it is not the ECU's own timeout that stopped it
    assert loop.ecu.counters.timeouts == 0


@pytest.mark.parametrize(
    ("ecu_fault", "hal_fault"),
    [
        ("estop", Fault.EMERGENCY_STOP_INPUT),
        ("feedback_stale", Fault.FEEDBACK_STALE),
        ("can_loss", Fault.FEEDBACK_STALE),
        ("bad_checksum", Fault.FRAME_INTEGRITY),
        ("bad_counter", Fault.FRAME_INTEGRITY),
        ("bus_off", Fault.BUS_DOWN),
    ],
)
def test_fault_injected_in_the_ecu(make_loop: Callable[..., Loop], ecu_fault: str, hal_fault: Fault) -> None:
    loop = make_loop()
    loop.drive()
    loop.ecu.log_commands = ecu_fault not in ("can_loss", "bus_off")
    ok, message = loop.ecu.inject(ecu_fault, True)
    assert ok, message
    _assert_stopped_by(loop, hal_fault)
    kinds = loop.runtime.stats.events.counts
    if ecu_fault == "bad_checksum":
        assert kinds.get("rx_checksum", 0) >= 3
    if ecu_fault == "bad_counter":
        assert kinds.get("rx_counter_repeated", 0) >= 3
    if ecu_fault == "bus_off":
        assert kinds.get("bus_down", 0) >= 1
        assert wait_for(lambda: loop.runtime.connected and loop.runtime.stats.reconnects >= 1)


def test_emergency_stop_command(make_loop: Callable[..., Loop]) -> None:
    loop = make_loop()
    loop.drive()
    loop.ecu.log_commands = True
    loop.runtime.command(
        {"enable": True, "drive_mode": 1, "gear": 4, "target_speed": 1.0, "emergency_stop": True}
    )
    _assert_stopped_by(loop, Fault.EMERGENCY_STOP_COMMAND)


def test_unplugged_adapter_is_detected_and_reconnected(make_loop: Callable[..., Loop]) -> None:
    loop = make_loop(transport="pty")
    loop.drive()
    ok, _ = loop.ecu.inject("unplug", True)
    assert ok
    # the HAL cannot reach the chassis: it stops on its side, the ECU stops on its own timeout
    assert loop.keep_commanding_until(lambda: "bus_down" in loop.runtime.watchdog.counters.faults, 3.0)
    assert wait_for(loop.ecu.standstill, timeout=5.0)
    assert loop.ecu.counters.timeouts >= 1
    loop.ecu.inject("unplug", False)
    assert wait_for(
        lambda: loop.runtime.connected and bool(loop.runtime.status("vehicle_status")), timeout=5.0
    )
    # after the reconnect the first frames are the latched controlled stop, then driving resumes
    assert loop.keep_commanding_until(lambda: loop.ecu.speed() > 0.3, timeout=8.0)
    assert loop.runtime.stats.reconnects >= 1


def test_garbage_on_the_bus_is_counted_and_never_actuates(make_loop: Callable[..., Loop]) -> None:
    import can

    loop = make_loop()
    loop.drive()
    noise = open_bus(BusConfig("virtual", loop.channel))
    try:
        for data in (b"", b"\x01", bytes(8), bytes(range(8)), b"\xff" * 8):
            for frame_id in (0x200, 0x201, 0x220, 0x7FF):
                noise.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=False))
        noise.send(can.Message(arbitration_id=0x1, is_error_frame=True, data=bytes(8)))
        assert wait_for(lambda: loop.runtime.stats.events.total() >= 10), (
            loop.channel,
            loop.runtime.stats.events.counts,
        )
    finally:
        noise.shutdown()
    kinds = loop.runtime.stats.events.counts
    assert kinds.get("rx_short_frame", 0) >= 3 and kinds.get("rx_checksum", 0) >= 3
    assert loop.runtime.running
