"""The chassis sender in a process of its own (roadedge.hal.sender) against the HIL chassis ECU.

The ECU and the loopback TCP CAN hub run in the test process; the sender process is the one
chassis_hal starts (``python -m roadedge.hal.sender``). No DDS.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import resource
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from roadedge_hil.chassis_ecu import ChassisEcu
from roadedge_hil.plant import PlantParams, VehiclePlant
from test_closed_loop_can import SWEEPER, wait_for

from roadedge.hal.bus import BusConfig, SocketCanHub, open_bus
from roadedge.hal.canmap import CanMap
from roadedge.hal.safety import SafetyLimits
from roadedge.hal.sender import SenderConfig, SenderProcess

ROOT = Path(__file__).resolve().parents[2]
DRIVE = {"enable": True, "drive_mode": 1, "gear": 4, "target_speed": 1.0}


@dataclass
class Rig:
    hub: SocketCanHub
    ecu: ChassisEcu
    hal_link: str

    def stops_after(self, t0: float) -> list[float]:
        return [
            t for t, f in list(self.ecu.command_log) if t >= t0 and float(f["target_acceleration"]) <= -1.99
        ]


@pytest.fixture
def rig() -> Iterator[Rig]:
    hub = SocketCanHub([0, 0])
    hub.start()
    ecu_link, hal_link = hub.links
    bus = open_bus(BusConfig("serial", ecu_link))
    ecu = ChassisEcu(
        CanMap(SWEEPER), bus, VehiclePlant(PlantParams(speed_lag=0.1)), hub=hub, hal_link=hal_link
    )
    ecu.log_commands = True
    ecu.start()
    yield Rig(hub, ecu, hal_link)
    ecu.stop()
    bus.shutdown()
    hub.stop()


@pytest.fixture
def make_sender(rig: Rig) -> Iterator[Callable[..., SenderProcess]]:
    made: list[SenderProcess] = []

    def make(**options: object) -> SenderProcess:
        config = SenderConfig(SWEEPER, BusConfig("serial", rig.hal_link), SafetyLimits(feedback_grace_s=0.3))
        sender = SenderProcess(dataclasses.replace(config, **options))  # type: ignore[arg-type]
        sender.start()
        made.append(sender)
        return sender

    yield make
    for sender in made:
        if sender.running:
            sender.stop(send_stop=False)


def drive(sender: SenderProcess, rig: Rig, until: float = 0.4) -> None:
    """Command as the node would (50 Hz) until the emulated vehicle moves."""
    assert wait_for(lambda: (sender.command(DRIVE), rig.ecu.speed() >= until)[1], 10.0, poll=0.02)


def test_sender_process_drives_stops_a_stalled_producer_and_outlives_no_node(
    rig: Rig, make_sender: Callable[..., SenderProcess]
) -> None:
    sender = make_sender(realtime_priority=10)
    # SCHED_FIFO where permitted, else the refusal says what to grant; either way it runs
    state = sender.snapshot().realtime
    assert sender.pid is not None
    if state.startswith("refused"):
        assert os.sched_getscheduler(sender.pid) == os.SCHED_OTHER and "LimitRTPRIO=10" in state
    else:
        assert state == "SCHED_FIFO 10" and os.sched_getscheduler(sender.pid) == os.SCHED_FIFO

    drive(sender, rig, until=0.8)
    assert wait_for(lambda: float(sender.status("vehicle_status").get("speed", 0.0)) > 0.5)  # type: ignore[arg-type]
    snap = sender.snapshot()
    assert snap.connected and snap.running and snap.tx_frames > 0 and snap.rx_frames > 0
    assert sender.request_mode(7) == (False, "unknown drive mode 7")  # answered by the sender's watchdog

    # the producer stalls: the sender itself sends the controlled stop, frames never pause
    stalled = max(t for t, _ in rig.ecu.command_log)
    assert wait_for(rig.ecu.standstill, 6.0)
    assert rig.stops_after(stalled)
    assert sender.snapshot().faults.get("command_timeout") == 1
    assert rig.ecu.counters.timeouts == 0  # the HAL's stop, not the ECU's own command timeout
    assert rig.ecu.counters.rx_rejected == 0

    # the node process dies (its end of the link goes): stop frames, then the sender exits
    drive(sender, rig)
    gone = max(t for t, _ in rig.ecu.command_log)
    assert sender._conn is not None
    link = socket.socket(fileno=os.dup(sender._conn.fileno()))
    link.shutdown(socket.SHUT_RDWR)
    link.close()
    assert wait_for(lambda: sender.exit_code is not None, 5.0)
    assert sender.exit_code == 0 and not sender.running
    assert rig.stops_after(gone)


def test_unplugged_socket_link_is_detected_and_reconnected(
    rig: Rig, make_sender: Callable[..., SenderProcess]
) -> None:
    sender = make_sender(reconnect_s=0.1)
    drive(sender, rig)
    rig.ecu.inject("unplug", True)
    assert wait_for(lambda: "bus_down" in sender.snapshot().faults and not sender.connected, 3.0)
    rig.ecu.inject("unplug", False)
    assert wait_for(lambda: sender.connected and sender.snapshot().reconnects >= 1, 5.0)
    frames = sender.snapshot().rx_frames
    assert wait_for(lambda: sender.snapshot().rx_frames > frames + 10, 3.0)  # status flows again


def _without_realtime_rights() -> None:
    """In the child before exec: no SCHED_FIFO (RLIMIT_RTPRIO 0, no CAP_SYS_NICE even as root)."""
    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_capbset_drop, cap_sys_nice = 24, 23
        libc.prctl(pr_capbset_drop, cap_sys_nice, 0, 0, 0)  # root's capabilities after exec lack it


def test_refused_realtime_priority_is_a_diagnostic_and_the_hal_still_runs(rig: Rig) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from roadedge.hal.bus import BusConfig
        from roadedge.hal.safety import SafetyLimits
        from roadedge.hal.sender import SenderConfig, SenderProcess
        config = SenderConfig(Path({str(SWEEPER)!r}), BusConfig("serial", {rig.hal_link!r}),
                              SafetyLimits(feedback_grace_s=0.3), realtime_priority=20)
        sender = SenderProcess(config)
        sender.start()
        end = time.monotonic() + 10.0
        while time.monotonic() < end and not sender.snapshot().rx_frames > 20:
            sender.command({DRIVE!r})
            time.sleep(0.02)
        snap = sender.snapshot()
        sender.stop()
        print("REALTIME", snap.realtime)
        print("EVENTS", snap.events)
        print("RX", snap.rx_frames)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_without_realtime_rights,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["REALTIME"].startswith("refused: SCHED_FIFO 20"), lines
    assert "LimitRTPRIO=20" in lines["REALTIME"]
    assert "'realtime_priority_refused': 1" in lines["EVENTS"]
    assert int(lines["RX"]) > 20  # it runs on, with normal scheduling
    assert any(not f.get("emergency_stop") and f.get("enable") for _, f in rig.ecu.command_log)
