"""Chassis HAL benchmark: 50 Hz command cadence and fault-to-stop latency, across processes.

The deployment measured is the recommended one: the unchanged ``chassis_hal`` node (rclpy
executor, normal scheduling) with its sender in a process of its own at SCHED_FIFO
``realtime_priority`` 20 (node parameters ``sender: process``, ``realtime_priority: 20``;
on a vehicle: ``LimitRTPRIO=20`` in its systemd unit). A 50 Hz VehicleCommand publisher
(the controller's stand-in) shares the node's process and executor, so the executor is as
busy as on the vehicle. The HIL rig (CAN hub + chassis ECU emulator) runs in this process
at SCHED_FIFO ``--rig-priority`` 10: above everything else on the machine, so that it
measures the HAL and not itself, and below the sender, which it must not preempt (a real
ECU is other hardware; at 30 the rig's reaction to each frame delayed the sender by up to
4 ms). They talk CAN (python-can ``serial`` framing) through the loopback TCP hub
(``--transport socket``, default) or the pty hub (``--transport pty``: the kernel's tty
workqueue, at normal priority, adds tens of ms on a loaded machine; see roadedge/hal/bus.py).

Cadence of DBW_DriveCmd, period jitter = |interval - 20 ms|, at three points (CLOCK_MONOTONIC,
shared by all processes):

* HAL: when the sender's write of the frame returned (inside the sender process);
* bus: when the hub read the frame from the HAL's pty (the frame is on the bus);
* ECU: when the emulated ECU's receive thread got it (the figure in the RESULT line).

Fault-to-stop: from the moment a fault exists (injection; for timeouts the moment the
configured timeout has run out) to the first controlled-stop frame at the ECU. For
``unplug`` the HAL cannot reach the chassis: its figure is printed, not in the maximum.

Usage: ``tools/with_env.sh python bench/hal_can.py`` (about 40 s). ``--sender thread`` and
``--realtime-priority 0`` measure the alternatives. The last line is
``RESULT jitter_p50_ms=<x> jitter_p99_ms=<x> fault_to_stop_max_ms=<x>``.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import itertools
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAP = ROOT / "config" / "chassis" / "sweeper_v1.yaml"
DRIVE, SILENT, ESTOP, REARM = 0, 1, 2, 3


def hal_process(link: str, mode, last_cmd, ready, done, out, sender: str, priority: int) -> None:  # type: ignore[no-untyped-def]
    """The chassis_hal node and a 50 Hz command publisher in one rclpy executor (normal scheduling)."""
    if hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # not the rig's priority
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from roadedge_msgs.msg import VehicleCommand
    from roadedge_nodes.chassis_hal import ChassisHal

    from roadedge import topics
    from roadedge.hal.sender import SenderProcess
    from roadedge.ros.qos import qos_for

    rclpy.init()
    params = {
        "can_interface": "serial",
        "can_channel": link,
        "sender": sender,
        "realtime_priority": priority,
        "feedback_grace": 0.5,
        "autostart": False,
    }
    node = ChassisHal(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    node.trigger_configure()
    runtime = node.runtime
    if isinstance(runtime, SenderProcess):
        runtime.config = dataclasses.replace(runtime.config, tx_log=True)
    elif runtime is not None:
        runtime.tx_log = []
    node.trigger_activate()
    feeder = rclpy.create_node("bench_controller")
    command_topic = topics.VEHICLE_COMMAND
    pub = feeder.create_publisher(VehicleCommand, command_topic.name, qos_for(command_topic))

    def publish() -> None:
        m = mode.value
        if m == SILENT:
            return
        msg = VehicleCommand(enable=m != REARM, drive_mode=1, gear=4, target_speed=1.5)
        msg.emergency_stop = m == ESTOP
        msg.header.stamp = feeder.get_clock().now().to_msg()
        pub.publish(msg)
        last_cmd.value = time.monotonic()

    feeder.create_timer(0.02, publish)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(feeder)
    ready.set()
    realtime = ""
    while not done.is_set():
        executor.spin_once(timeout_sec=0.05)
        if not realtime and runtime is not None and runtime.snapshot().running:
            realtime = runtime.snapshot().realtime
    if runtime is not None:
        runtime.stop(send_stop=True)
    out.put((realtime, list(runtime.tx_log or []), list(runtime.wake_log)) if runtime else ("", [], []))
    executor.shutdown()
    rclpy.shutdown()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def jitter(stamps: list[float], period_ms: float = 20.0) -> list[float]:
    return [abs((b - a) * 1e3 - period_ms) for a, b in itertools.pairwise(stamps)]


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no intervals"
    return (
        f"{name}: {len(values)} intervals, jitter p50 {percentile(values, 50):.3f} ms, "
        f"p99 {percentile(values, 99):.3f} ms, max {max(values):.3f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jitter-seconds", type=float, default=15.0)
    parser.add_argument("--sender", choices=("process", "thread"), default="process")
    parser.add_argument("--transport", choices=("socket", "pty"), default="socket", help="the rig's CAN hub")
    parser.add_argument(
        "--realtime-priority", type=int, default=20, help="chassis_hal realtime_priority (0: normal)"
    )
    parser.add_argument(
        "--rig-priority", type=int, default=10, help="SCHED_FIFO of the rig (hub + ECU emulator); 0: normal"
    )
    parser.add_argument("--histogram", action="store_true", help="print the intervals off by > 2 ms")
    args = parser.parse_args()

    from roadedge.local_dds import isolate

    isolate()
    rig_state = "normal scheduling"
    if args.rig_priority > 0:
        from roadedge.hal.runtime import apply_realtime

        rig_state = apply_realtime(args.rig_priority)
        if not rig_state.startswith("refused"):
            sys.setswitchinterval(0.0005)  # every thread of the rig is SCHED_FIFO: hand the GIL on fast

    from roadedge_hil.chassis_ecu import ChassisEcu

    from roadedge.hal.bus import BusConfig, PtyCanHub, SocketCanHub, open_bus
    from roadedge.hal.canmap import CanMap

    canmap = CanMap(MAP)
    drive_id = canmap.frames("vehicle_command")[0].frame_id
    tmp = Path(tempfile.mkdtemp(prefix="hal-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    hub = SocketCanHub([0, 0]) if args.transport == "socket" else PtyCanHub([tmp / "ecu", tmp / "hal"])
    hub.start()
    ecu_link, hal_link = (str(link) for link in hub.links)
    ecu_bus = open_bus(BusConfig("serial", ecu_link))
    ecu = ChassisEcu(canmap, ecu_bus, hub=hub, hal_link=hal_link)
    ecu.log_commands = True
    ecu.start()

    ctx = mp.get_context("spawn")
    mode, last_cmd = ctx.Value("i", DRIVE), ctx.Value("d", 0.0)
    ready, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(
        target=hal_process,
        args=(hal_link, mode, last_cmd, ready, done, out, args.sender, args.realtime_priority),
        daemon=True,
    )
    child.start()
    ready.wait(60.0)

    def wait(predicate, timeout: float, poll: float = 0.01) -> bool:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(poll)
        return bool(predicate())

    def is_stop(fields: dict) -> bool:  # type: ignore[type-arg]
        return float(fields.get("target_acceleration", 0.0)) <= -1.99

    # --- cadence -------------------------------------------------------------------------------
    wait(lambda: ecu.speed() > 1.0, 20.0)
    load_before = os.getloadavg()[0]
    start = len(ecu.command_log)
    hub.tap = []
    window = (time.monotonic(), time.monotonic() + args.jitter_seconds)
    time.sleep(args.jitter_seconds)
    tap, hub.tap = hub.tap, None
    stamps = [t for t, _ in ecu.command_log[start:]]  # stop frames keep the cadence too
    intervals = [(b - a) * 1e3 for a, b in itertools.pairwise(stamps)]
    ecu_jitter = [abs(i - 20.0) for i in intervals]
    bus_stamps = [t for t, frame in tap if int.from_bytes(frame[6:10], "little") == drive_id]
    bus_jitter = jitter([t for t in bus_stamps if window[0] <= t <= window[1]])
    load_after = os.getloadavg()[0]
    if args.histogram:
        print(sorted(round(i, 1) for i in intervals if abs(i - 20) > 2))

    # --- faults --------------------------------------------------------------------------------
    def first_stop_after(t0: float, timeout: float = 3.0) -> float | None:
        seen = [0]
        found: list[float] = []

        def check() -> bool:
            log = ecu.command_log
            new, seen[0] = log[seen[0] :], len(log)
            found.extend(t for t, f in new if t >= t0 and is_stop(f))
            return bool(found)

        seen[0] = max(0, len(ecu.command_log) - 50)
        return found[0] if wait(check, timeout, 0.005) else None

    def drive_again() -> None:
        mode.value = DRIVE
        wait(lambda: ecu.speed() > 0.5, 10.0)

    results: dict[str, float] = {}
    for fault in ["estop", "feedback_stale", "bad_checksum", "bad_counter", "can_loss", "bus_off"]:
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
    t0 = last_cmd.value + 0.2  # command timeout of the watchdog (the producer stalled)
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

    done.set()
    hal_realtime, sent, wakes = out.get(timeout=20.0)
    child.join(10.0)
    hal_jitter = jitter([t for t in sent if window[0] <= t <= window[1]])
    ecu.stop()
    ecu_bus.shutdown()
    hub.stop()

    p50, p99 = percentile(ecu_jitter, 50), percentile(ecu_jitter, 99)
    print(
        f"deployment: chassis_hal sender={args.sender} realtime_priority={args.realtime_priority}, "
        f"rig CAN hub: {args.transport}"
    )
    print(f"  HAL sender scheduling: {hal_realtime or 'unknown'}; rig (hub + ECU): {rig_state}")
    print(f"load average (1 min) before/after the cadence window: {load_before:.2f} / {load_after:.2f}")
    late = [lateness * 1e3 for deadline, lateness in wakes if window[0] <= deadline <= window[1]]
    if late:
        print(
            f"sender timer: woke after its deadline by p50 {percentile(late, 50):.3f} ms, "
            f"p99 {percentile(late, 99):.3f} ms, max {max(late):.3f} ms"
        )
    print(describe("cadence at the HAL (write returned)  ", hal_jitter))
    print(describe("cadence on the bus (hub read)        ", bus_jitter))
    print(describe("cadence at the ECU (receive thread)  ", ecu_jitter))
    if intervals:
        print(f"mean DBW_DriveCmd period at the ECU {statistics.fmean(intervals):.3f} ms")
    print(f"CAN hub: {hub.frames} frames forwarded, {hub.dropped} dropped, {hub.garbage} garbage bytes")
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
