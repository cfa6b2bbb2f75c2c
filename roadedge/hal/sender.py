"""The chassis runtime (safety watchdog + CAN sender and receiver) in a process of its own.

Why a process: the 50 Hz command frames are sent by a Python thread, and a Python thread
needs the GIL. In the chassis_hal node the rclpy executor (subscriptions, the status
timer, diagnostics) holds the GIL too; when that thread is preempted by other work on the
machine while it holds the GIL, the sender waits for it even at SCHED_FIFO priority (a
priority inversion): measured with the node on a loaded 2-core machine, p99 period jitter
at the HAL's send was 17-82 ms with the sender as a SCHED_FIFO thread of the node process.
A process of its own has no such thread: only the sender, the receiver and the pipe to
the node, all SCHED_FIFO when ``realtime_priority`` is set (``bench/hal_can.py``).

The safety design does not change: the one :class:`~roadedge.hal.safety.SafetyWatchdog`
lives here with the sender, commands are inputs to it, so a node that stalls or dies
(no fresh command) becomes controlled-stop frames from the sender after
``command_timeout_s``; when the node's end of the pipe closes the sender sends its stop
frames and exits. The sender's process is started with the node's interpreter
(``python -m roadedge.hal.sender FD``) and talks over a socket pair (pickled tuples):

* node -> sender: ``("command", fields, age)``, ``("equipment", fields)``,
  ``("remote_stop", active)``, ``("mode", id, mode)``, ``("report", kind, detail)``,
  ``("stop", send_stop)``;
* sender -> node: ``("ready", realtime)``, ``("snapshot", Snapshot)`` every cycle,
  ``("event", kind, text)``, ``("mode", id, ok, message)``.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from roadedge.hal.bus import BusConfig, open_bus
from roadedge.hal.canmap import CanMap, FieldValue
from roadedge.hal.runtime import ChassisRuntime, Snapshot, apply_realtime, command_cycle
from roadedge.hal.safety import SafetyLimits

SENDER_MODES = ("process", "thread")


@dataclass(frozen=True)
class SenderConfig:
    """Everything the sender process needs (pickled to it)."""

    map_path: Path
    bus: BusConfig
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    reconnect_s: float = 0.5
    equipment_timeout_s: float = 1.0
    realtime_priority: int = 0
    tx_log: bool = False  # record the send times of the first command frame (bench)


def _empty_snapshot(realtime: str = "off") -> Snapshot:
    return Snapshot({}, {}, {}, 0, 0, 0, 0, {}, {}, None, False, False, realtime)


class SenderProcess:
    """Node side: the same calls as :class:`ChassisRuntime`, served by the sender process."""

    def __init__(
        self,
        config: SenderConfig,
        *,
        on_event: Callable[[str, str], None] | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.config = config
        self.cycle_s = command_cycle(CanMap(config.map_path))
        self.on_event = on_event
        self.start_timeout_s = start_timeout_s
        self.tx_log: list[float] = []
        self.wake_log: list[tuple[float, float]] = []
        self.exit_code: int | None = None
        self._snapshot = _empty_snapshot()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._replies: dict[int, tuple[bool, str]] = {}
        self._reply_ready = threading.Condition()
        self._ids = itertools.count(1)
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the sender process and wait until its bus is open and its threads run."""
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "roadedge.hal.sender", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=env,
        )
        theirs.close()
        conn = Connection(ours.detach())
        self._conn = conn
        self._stopping = False
        self.exit_code = None
        conn.send(self.config)
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if conn.poll(0.1):
                msg = conn.recv()
                if msg[0] == "ready":
                    self._snapshot = _empty_snapshot(str(msg[1]))
                    break
                self._dispatch(msg)
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(f"chassis sender process did not start (exit {self._proc.returncode})")
        self._reader = threading.Thread(target=self._read_loop, name="chassis-sender-link", daemon=True)
        self._reader.start()

    def stop(self, send_stop: bool = True) -> None:
        """Stop the sender: first a few controlled-stop frames (leave the chassis safe)."""
        self._stopping = True
        self._send(("stop", send_stop))
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._kill()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        if self._conn is not None:
            self._conn.close()
        self._snapshot = _empty_snapshot(self._snapshot.realtime)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5.0)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and not self._stopping

    @property
    def connected(self) -> bool:
        return self.running and self._snapshot.connected

    # --- inputs (the same calls as ChassisRuntime) ----------------------------------------------
    def command(self, fields: Mapping[str, Any], age: float = 0.0) -> bool:
        return self._send(("command", dict(fields), age))

    def equipment_command(self, fields: Mapping[str, Any]) -> None:
        self._send(("equipment", dict(fields)))

    def remote_stop(self, active: bool) -> None:
        self._send(("remote_stop", active))

    def report(self, kind: str, detail: str = "") -> None:
        self._send(("report", kind, detail))

    def request_mode(self, mode: int, timeout: float = 2.0) -> tuple[bool, str]:
        request = next(self._ids)
        if not self._send(("mode", request, mode)):
            return False, "chassis sender not running"
        with self._reply_ready:
            if not self._reply_ready.wait_for(lambda: request in self._replies, timeout):
                return False, "chassis sender did not answer"
            return self._replies.pop(request)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def status(self, section: str) -> dict[str, FieldValue]:
        return self._snapshot.status.get(section, {})

    # --- the link -------------------------------------------------------------------------------
    def _send(self, msg: tuple[Any, ...]) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                conn.send(msg)
        except (OSError, ValueError):
            return False  # the sender is gone: it stops the chassis on its own (see _read_loop)
        return True

    def _read_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            self._dispatch(msg)
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
            self.exit_code = proc.returncode
        if not self._stopping:
            self._snapshot = _empty_snapshot(self._snapshot.realtime)
            if self.on_event:
                self.on_event("sender_exited", f"chassis sender process exited ({self.exit_code})")

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "snapshot":
            self._snapshot = msg[1]
        elif kind == "event" and self.on_event:
            self.on_event(msg[1], msg[2])
        elif kind == "mode":
            with self._reply_ready:
                self._replies[msg[1]] = (bool(msg[2]), str(msg[3]))
                self._reply_ready.notify_all()
        elif kind == "tx_log":
            self.tx_log, self.wake_log = list(msg[1]), list(msg[2])


