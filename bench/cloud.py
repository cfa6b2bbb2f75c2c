#!/usr/bin/env python3
"""Cloud-link benchmark: how many vehicles at 1 Hz one bridge process and one broker sustain.

A real mosquitto on 127.0.0.1 (TLS client certificates, ACL, persistence), an operations centre
in a second process (subscribes to everything, validates every envelope against the schema,
deduplicates, sends signed end-to-end ``uplink_ack``), and this process hosting N vehicle
bridges (each its own MQTT connection, TLS client certificate and SQLite queue), each sending
one ``state`` message per second. N ramps up (50, 100, 200, 300, ...): a level is sustained when,
a few seconds after it ends, every message sent so far has arrived and the p95 latency (stamp to
arrival) of the level stayed under 1 s. Lost = sent and never arrived (after a final drain).

    tools/with_env.sh python bench/cloud.py                   # ramp, < 1 minute
    tools/with_env.sh python bench/cloud.py --outage-s 30     # 50 vehicles, broker killed 30 s

``--outage-s S`` runs a fixed fleet (``--vehicles``, default 50) at 1 Hz, kills the broker
(SIGKILL) after 5 s, keeps the vehicles sending through the outage, restarts the broker after
S seconds and waits until every message has arrived: the acceptance run of issue 9.

Ends with one line: RESULT vehicles_sustained=<n> lost=<n>  (lost: sent, never arrived and no
longer queued on disk; a message still queued when the run ends is late, not lost)
"""

from __future__ import annotations

import argparse
import atexit
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roadedge.cloud.auth import CommandVerifier, load_public_key  # noqa: E402
from roadedge.cloud.bridge import CloudBridge, LinkConfig  # noqa: E402
from roadedge.cloud.broker import MosquittoBroker  # noqa: E402
from roadedge.cloud.layout import DeviceIdentity  # noqa: E402
from roadedge.cloud.opscentre import OpsCentre  # noqa: E402
from roadedge.cloud.pki import TestPki  # noqa: E402
from roadedge.cloud.queue import StoreAndForwardQueue  # noqa: E402

