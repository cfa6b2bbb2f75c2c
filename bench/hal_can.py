"""Chassis HAL benchmark: 50 Hz command cadence and fault-to-stop latency, across processes.

The chassis HAL runtime (safety watchdog + CAN threads, as in the chassis_hal node) runs in
a child process with a 50 Hz command feeder standing in for the controller; the HIL
chassis ECU runs in this process; they talk CAN over the pty hub (python-can ``serial``
framing), the transport of the HIL rig. The ECU timestamps every DBW_DriveCmd frame it
receives (CLOCK_MONOTONIC, shared by both processes).

* jitter: |interval - 20 ms| between consecutive DBW_DriveCmd frames at the ECU;
* fault-to-stop: from the moment a fault exists (injection; for timeouts the moment the
  configured timeout has run out) to the first controlled-stop frame at the ECU. For
  ``unplug`` the HAL cannot reach the chassis: its figure is the HAL's detection and the
  chassis stops on its own command timeout; it is printed, not part of the maximum.

Usage: ``tools/with_env.sh python bench/hal_can.py [--jitter-seconds 15]``.
The last line is ``RESULT jitter_p50_ms=<x> jitter_p99_ms=<x> fault_to_stop_max_ms=<x>``.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAP = ROOT / "config" / "chassis" / "sweeper_v1.yaml"
DRIVE, SILENT, ESTOP, REARM = 0, 1, 2, 3


def hal_process(link: str, mode, last_cmd, ready, done, tx_queue, priority: int) -> None:  # type: ignore[no-untyped-def]
    from roadedge.hal.bus import BusConfig, open_bus
    from roadedge.hal.canmap import CanMap
    from roadedge.hal.runtime import ChassisRuntime
    from roadedge.hal.safety import SafetyLimits

    runtime = ChassisRuntime(
        CanMap(MAP),
        lambda: open_bus(BusConfig("serial", link)),
        SafetyLimits(feedback_grace_s=0.5),
        reconnect_s=0.5,
        realtime_priority=priority,
    )
    runtime.tx_log = []
    runtime.start()
    ready.set()
    next_time = time.monotonic()
    while not done.is_set():
        m = mode.value
        if m != SILENT:
            cmd = {
                "enable": m != REARM,
                "drive_mode": 1,
                "gear": 4,
                "target_speed": 1.5,
                "emergency_stop": m == ESTOP,
            }
            runtime.command(cmd)
            last_cmd.value = time.monotonic()
        next_time += 0.02
        time.sleep(max(0.0, next_time - time.monotonic()))
    runtime.stop(send_stop=True)
    tx_queue.put(runtime.tx_log)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jitter-seconds", type=float, default=15.0)
    parser.add_argument("--histogram", action="store_true", help="print the intervals off by > 2 ms")
    parser.add_argument(
        "--realtime-priority",
        type=int,
        default=0,
        help="SCHED_FIFO priority for the HAL threads (chassis_hal parameter realtime_priority) and the "
        "ECU side of the rig; 0 = normal scheduling (default)",
    )
    args = parser.parse_args()
    if args.realtime_priority > 0:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.realtime_priority))  # threads inherit

    from roadedge_hil.chassis_ecu import ChassisEcu

    from roadedge.hal.bus import BusConfig, PtyCanHub, open_bus
    from roadedge.hal.canmap import CanMap

    tmp = Path(tempfile.mkdtemp(prefix="hal-bench-"))
    hub = PtyCanHub([tmp / "ecu", tmp / "hal"])
    hub.start()
    ecu_bus = open_bus(BusConfig("serial", str(tmp / "ecu")))
    ecu = ChassisEcu(CanMap(MAP), ecu_bus, hub=hub, hal_link=tmp / "hal")
    ecu.log_commands = True
    ecu.start()

    ctx = mp.get_context("spawn")
    mode, last_cmd = ctx.Value("i", DRIVE), ctx.Value("d", 0.0)
    ready, done, tx_queue = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(
        target=hal_process,
        args=(str(tmp / "hal"), mode, last_cmd, ready, done, tx_queue, args.realtime_priority),
        daemon=True,
    )
    child.start()
    ready.wait(30.0)

    def wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.005)
        return bool(predicate())

    def is_stop(fields: dict) -> bool:  # type: ignore[type-arg]
        return float(fields.get("target_acceleration", 0.0)) <= -1.99

    # --- cadence -------------------------------------------------------------------------------
    wait(lambda: ecu.speed() > 1.0, 10.0)
    start = len(ecu.command_log)
    window = (time.monotonic(), time.monotonic() + args.jitter_seconds)
    time.sleep(args.jitter_seconds)
    stamps = [t for t, f in ecu.command_log[start:] if not is_stop(f)]
    intervals = [(b - a) * 1e3 for a, b in itertools.pairwise(stamps)]
    if "--histogram" in sys.argv:
        print(sorted(round(i, 1) for i in intervals if abs(i - 20) > 2))
    jitter = [abs(i - 20.0) for i in intervals]
    p50, p99 = percentile(jitter, 50), percentile(jitter, 99)
    print(
        f"cadence: {len(intervals)} intervals, mean {statistics.fmean(intervals):.3f} ms, "
        f"jitter p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(jitter):.3f} ms"
    )

    # --- faults --------------------------------------------------------------------------------
    def first_stop_after(t0: float, timeout: float = 3.0) -> float | None:
        found: list[float] = []

        def check() -> bool:
            found[:] = [t for t, f in list(ecu.command_log) if t >= t0 and is_stop(f)]
            return bool(found)

        return found[0] if wait(check, timeout) else None

    def drive_again() -> None:
        mode.value = DRIVE
        wait(lambda: ecu.speed() > 0.5, 10.0)

    results: dict[str, float] = {}
    faults = ["estop", "feedback_stale", "bad_checksum", "bad_counter", "can_loss", "bus_off"]
    for fault in faults:
        drive_again()
        t0 = time.monotonic()
        ecu.inject(fault, True)
        if fault in ("feedback_stale", "can_loss"):
            # the fault exists once the status timeout of VCU_DriveStatus (100 ms) has run out
            # after the last frame the ECU sent (one may still leave while the fault is set)
            time.sleep(0.05)
            t0 = ecu.last_tx["VCU_DriveStatus"] + 0.1
        stop = first_stop_after(t0)
        ecu.inject(fault, False)
        results[fault] = (stop - t0) * 1e3 if stop is not None else float("inf")
        if fault == "estop":
            mode.value = REARM
            time.sleep(0.2)
        wait(lambda: ecu.speed() < 0.02, 5.0)

    drive_again()
    mode.value = ESTOP
    t0 = time.monotonic()
    stop = first_stop_after(t0)
    results["emergency_stop_command"] = (stop - t0) * 1e3 if stop is not None else float("inf")
    mode.value = REARM
    time.sleep(0.2)
    wait(lambda: ecu.speed() < 0.02, 5.0)

    drive_again()
    mode.value = SILENT
    time.sleep(0.05)
    t0 = last_cmd.value + 0.2  # command timeout of the watchdog
    stop = first_stop_after(t0)
    results["command_timeout"] = (stop - t0) * 1e3 if stop is not None else float("inf")
    wait(lambda: ecu.speed() < 0.02, 5.0)

    drive_again()
    t0 = time.monotonic()
    ecu.inject("unplug", True)
    wait(lambda: ecu.speed() < 0.02, 5.0)
    chassis_stop_s = time.monotonic() - t0
    ecu.inject("unplug", False)
    drive_again()
    ecu.counters.timeouts = 0

    done.set()
    sent = [t for t in tx_queue.get(timeout=10.0) if window[0] <= t <= window[1]]
    child.join(10.0)
    sent_jitter = [abs((b - a) * 1e3 - 20.0) for a, b in itertools.pairwise(sent)]
    ecu.stop()
    ecu_bus.shutdown()
    hub.stop()

    print(
        f"cadence at the HAL (send times): {len(sent_jitter)} intervals, jitter p50 "
        f"{percentile(sent_jitter, 50):.3f} ms, p99 {percentile(sent_jitter, 99):.3f} ms"
    )
    print(f"pty CAN hub: {hub.frames} frames forwarded, {hub.dropped} dropped, {hub.garbage} garbage bytes")
    for name, ms in results.items():
        print(f"fault-to-stop {name:24s} {ms:8.1f} ms")
    print(
        f"unplug (HAL cannot reach the chassis): chassis at standstill {chassis_stop_s * 1e3:.0f} ms after "
        "the unplug, on its own command timeout (not in the maximum)"
    )
    worst = max(results.values())
    print(f"RESULT jitter_p50_ms={p50:.3f} jitter_p99_ms={p99:.3f} fault_to_stop_max_ms={worst:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