# --- the sender process ---------------------------------------------------------------------
def serve(conn: Connection) -> int:
    """Run the chassis runtime for the node at the other end of ``conn`` until told to stop."""
    config: SenderConfig = conn.recv()
    send_lock = threading.Lock()
    # Only the publisher thread and this one write to the node: the sender and receiver threads
    # queue their events and never wait on a node that is slow to read.
    events: collections.deque[tuple[str, str]] = collections.deque(maxlen=1000)

    def send(msg: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError), send_lock:
            conn.send(msg)

    # The whole process (every thread it starts from here on) at SCHED_FIFO: no thread of it
    # can hold the GIL while preempted by ordinary work on the machine.
    realtime = apply_realtime(config.realtime_priority)
    if realtime.startswith("SCHED_FIFO"):
        # every thread here is SCHED_FIFO (none can sit preempted on the GIL): hand it on quickly
        sys.setswitchinterval(0.0005)
    runtime = ChassisRuntime(
        CanMap(config.map_path),
        lambda: open_bus(config.bus),
        config.limits,
        on_event=lambda kind, text: events.append((kind, text)),  # sent by the publisher
        reconnect_s=config.reconnect_s,
        equipment_timeout_s=config.equipment_timeout_s,
    )
    runtime.realtime = realtime
    if realtime.startswith("refused"):
        runtime.report("realtime_priority_refused", realtime)
    if config.tx_log:
        runtime.tx_log = []
    runtime.start()
    # What exists now lives as long as the process: keep the cyclic garbage collector off it, so
    # that a collection (which holds the GIL) only walks the few objects made per cycle.
    gc.collect()
    gc.freeze()
    send(("ready", realtime))
    done = threading.Event()

    def flush_events() -> None:
        while events:
            send(("event", *events.popleft()))

    def publish() -> None:
        # one snapshot per cycle, half a cycle away from the sender's deadlines (no GIL contention)
        next_time = time.monotonic() + runtime.cycle_s / 2
        while not done.is_set():
            flush_events()
            send(("snapshot", runtime.snapshot()))
            next_time += runtime.cycle_s
            done.wait(max(0.0, next_time - time.monotonic()))

    publisher = threading.Thread(target=publish, name="chassis-snapshot", daemon=True)
    publisher.start()
    send_stop = True
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break  # the node is gone: stop the chassis, then exit
        kind = msg[0]
        if kind == "command":
            runtime.command(msg[1], msg[2])
        elif kind == "equipment":
            runtime.equipment_command(msg[1])
        elif kind == "remote_stop":
            runtime.remote_stop(bool(msg[1]))
        elif kind == "mode":
            ok, text = runtime.request_mode(int(msg[2]))
            send(("mode", msg[1], ok, text))
        elif kind == "report":
            runtime.report(msg[1], msg[2])
        elif kind == "stop":
            send_stop = bool(msg[1])
            break
    runtime.stop(send_stop=send_stop)
    done.set()
    publisher.join(timeout=1.0)
    flush_events()
    if runtime.tx_log is not None:
        send(("tx_log", runtime.tx_log, runtime.wake_log))
    send(("snapshot", runtime.snapshot()))
    conn.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    # The node decides when the sender stops (after its stop frames): a Ctrl-C to the process
    # group or the SIGTERM that systemd sends every process of the unit leaves it to the node;
    # if the node dies instead, its end of the link closes and the sender stops the chassis.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m roadedge.hal.sender FD (started by chassis_hal)", file=sys.stderr)
        return 2
    return serve(Connection(int(args[0])))


if __name__ == "__main__":
    sys.exit(main())
