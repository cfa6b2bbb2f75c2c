"""The edge end of the cloud link: store-and-forward uplink, verified downlink, over MQTT 5.

Threads: paho's network thread only moves packets and appends events (PUBACKs, commands,
connection changes) to a deque; one worker thread owns the queue pump, command verification and
the command callback. (paho calls ``on_publish`` holding its outgoing-message lock, so the
callback must not wait for anything that ``publish`` might also need.)

Delivery semantics (stated, and what the tests check):

* Uplink is QoS 1, **at least once**: a message leaves the SQLite queue only after the broker's
  PUBACK. After a reconnect paho resends the messages still unacknowledged (flag DUP), so the
  cloud can see a message twice; never zero times unless the bounded queue had to drop it
  (counted, visible as a gap in ``seq``). Consumers deduplicate on ``msg_id`` =
  ``<device>:<epoch>:<seq>``.
* Order: messages are handed to the broker in ``seq`` order and resent in that order, so the
  first copy of each message arrives in order.
* Downlink commands are QoS 1 on a persistent session (session expiry ``session_expiry_s``), so
  a command published while the device is offline is delivered when it returns, unless it has
  expired by then (the verifier refuses expired commands; ``command_id`` replay is refused).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from roadedge.cloud.auth import Command, CommandVerifier, Rejection
from roadedge.cloud.layout import UPLINK_STREAMS, DeviceIdentity
from roadedge.cloud.queue import Entry, StoreAndForwardQueue
from roadedge.cloud.schema import SCHEMA, check_uplink_data

_LOG = logging.getLogger("roadedge.cloud")

#: Streams whose messages a newer one supersedes: thinned under backpressure, dropped first when full.
DROPPABLE_STREAMS = frozenset({"state", "diag", "signal", "rsm"})

CommandStatus = Literal["accepted", "rejected", "failed"]


@dataclass(frozen=True)
class CommandResult:
    """What the vehicle/roadside interface made of a verified command."""

    status: CommandStatus
    reason: str = ""


CommandHandler = Callable[[Command], CommandResult]


@dataclass(frozen=True)
class LinkConfig:
    host: str = "127.0.0.1"
    port: int = 8883
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls: bool = True
    keepalive_s: int = 10
    session_expiry_s: int = 86400
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    window: int = 20  # uplink messages in flight (unacknowledged) at most


@dataclass(frozen=True)
class BackpressureConfig:
    high_watermark: float = 0.5  # queue fill above which droppable streams are thinned
    keep_one_in: int = 10  # while thinned, keep one droppable message in this many


@dataclass
class BridgeStats:
    connected: bool = False
    connects: int = 0
    disconnects: int = 0
    queue_size: int = 0
    queue_capacity: int = 0
    inflight: int = 0
    delivered: int = 0
    enqueued: int = 0
    thinned: int = 0
    refused_by_broker: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    invalid_uplink: dict[str, int] = field(default_factory=dict)
    commands_accepted: int = 0
    commands_rejected: int = 0
    commands_failed: int = 0
    acks_suppressed: int = 0
    last_rejection: str = ""


class CloudBridge:
    """One device's link. ``publish`` may be called from any thread."""

    def __init__(
        self,
        identity: DeviceIdentity,
        link: LinkConfig,
        queue: StoreAndForwardQueue,
        verifier: CommandVerifier,
        on_command: CommandHandler | None = None,
        backpressure: BackpressureConfig = BackpressureConfig(),
        clock: Callable[[], float] = time.time,
        reject_acks_per_10s: int = 10,
    ) -> None:
        self.identity = identity
        self.link = link
        self.queue = queue
        self._verifier = verifier
        self._on_command = on_command
        self._bp = backpressure
        self._clock = clock
        self._events: deque[tuple[str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # stats and thinning counters
        self._inflight: dict[int, int] = {}  # paho mid -> seq (worker thread only)
        self._last_handed = 0  # highest seq handed to paho by this process
        self._connected = False
        self._stats = BridgeStats(queue_capacity=queue.capacity)
        self._thin_count = 0
        self._invalid: Counter[str] = Counter()
        self._reject_budget: deque[float] = deque()
        self._reject_limit = reject_acks_per_10s
        self._worker: threading.Thread | None = None
        self._client = self._make_client()

    # ---------------------------------------------------------------- MQTT plumbing
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.identity.device,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        if self.link.tls:
            client.tls_set(
                ca_certs=self.link.ca_file,
                certfile=self.link.cert_file,
                keyfile=self.link.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(self.link.window)
        low = max(1, int(self.link.reconnect_min_s))
        client.reconnect_delay_set(low, max(low, int(self.link.reconnect_max_s)))
        client.will_set(self.identity.online_topic, b"0", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            _LOG.warning("cloud broker refused the connection: %s", reason)
            return
        client.subscribe(self.identity.down_filter, qos=1)
        client.publish(self.identity.online_topic, b"1", qos=1, retain=True)
        self._post("connected", None)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: Properties | None
    ) -> None:
        self._post("disconnected", str(reason))

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: Properties | None
    ) -> None:
        self._post("puback", (mid, reason.value))  # paho holds its lock here: only hand over

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self._post("command", (message.topic, bytes(message.payload)))

    def _post(self, kind: str, value: Any) -> None:
        self._events.append((kind, value))
        self._wake.set()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._worker is not None:
            return
        self._stop.clear()
        self._worker = threading.Thread(target=self._run, name=f"cloud-{self.identity.device}", daemon=True)
        self._worker.start()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.link.session_expiry_s
        link = self.link
        self._client.connect_async(
            link.host, link.port, keepalive=link.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Disconnect cleanly (online=0); unacknowledged messages stay queued on disk."""
        if self._worker is None:
            return
        if self._connected:
            info = self._client.publish(self.identity.online_topic, b"0", qos=1, retain=True)
            deadline = time.monotonic() + timeout_s
            while not info.is_published() and time.monotonic() < deadline and self._connected:
                time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout_s)
        self._worker = None

    # ---------------------------------------------------------------- uplink API
    def publish(self, stream: str, data: Mapping[str, Any], stamp: float | None = None) -> int | None:
        """Queue one uplink message; returns its seq, or None if invalid or thinned."""
        if stream not in UPLINK_STREAMS[self.identity.profile]:
            self._invalid_uplink(stream, f"not an uplink stream of a {self.identity.profile}")
            return None
        problem = check_uplink_data(stream, data)
        if problem is not None:
            self._invalid_uplink(stream, problem)
            return None
        try:
            text = json.dumps(data, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError) as exc:
            self._invalid_uplink(stream, str(exc))
            return None
        droppable = stream in DROPPABLE_STREAMS
        if droppable and self.queue.fill >= self._bp.high_watermark:
            with self._lock:
                self._thin_count += 1
                if self._thin_count % self._bp.keep_one_in != 0:
                    self._stats.thinned += 1
                    return None
        seq = self.queue.put(stream, self._clock() if stamp is None else stamp, text, droppable)
        with self._lock:
            self._stats.enqueued += 1
        self._wake.set()
        return seq

    def _invalid_uplink(self, stream: str, problem: str) -> None:
        with self._lock:
            self._invalid[stream] += 1
            first = self._invalid[stream] == 1
        if first:
            _LOG.warning("invalid %s uplink dropped (first of its kind): %s", stream, problem)
        return None

    def envelope(self, entry: Entry) -> bytes:
        """The wire form of a queued message (deterministic: a resend is byte-identical)."""
        ident = self.identity
        head = json.dumps(
            {
                "schema": SCHEMA,
                "stream": entry.stream,
                "fleet": ident.fleet,
                "site": ident.site,
                "device": ident.device,
                "epoch": self.queue.epoch,
                "seq": entry.seq,
                "msg_id": f"{ident.device}:{self.queue.epoch}:{entry.seq}",
                "stamp": round(entry.stamp, 6),
            },
            separators=(",", ":"),
        )
        return f'{head[:-1]},"data":{entry.data}}}'.encode()

    def stats(self) -> BridgeStats:
        with self._lock:
            s = BridgeStats(**{k: getattr(self._stats, k) for k in self._stats.__dataclass_fields__})
            s.invalid_uplink = dict(self._invalid)
        s.connected = self._connected
        s.queue_size = len(self.queue)
        s.inflight = len(self._inflight)
        s.dropped = dict(self.queue.dropped)
        return s

    # ---------------------------------------------------------------- worker
    def _run(self) -> None:
        last_gc = 0.0
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            while self._events:
                kind, value = self._events.popleft()
                try:
                    self._handle(kind, value)
                except Exception:  # never let one bad event stop the link
                    _LOG.exception("cloud bridge: error handling %s", kind)
            try:
                self._pump()
            except Exception:
                _LOG.exception("cloud bridge: error sending")
            now = time.monotonic()
            if now - last_gc > 60.0:
                last_gc = now
                self.queue.forget_expired(self._clock())

    def _handle(self, kind: str, value: Any) -> None:
        if kind == "connected":
            self._connected = True
            with self._lock:
                self._stats.connects += 1
        elif kind == "disconnected":
            if self._connected:
                with self._lock:
                    self._stats.disconnects += 1
            self._connected = False
        elif kind == "puback":
            mid, code = value
            seq = self._inflight.pop(mid, None)
            if seq is None:
                return  # online flag or a foreign mid
            self.queue.ack(seq)
            with self._lock:
                if code >= 0x80:  # the broker refused it (e.g. not authorised): resending cannot help
                    self._stats.refused_by_broker += 1
                else:
                    self._stats.delivered += 1
            if code >= 0x80:
                _LOG.warning("broker refused uplink seq %d (reason code 0x%02x)", seq, code)
        elif kind == "command":
            topic, raw = value
            self._command(topic, raw)

    def _pump(self) -> None:
        if not self._connected:
            return
        room = self.link.window - len(self._inflight)
        while room > 0:
            entries = self.queue.peek(self._last_handed, room)
            if not entries:
                return
            for entry in entries:
                info = self._client.publish(self.identity.up(entry.stream), self.envelope(entry), qos=1)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    return  # paho refused (queue size): retry later from the same seq
                self._inflight[info.mid] = entry.seq
                self._last_handed = entry.seq
                room -= 1

    def _command(self, topic: str, raw: bytes) -> None:
        verdict = self._verifier.verify(self.identity.command_of(topic), raw)
        if isinstance(verdict, Rejection):
            with self._lock:
                self._stats.commands_rejected += 1
                self._stats.last_rejection = verdict.reason
            _LOG.warning("cloud command rejected: %s", verdict.reason)
            now = time.monotonic()
            while self._reject_budget and now - self._reject_budget[0] > 10.0:
                self._reject_budget.popleft()
            if len(self._reject_budget) >= self._reject_limit:
                with self._lock:
                    self._stats.acks_suppressed += 1
                return
            self._reject_budget.append(now)
            self._ack(verdict.command_id, verdict.command, "rejected", verdict.reason, verdict.digest)
            return
        if self._on_command is None:
            result = CommandResult("failed", "no command handler on this device")
        else:
            try:
                result = self._on_command(verdict)
            except Exception as exc:
                _LOG.exception("cloud command handler failed")
                result = CommandResult("failed", f"handler error: {type(exc).__name__}")
        with self._lock:
            if result.status == "accepted":
                self._stats.commands_accepted += 1
            elif result.status == "rejected":
                self._stats.commands_rejected += 1
                self._stats.last_rejection = result.reason
            else:
                self._stats.commands_failed += 1
        self._ack(verdict.command_id, verdict.command, result.status, result.reason, verdict.digest)

    def _ack(self, cid: str | None, command: str | None, status: str, reason: str, dg: str) -> None:
        data = {"command_id": cid, "command": command, "status": status, "reason": reason[:256], "digest": dg}
        self.publish("ack", data)
