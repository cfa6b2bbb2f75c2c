"""The edge end of the cloud link: store-and-forward uplink, verified downlink, over MQTT 5.

Threads: paho's network thread only moves packets and appends events (PUBACKs, commands,
connection changes) to a deque; one worker thread owns the connection, the queue pump, command
verification and the command callback. (paho calls ``on_publish`` holding its outgoing-message
lock, so the callback must not wait for anything that ``publish`` might also need.) Each
connection uses a fresh paho client (same client id, persistent session): after a reconnect the
bridge, not paho, resends, from the oldest message still queued, so the order is kept.

Delivery semantics (stated, and what the tests check):

* Uplink is QoS 1, **at least once**. With ``delivery="cloud"`` (default) a message leaves the
  SQLite queue only when the operations centre acknowledges it end to end (signed downlink
  ``uplink_ack`` carrying the seq ranges it holds); a broker crash that loses messages it had
  already PUBACKed, or a broker that had no subscriber for them, therefore loses nothing: when
  no acknowledgement has come for ``cloud_ack_timeout_s`` the bridge resends what is still
  queued (go-back-N, the timeout doubling while the cloud stays silent). With
  ``delivery="broker"`` the PUBACK deletes it (for clouds that do not send ``uplink_ack``; a
  broker crash can then lose what the broker held in memory).
  After a reconnect everything not yet acknowledged is resent, so the cloud can see a message
  more than once (at most what was unacknowledged at that moment); never zero times, unless
  the bounded queue had to drop it (counted, and visible as a gap in ``seq``). Consumers
  deduplicate on ``msg_id`` = ``<device>:<epoch>:<seq>``.
* Order: messages are sent, and resent, in ``seq`` order, so the first copy of each message
  arrives in order as long as the broker loses none between PUBACK and the consumer (a consumer
  with a persistent session, on a broker that persisted it). When a go-back-N resend fills a hole
  (broker crash before it saved the consumer's session), the hole arrives late: order by ``seq``.
* Downlink commands are QoS 1 on a persistent session (session expiry ``session_expiry_s``), so
  a command published while the device is offline is delivered when it returns, unless it has
  expired by then (the verifier refuses expired commands; ``command_id`` replay is refused).
  The bridge counts as connected, and announces itself online, only once the broker has
  acknowledged the command subscription, so that the first session misses no command either.
"""

from __future__ import annotations

import json
import logging
import random
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
    window: int = 20  # uplink messages in flight to the broker (no PUBACK yet) at most
    delivery: Literal["cloud", "broker"] = "cloud"  # which acknowledgement removes a message
    cloud_ack_timeout_s: float = 10.0  # resend what is queued after this long without an uplink_ack


@dataclass(frozen=True)
class BackpressureConfig:
    high_watermark: float = 0.5  # queue fill above which droppable streams are thinned
    keep_one_in: int = 10  # while thinned, keep one droppable message in this many


