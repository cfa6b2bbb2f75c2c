"""A minimal operations-centre client: the cloud end used by tests, the bench and HIL rigs.

It subscribes to every uplink of the broker (persistent session, QoS 1), validates each
envelope against the schema, deduplicates on ``msg_id`` and records per device the order in
which messages first arrived; every ``ack_interval_s`` it sends each device a signed
``uplink_ack`` with the seq ranges received since the last one (end-to-end delivery); it
signs and sends commands.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from roadedge.cloud.auth import sign_command
from roadedge.cloud.layout import ROOT, VERSION, DeviceIdentity, parse_uplink_topic
from roadedge.cloud.schema import SCHEMA, check_uplink


def seq_ranges(seqs: set[int]) -> list[list[int]]:
    """Inclusive [lo, hi] ranges covering ``seqs``."""
    ranges: list[list[int]] = []
    for s in sorted(seqs):
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1][1] = s
        else:
            ranges.append([s, s])
    return ranges


@dataclass
class DeviceLog:
    """What arrived from one device."""

    first_seen: list[int] = field(default_factory=list)  # seq in order of first arrival
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    online: bytes | None = None
    identity: DeviceIdentity | None = None
    epoch: str = ""
    to_ack: set[int] = field(default_factory=set)  # received (duplicates too) since the last ack

    def by_stream(self, stream: str) -> list[dict[str, Any]]:
        return [self.messages[s] for s in self.first_seen if self.messages[s]["stream"] == stream]


class OpsCentre:
    __test__ = False

    def __init__(
        self,
        host: str,
        port: int,
        ca_file: str,
        cert_file: str,
        key_file: str,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        kid: str = "ops-1",
        client_id: str = "ops-centre",
        ack_interval_s: float | None = 0.2,
    ) -> None:
        self.signing_key = signing_key
        self.kid = kid
        self.devices: dict[str, DeviceLog] = defaultdict(DeviceLog)
        self.invalid: list[str] = []
        self.received = 0
        self.latencies: list[float] = []  # s from the message's stamp to its first arrival
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.tls_set(
            ca_certs=ca_file, certfile=cert_file, keyfile=key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT
        )
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(1, 1)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._host, self._port = host, port
        self._ack_interval = ack_interval_s
        self._stop = threading.Event()
        self._acker: threading.Thread | None = None
        self.acks_sent = 0

    def start(self, timeout_s: float = 10.0) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self._client.connect_async(self._host, self._port, keepalive=5, clean_start=False, properties=props)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            raise TimeoutError("operations centre could not connect to the broker")
        if self._ack_interval is not None and self.signing_key is not None:
            self._acker = threading.Thread(target=self._ack_loop, name="ops-acker", daemon=True)
            self._acker.start()

    def _ack_loop(self) -> None:
        assert self._ack_interval is not None
        while not self._stop.wait(self._ack_interval):
            if not self._connected.is_set():
                continue
            with self._cond:
                due = []
                for log in self.devices.values():
                    if log.identity is not None and log.to_ack:
                        due.append((log.identity, log.epoch, seq_ranges(log.to_ack)[:256]))
                        log.to_ack.clear()  # a lost ack only costs a resend, which is acked again
            for ident, epoch, ranges in due:
                try:
                    self.command(ident, "uplink_ack", {"epoch": epoch, "ranges": ranges}, lifetime_s=30.0)
                    self.acks_sent += 1
                except RuntimeError:  # connection lost while sending: the device resends, we ack again
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._acker is not None:
            self._acker.join(5.0)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if not rc.is_failure:
            client.subscribe(f"{ROOT}/{VERSION}/+/+/+/up/#", qos=1)
            self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, _rc: ReasonCode, _p: object) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        parsed = parse_uplink_topic(msg.topic)
        with self._cond:
            self.received += 1
            if parsed is None:
                self.invalid.append(f"topic {msg.topic}")
            elif parsed[3] == "online":
                self.devices[parsed[2]].online = bytes(msg.payload)
            else:
                try:
                    doc = json.loads(msg.payload)
                except ValueError:
                    doc = None
                problem = check_uplink(doc)
                if problem is not None or doc["device"] != parsed[2] or doc["stream"] != parsed[3]:
                    self.invalid.append(f"{msg.topic}: {problem or 'topic/payload mismatch'}")
                else:
                    log = self.devices[doc["device"]]
                    if log.identity is None:
                        log.identity = DeviceIdentity(doc["fleet"], doc["site"], doc["device"])
                    if doc["epoch"] != log.epoch:
                        log.epoch = doc["epoch"]
                        log.to_ack.clear()
                    log.to_ack.add(doc["seq"])
                    if doc["seq"] in log.messages:
                        log.duplicates += 1
                    else:
                        log.messages[doc["seq"]] = doc
                        log.first_seen.append(doc["seq"])
                        self.latencies.append(time.time() - float(doc["stamp"]))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``predicate()`` (evaluated under the lock) holds."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def command(
        self,
        device: DeviceIdentity,
        command: str,
        data: Mapping[str, Any],
        lifetime_s: float = 60.0,
        command_id: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign and publish a command; returns its command_id. ``overrides`` replace payload fields."""
        if self.signing_key is None:
            raise ValueError("this operations centre has no signing key")
        now = time.time()
        cid = command_id or uuid.uuid4().hex
        payload: dict[str, Any] = {
            "schema": SCHEMA,
            "command": command,
            "command_id": cid,
            "target": device.device,
            "issued_at": now,
            "expires_at": now + lifetime_s,
            "data": dict(data),
        }
        payload.update(overrides or {})
        self.send_raw(device.down(command), sign_command(self.signing_key, self.kid, payload))
        return cid

    def send_raw(self, topic: str, raw: bytes) -> None:
        info = self._client.publish(topic, raw, qos=1)
        if self._connected.is_set():
            # not connected (any more): paho sends it after the reconnect
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(10.0)

    def acks(self, device: str) -> list[dict[str, Any]]:
        with self._cond:
            return [m["data"] for m in self.devices[device].by_stream("ack")]