CONNECT_TIMEOUT_S = 8.0
STATE = {
    "pose": {"lat": 22.543, "lon": 114.057, "alt": 12.0, "heading": 0.5},
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


def centre_main(port: int, pki_dir: str, conn: Connection) -> None:
    """The operations centre, in its own process: answers 'report' with its counts."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((Path(pki_dir) / "ops.key").read_bytes(), None)
    folder = Path(pki_dir)
    centre = OpsCentre(
        "127.0.0.1",
        port,
        str(folder / "ca.crt"),
        str(folder / "ops-centre.crt"),
        str(folder / "ops-centre.key"),
        key,  # type: ignore[arg-type]
        ack_interval_s=0.5,
    )
    centre.start(30.0)
    conn.send("ready")
    while True:
        request = conn.recv()
        if request == "stop":
            centre.stop()
            conn.send("stopped")
            return
        with centre._cond:
            counts = {d: len(log.first_seen) for d, log in centre.devices.items()}
            dups = sum(log.duplicates for log in centre.devices.values())
            ordered = all(log.first_seen == sorted(log.first_seen) for log in centre.devices.values())
            lat, centre.latencies = centre.latencies, []
            invalid = len(centre.invalid)
        conn.send(
            {"counts": counts, "duplicates": dups, "latencies": lat, "invalid": invalid, "ordered": ordered}
        )


class Fleet:
    def __init__(self, broker: MosquittoBroker, pki: TestPki, folder: Path) -> None:
        self.broker, self.pki, self.folder = broker, pki, folder
        self.bridges: list[CloudBridge] = []
        self.sent: dict[str, int] = {}
        self._keys = {"ops-1": load_public_key(pki.ops_public_file.read_bytes())}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def grow(self, n: int) -> None:
        while len(self.bridges) < n:
            device = f"sw-{len(self.bridges):04d}"
            files = self.pki.client(device)
            ident = DeviceIdentity("bench", "site-1", device)
            queue = StoreAndForwardQueue(self.folder / f"{device}.db")
            link = LinkConfig(
                port=self.broker.port,
                ca_file=str(self.pki.ca_file),
                cert_file=str(files.cert),
                key_file=str(files.key),
                keepalive_s=5,
                reconnect_min_s=1.0,
                reconnect_max_s=2.0,
            )
            bridge = CloudBridge(ident, link, queue, CommandVerifier(ident, self._keys, queue, time.time))
            bridge.start()
            self.bridges.append(bridge)
            self.sent[device] = 0

    def start_sending(self) -> None:
        """Every vehicle one state per second, spread evenly over the second."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._send_loop, daemon=True)
        self._thread.start()

    def _send_loop(self) -> None:
        t0 = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            bridges = list(self.bridges)
            for i, bridge in enumerate(bridges):
                due = t0 + tick + i / max(1, len(bridges))
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                if bridge.publish("state", STATE) is not None:
                    self.sent[bridge.identity.device] += 1
            tick += 1

    def stop_sending(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def connected(self) -> int:
        return sum(1 for b in self.bridges if b.stats().connected)

    def close(self) -> None:
        for b in self.bridges:
            b.stop(0.5)
            b.queue.close()


def report(conn: Connection) -> dict[str, Any]:
    conn.send("report")
    result: dict[str, Any] = conn.recv()
    return result


def delivered(rep: dict[str, Any], sent: dict[str, int]) -> int:
    return sum(min(rep["counts"].get(d, 0), n) for d, n in sent.items())


def wait_delivered(conn: Connection, fleet: Fleet, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    lat: list[float] = []
    while True:
        rep = report(conn)
        lat += rep["latencies"]
        if delivered(rep, fleet.sent) >= sum(fleet.sent.values()) or time.monotonic() > deadline:
            rep["latencies"] = lat
            return rep
        time.sleep(0.2)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values, default=0.0)


def ramp(conn: Connection, fleet: Fleet, budget_s: float, level_s: float) -> int:
    start = time.monotonic()
    sustained = 0
    levels = [50, 100, 200, 300, 400, 600]
    for n in levels:
        if time.monotonic() - start + CONNECT_TIMEOUT_S + level_s + 5 > budget_s:
            print(f"  (time budget reached before {n} vehicles)")
            break
        t_connect = time.monotonic()
        fleet.grow(n)
        while fleet.connected() < n and time.monotonic() - t_connect < CONNECT_TIMEOUT_S:
            time.sleep(0.1)
        connect_s = time.monotonic() - t_connect
        report(conn)  # reset latencies
        broker_proc = psutil.Process(fleet.broker.pid)
        cpu0, broker0, wall0 = time.process_time(), sum(broker_proc.cpu_times()[:2]), time.monotonic()
        fleet.start_sending()
        time.sleep(level_s)
        fleet.stop_sending()
        wall = time.monotonic() - wall0
        cpu = (time.process_time() - cpu0) / wall
        broker_cpu = (sum(broker_proc.cpu_times()[:2]) - broker0) / wall
        rep = wait_delivered(conn, fleet, 4.0)
        got, sent = delivered(rep, fleet.sent), sum(fleet.sent.values())
        lat95 = p95(rep["latencies"])
        connected = fleet.connected()
        ok = got == sent and lat95 < 1.0 and connected == n
        if connected < n:
            print(f"  only {connected} of {n} links connected (FD_SETSIZE: see config/cloud/README.md)")
        print(
            f"  {n:4d} vehicles: connected in {connect_s:4.1f} s, {sent:6d} sent, {got:6d} arrived, "
            f"p95 latency {lat95 * 1000:6.1f} ms, duplicates {rep['duplicates']}, in order {rep['ordered']}, "
            f"CPU bridge process {cpu:4.0%} broker {broker_cpu:4.0%} of a core "
            f"-> {'sustained' if ok else 'NOT sustained'}"
        )
        if not ok:
            break
        sustained = n
    return sustained


def outage(conn: Connection, fleet: Fleet, broker: MosquittoBroker, vehicles: int, outage_s: float) -> None:
    fleet.grow(vehicles)
    while fleet.connected() < vehicles:
        time.sleep(0.1)
    broker.wait_persisted(time.time())
    fleet.start_sending()
    time.sleep(5.0)
    broker.kill()
    t_kill = time.monotonic()
    print(f"  broker killed (SIGKILL) with {vehicles} vehicles sending at 1 Hz")
    max_queue = 0
    while time.monotonic() - t_kill < outage_s:
        max_queue = max(max_queue, max(b.stats().queue_size for b in fleet.bridges))
        time.sleep(0.5)
    broker.start()
    t_back = time.monotonic()
    print(f"  broker back after {t_back - t_kill:.1f} s; largest queue per vehicle {max_queue} messages")
    time.sleep(5.0)
    fleet.stop_sending()
    rep = wait_delivered(conn, fleet, 60.0)
    got, sent = delivered(rep, fleet.sent), sum(fleet.sent.values())
    print(
        f"  {sent} sent, {got} arrived ({time.monotonic() - t_back:.1f} s after the broker returned), "
        f"{rep['duplicates']} duplicates (at least once: unacknowledged messages resent), "
        f"first copies in order: {rep['ordered']}, invalid: {rep['invalid']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget-s", type=float, default=48.0, help="wall time of the ramp")
    parser.add_argument("--level-s", type=float, default=4.0, help="seconds of sending per level")
    parser.add_argument("--outage-s", type=float, default=0.0, help="run the broker-outage test instead")
    parser.add_argument("--vehicles", type=int, default=50, help="fleet size of the outage test")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="roadedge-bench-cloud-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    pki = TestPki(folder / "pki")
    pki.client("ops-centre")
    from cryptography.hazmat.primitives import serialization

    (folder / "pki" / "ops.key").write_bytes(
        pki.ops_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    broker = MosquittoBroker(folder / "broker", pki)
    broker.start()
    parent, child = mp.Pipe()
    centre = mp.get_context("spawn").Process(
        target=centre_main, args=(broker.port, str(folder / "pki"), child)
    )
    centre.start()
    assert parent.recv() == "ready"
    fleet = Fleet(broker, pki, folder / "queues")
    try:
        if args.outage_s > 0:
            outage(parent, fleet, broker, args.vehicles, args.outage_s)
            sustained = args.vehicles
        else:
            print(
                "vehicles at 1 Hz through one bridge process and one mosquitto (TLS, QoS 1, end-to-end acks):"
            )
            sustained = ramp(parent, fleet, args.budget_s, args.level_s)
        rep = wait_delivered(parent, fleet, 3.0)
        queued = sum(len(b.queue) for b in fleet.bridges)
        undelivered = sum(fleet.sent.values()) - delivered(rep, fleet.sent)
        lost = max(0, undelivered - queued)  # not arrived and not on disk either
        if undelivered:
            print(
                f"  {undelivered} message(s) not arrived at the end, {queued} still queued on disk (not lost)"
            )
    finally:
        fleet.close()
        parent.send("stop")
        parent.recv()
        centre.join(5)
        broker.stop()
    print(f"RESULT vehicles_sustained={sustained} lost={lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