@dataclass
class BridgeStats:
    connected: bool = False
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    queue_size: int = 0
    queue_capacity: int = 0
    inflight: int = 0
    broker_acked: int = 0  # PUBACKs
    cloud_acked: int = 0  # messages confirmed by the operations centre (delivery="cloud")
    resends: int = 0  # go-back-N rounds after a silent cloud
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
        self._events: deque[tuple[int, str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # stats and thinning counters
        self._inflight: dict[int, int] = {}  # paho mid -> seq (worker thread only)
        self._last_handed = 0  # highest seq handed to the current connection
        self._gen = 0  # connection generation: events of an older client are stale
        self._client: mqtt.Client | None = None
        self._next_open = 0.0  # monotonic time of the next connection attempt
        self._delay = link.reconnect_min_s
        self._ack_deadline = 0.0  # monotonic: resend what is queued if no uplink_ack by then
        self._ack_timeout = link.cloud_ack_timeout_s
        self._rng = random.Random()
        self._connected = False
        self._stats = BridgeStats(queue_capacity=queue.capacity)
        self._thin_count = 0
        self._invalid: Counter[str] = Counter()
        self._reject_budget: deque[float] = deque()
        self._reject_limit = reject_acks_per_10s
        self._worker: threading.Thread | None = None

    # ---------------------------------------------------------------- MQTT plumbing
    def _open(self) -> None:
        """A fresh paho client for a new connection (first connect retried by paho with backoff)."""
        self._gen += 1
        gen = self._gen
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.identity.device,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,  # a lost connection ends this client; _run opens the next
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
        down_filter, online = self.identity.down_filter, self.identity.online_topic

        def on_connect(c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
            if reason.is_failure:
                _LOG.warning("cloud broker refused the connection: %s", reason)
                return
            c.subscribe(down_filter, qos=1)

        def on_subscribe(
            c: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode], _p: object
        ) -> None:
            # Ready only once the broker has the command subscription: a command the operations centre
            # sends after seeing "online" is then routed to this session, never dropped for want of it.
            refused = [r for r in reasons if r.is_failure]
            if refused:
                _LOG.warning("cloud broker refused the command subscription %s: %s", down_filter, refused[0])
            c.publish(online, b"1", qos=1, retain=True)
            self._post(gen, "connected", None)

        def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
            self._post(gen, "disconnected", str(reason))

        def on_connect_fail(_c: mqtt.Client, _u: object) -> None:
            self._post(gen, "connect_failed", None)

        def on_publish(_c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
            self._post(gen, "puback", (mid, reason.value))  # paho holds its lock here: only hand over

        def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
            self._post(gen, "command", (message.topic, bytes(message.payload)))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.on_connect_fail = on_connect_fail
        client.on_publish = on_publish
        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.link.session_expiry_s
        link = self.link
        client.connect_async(
            link.host, link.port, keepalive=link.keepalive_s, clean_start=False, properties=props
        )
        self._client = client
        client.loop_start()

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _post(self, gen: int, kind: str, value: Any) -> None:
        self._events.append((gen, kind, value))
        self._wake.set()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._worker is not None:
            return
        self._stop.clear()
        self._worker = threading.Thread(target=self._run, name=f"cloud-{self.identity.device}", daemon=True)
        self._worker.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Disconnect cleanly (online=0); unacknowledged messages stay queued on disk."""
        if self._worker is None:
            return
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout_s + 1.0)
        self._worker = None
        client = self._client
        if client is not None and self._connected:
            info = client.publish(self.identity.online_topic, b"0", qos=1, retain=True)
            deadline = time.monotonic() + timeout_s
            while not info.is_published() and time.monotonic() < deadline and client.is_connected():
                time.sleep(0.01)
        self._close()
        self._connected = False

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
    def _schedule_open(self) -> None:
        """Next attempt after the current backoff (doubling, with jitter so a fleet spreads out)."""
        self._close()
        self._next_open = time.monotonic() + self._delay * self._rng.uniform(0.8, 1.2)
        self._delay = min(self._delay * 2.0, self.link.reconnect_max_s)

    def _run(self) -> None:
        last_gc = 0.0
        while not self._stop.is_set():
            if self._client is None:
                now = time.monotonic()
                if now >= self._next_open:
                    self._open()
                else:
                    self._wake.wait(min(0.5, self._next_open - now))
            else:
                self._wake.wait(0.5)
                if self._client is not None and getattr(self._client, "_thread", True) is None:
                    # paho's network thread died without a callback (e.g. select() on a descriptor
                    # >= FD_SETSIZE): treat it as a lost connection
                    self._post(self._gen, "disconnected" if self._connected else "connect_failed", None)
            self._wake.clear()
            while self._events and not self._stop.is_set():
                gen, kind, value = self._events.popleft()
                try:
                    self._handle(gen, kind, value)
                except Exception:  # never let one bad event stop the link
                    _LOG.exception("cloud bridge: error handling %s", kind)
            try:
                self._check_cloud_silence()
                self._pump()
            except Exception:
                _LOG.exception("cloud bridge: error sending")
            now = time.monotonic()
            if now - last_gc > 60.0:
                last_gc = now
                self.queue.forget_expired(self._clock())

    def _handle(self, gen: int, kind: str, value: Any) -> None:
        if kind == "command":  # a command is valid whichever connection brought it
            topic, raw = value
            self._command(topic, raw)
            return
        if gen != self._gen:
            return  # PUBACK or state change of a connection that is gone
        if kind == "connected":
            self._connected = True
            self._delay = self.link.reconnect_min_s
            self._ack_deadline = time.monotonic() + self._ack_timeout
            self._inflight.clear()
            self._last_handed = 0  # resend everything not acknowledged, oldest first
            with self._lock:
                self._stats.connects += 1
        elif kind == "connect_failed":
            with self._lock:
                self._stats.connect_failures += 1
            self._schedule_open()
        elif kind == "disconnected":
            if self._connected:
                with self._lock:
                    self._stats.disconnects += 1
            self._connected = False
            self._inflight.clear()
            self._schedule_open()
        elif kind == "puback":
            mid, code = value
            seq = self._inflight.pop(mid, None)
            if seq is None:
                return  # the online flag
            refused = code >= 0x80  # e.g. not authorised: resending cannot help
            if refused or self.link.delivery == "broker":
                self.queue.ack(seq)
            with self._lock:
                if refused:
                    self._stats.refused_by_broker += 1
                else:
                    self._stats.broker_acked += 1
            if refused:
                _LOG.warning("broker refused uplink seq %d (reason code 0x%02x)", seq, code)

    def _check_cloud_silence(self) -> None:
        """Go back to the oldest queued message when the cloud has acknowledged nothing for a while."""
        if self.link.delivery != "cloud" or not self._connected or self._last_handed == 0:
            return
        now = time.monotonic()
        if now < self._ack_deadline or self._inflight or len(self.queue) == 0:
            return
        self._last_handed = 0
        self._ack_timeout = min(self._ack_timeout * 2.0, 300.0)
        self._ack_deadline = now + self._ack_timeout
        with self._lock:
            self._stats.resends += 1

    def _pump(self) -> None:
        if not self._connected or self._client is None:
            return
        room = self.link.window - len(self._inflight)
        while room > 0:
            entries = self.queue.peek(self._last_handed, room)
            if not entries:
                return
            for entry in entries:
                info = self._client.publish(self.identity.up(entry.stream), self.envelope(entry), qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return  # connection going down: the next connection resends from the oldest
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
        if verdict.command == "uplink_ack":
            self._cloud_ack(verdict.data)
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

    def _cloud_ack(self, data: Mapping[str, Any]) -> None:
        if data["epoch"] != self.queue.epoch:
            return  # an acknowledgement for a previous queue file
        removed = self.queue.ack_ranges([(int(lo), int(hi)) for lo, hi in data["ranges"]])
        if removed:
            self._ack_timeout = self.link.cloud_ack_timeout_s
            self._ack_deadline = time.monotonic() + self._ack_timeout
        with self._lock:
            self._stats.cloud_acked += removed

    def _ack(self, cid: str | None, command: str | None, status: str, reason: str, dg: str) -> None:
        data = {"command_id": cid, "command": command, "status": status, "reason": reason[:256], "digest": dg}
        self.publish("ack", data)
