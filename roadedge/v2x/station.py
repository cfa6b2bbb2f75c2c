"""A V2X station (OBU or RSU) without ROS: radio link, security, receive/transmit pipelines, health.

The nodes ``v2x_obu`` and ``v2x_rsu`` wrap this: they turn :class:`Received` into typed
topics and hand typed messages to :meth:`V2xStation.transmit`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadedge.config import param
from roadedge.diagnostics import EventCounter, Health, Level, RateMeter
from roadedge.profiles import CONFIG_DIR
from roadedge.v2x import codec
from roadedge.v2x.pipeline import Ingest, Outgo, Received
from roadedge.v2x.relevance import VERIFY_MODES, Relevance, RelevancePolicy
from roadedge.v2x.security import (
    POLICIES,
    Certificate,
    SecurityPolicy,
    Signer,
    TrustStore,
    Verifier,
    load_key,
)
from roadedge.v2x.transport import RadioLink

#: Rejection kinds that are decode failures (the rest are security rejections).
DECODE_FAILURES = ("oversized", "truncated", "decode_error", "unsupported_frame", "convert_error")


@dataclass(frozen=True)
class StationParams:
    """Parameters every V2X node has (the node schemas extend this)."""

    bind_host: str = param("127.0.0.1", help="local address the radio sends received frames to")
    bind_port: int = param(47201, help="local UDP port for frames from the radio", low=0, high=65535)
    radio_host: str = param("127.0.0.1", help="address of the C-V2X radio (PC5 module)")
    radio_port: int = param(47101, help="UDP port of the radio for frames to transmit", low=1, high=65535)
    security_policy: str = param("enforce", help="enforce | accept_unsigned | disabled", choices=POLICIES)
    trust_dir: str = param("v2x/trust", help="folder of trusted *.cert (relative: under config/)")
    cert_file: str = param("", help="own signing certificate (relative: under config/); empty: send unsigned")
    key_file: str = param("", help="private key of cert_file (PKCS#8 PEM)")
    cert_interval: float = param(1.0, help="s between frames carrying the full certificate", low=0.0)
    max_age: float = param(2.0, help="s, older generation times are rejected", low=0.01)
    future_tolerance: float = param(0.5, help="s, generation times further ahead are rejected", low=0.0)
    max_frame_bytes: int = param(codec.MAX_FRAME_BYTES, help="larger frames are dropped", low=64, high=65507)
    verify: str = param(
        "all",
        help="all: verify every signed frame; on_demand: verify only relevant ones (MAP/SPAT/RSI/RSM, "
        "BSMs with events or emergency/work extensions, BSMs within relevance_radius), publish the rest "
        "marked unverified (security_verdict 3)",
        choices=VERIFY_MODES,
    )
    relevance_radius: float = param(
        300.0, help="m; on_demand verifies BSMs from within this distance", low=0.0
    )
    bsm_array: bool = param(
        False,
        help="dense traffic: publish the BSMs of one receive burst as one roadedge_msgs/BsmArray on "
        "v2x/rx/bsm_array instead of one Bsm each on v2x/rx/bsm (one DDS write per burst)",
    )
    burst_max: int = param(
        64,
        help="frames taken from the radio socket per burst (bounds a BsmArray and its wait)",
        low=1,
        high=1000,
    )


def config_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else CONFIG_DIR / path


class V2xStation:
    def __init__(self, params: StationParams, clock: Callable[[], float] = time.time) -> None:
        self.params = params
        self.clock = clock
        self.counter = EventCounter()
        self.lock = threading.Lock()
        self.link: RadioLink | None = None
        self.rx_rate: dict[str, RateMeter] = {}
        self.tx_rate: dict[str, RateMeter] = {}
        self.rx_total = RateMeter()
        self.tx_total = RateMeter()
        self._reported_rejections = 0
        policy = SecurityPolicy(
            mode=params.security_policy, max_age_s=params.max_age, future_tolerance_s=params.future_tolerance
        )
        trust = None
        if params.security_policy != "disabled":
            trust = TrustStore.from_dir(config_path(params.trust_dir), clock())
        signer = None
        if params.cert_file:
            cert = Certificate.load(config_path(params.cert_file))
            signer = Signer(load_key(config_path(params.key_file)), cert, params.cert_interval)
        self.signer = signer
        self.relevance: Relevance | None = None
        if params.verify == "on_demand":
            self.relevance = Relevance(RelevancePolicy(radius_m=params.relevance_radius))
        self.ingest = Ingest(Verifier(trust, policy, self.counter), params.max_frame_bytes, self.relevance)
        self.outgo = Outgo(signer, policy)
        self.outgo.counter = self.counter

    # ------------------------------------------------------------------ link
    def open(self) -> None:
        p = self.params
        self.link = RadioLink(p.bind_host, p.bind_port, p.radio_host, p.radio_port)

    def start(
        self,
        on_received: Callable[[Received], None],
        on_log: Callable[[str], None],
        on_burst_end: Callable[[], None] | None = None,
    ) -> None:
        """Receive in a background thread, burst by burst (at most ``burst_max`` frames drained from the
        radio socket at a time, through :meth:`Ingest.burst`): every good frame calls ``on_received``,
        in order, then ``on_burst_end`` is called (a node publishing a burst's BSMs together flushes)."""
        assert self.link is not None
        lock = self.lock
        ingest = self.ingest
        clock = self.clock
        rx_total = self.rx_total
        rx_rate = self.rx_rate

        def handle(frames: list[bytes]) -> None:
            with lock:
                for _ in frames:
                    rx_total.tick()
                received, logs = ingest.burst(frames, clock())
                for item in received:
                    meter = rx_rate.get(item.kind)
                    if meter is None:
                        meter = rx_rate[item.kind] = RateMeter()
                    meter.tick()
            for log in logs:
                with contextlib.suppress(Exception):
                    on_log(log)
            for item in received:
                with contextlib.suppress(Exception):
                    on_received(item)
            if on_burst_end is not None:
                on_burst_end()

        self.link.start_bursts(handle, self.params.burst_max)

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def set_own_position(self, latitude: float, longitude: float) -> None:
        """Degrees; the centre of the relevance radius of verify on demand (no effect under verify all)."""
        if self.relevance is not None:
            with self.lock:
                self.relevance.set_own_position(latitude, longitude)

    def handle_frame(self, frame: bytes) -> Received | None:
        """Synchronous receive of one frame (tests, replay)."""
        with self.lock:
            return self.ingest(frame, self.clock())

    def transmit(self, msg: Any) -> bool:
        if self.link is None:
            return False
        with self.lock:
            frame = self.outgo(msg, self.clock())
        if frame is None:
            return False
        ok = self.link.send(frame)
        if ok:
            with self.lock:
                kind = type(msg).__name__.lower()
                self.tx_rate.setdefault(kind, RateMeter()).tick()
                self.tx_total.tick()
        return ok

    # ------------------------------------------------------------------ health
    def health(self) -> Health:
        with self.lock:
            counts = dict(self.counter.counts)
            values = {
                "rx_rate_hz": f"{self.rx_total.rate():.1f}",
                "tx_rate_hz": f"{self.tx_total.rate():.1f}",
                "rx_frames": str(self.ingest.stats.frames),
                "verify": self.params.verify,
                "rx_unverified_on_demand": str(self.ingest.stats.unverified),
                **{f"rx_{k}_hz": f"{m.rate():.1f}" for k, m in sorted(self.rx_rate.items())},
                **{f"tx_{k}_hz": f"{m.rate():.1f}" for k, m in sorted(self.tx_rate.items())},
                **{f"accepted_{k}": str(v) for k, v in sorted(self.ingest.stats.accepted.items())},
            }
        decode = sum(v for k, v in counts.items() if k in DECODE_FAILURES)
        rejected = sum(v for k, v in counts.items() if k not in DECODE_FAILURES and k != "encode_error")
        values["decode_failures"] = str(decode)
        values["security_rejections"] = str(rejected)
        values.update({f"dropped_{k}": str(v) for k, v in sorted(counts.items())})
        total = decode + rejected
        new = total - self._reported_rejections
        self._reported_rejections = total
        if self.link is None:
            return Health(Level.ERROR, "radio link closed", values)
        if new > 0:
            return Health(Level.WARN, f"{new} frames dropped since last report", values)
        return Health(Level.OK, "ok", values)
