"""GNSS receiver driver (lifecycle): NMEA over a serial port, pty or URL, or a log replay.

Publishes sensing/gnss/fix (sensor_msgs/NavSatFix with covariance from fix quality and
GST), sensing/gnss/vel (speed and course over ground of RMC/VTG as the antenna's velocity,
ENU components: linear.x east, linear.y north, with covariance) and sensing/gnss/time_reference
(the fix's UTC time, stamped with the host time it corresponds to). With ``stamp_source:
receiver`` (default) a fix is stamped with the time it is valid for: its GGA/RMC UTC time mapped
to the node clock by a robust offset estimate (roadedge.localization.gnss_time); ``arrival``
stamps it when it was read (so does a replay faster or slower than real time). Writes RTCM 3
corrections from sensing/gnss/rtcm or a file/FIFO to the receiver. The logic lives in
roadedge.localization.receiver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import TwistWithCovarianceStamped
from sensor_msgs.msg import NavSatFix, NavSatStatus, TimeReference
from std_msgs.msg import UInt8MultiArray

from roadedge import topics
from roadedge.config import param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.localization.gnss import GnssFix
from roadedge.localization.gnss_time import GnssClockOffset
from roadedge.localization.receiver import GnssReceiver
from roadedge.ros.node import RoadedgeLifecycleNode, make_main


@dataclass(frozen=True)
class GnssReceiverConfig:
    port: str = param("/dev/ttyUSB0", help="serial device, pty link or pyserial URL (socket://host:port)")
    baudrate: int = param(115200, help="serial baud rate", low=1200, high=4000000)
    replay_file: str = param("", help="NMEA log to replay instead of a port (epochs paced by their UTC time)")
    replay_rate: float = param(1.0, help="replay speed, times real time", low=0.01, high=100.0)
    replay_loop: bool = param(False, help="restart the replay at the end of the log")
    replay_wait_subscribers: int = param(
        0, help="start the replay once the fix topic has this many subscribers", low=0
    )
    frame_id: str = param("gnss_antenna", help="frame of the fixes (the antenna)")
    time_source: str = param("gnss", help="TimeReference source")
    stamp_source: str = param(
        "receiver",
        help="receiver: stamp fixes with their UTC time mapped to the node clock; arrival: when read",
        choices=("receiver", "arrival"),
    )
    max_transport_delay: float = param(
        0.5, help="s, longest receiver -> node delay; later fixes are stamped on arrival", low=0.01, high=5.0
    )
    receiver_latency: float = param(
        0.0, help="s, known fixed latency (epoch -> first byte, e.g. measured with PPS)", low=0.0, high=1.0
    )
    velocity_sigma: float = param(
        0.05, help="m/s, 1 sigma per axis of the receiver's Doppler velocity (sensing/gnss/vel)", low=0.001
    )
    offset_window: float = param(10.0, help="s of fixes over which the clock offset is estimated", low=1.0)
    rtcm_file: str = param("", help="file or FIFO of RTCM 3 corrections to write to the receiver")
    poll_period: float = param(0.005, help="s between reads of the port", low=0.001, high=0.1)
    reconnect_period: float = param(1.0, help="s between attempts to reopen the port", low=0.05)
    quiet_flush: float = param(0.03, help="s of silence that closes an incomplete epoch", low=0.005)
    require_checksum: bool = param(True, help="drop sentences without a checksum")
    fix_timeout: float = param(1.0, help="s without a valid fix before the diagnostic warns", low=0.1)


def to_time_msg(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=min(round((seconds - sec) * 1e9), 999_999_999))


def navsat_fix(fix: GnssFix, stamp: Any, frame_id: str) -> NavSatFix:
    msg = NavSatFix()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.status = NavSatStatus(status=fix.status, service=fix.service)
    msg.latitude = fix.latitude
    msg.longitude = fix.longitude
    msg.altitude = fix.altitude
    msg.position_covariance = [float(v) for v in fix.covariance]
    msg.position_covariance_type = fix.covariance_type
    return msg


class GnssReceiverNode(RoadedgeLifecycleNode[GnssReceiverConfig]):
    Schema = GnssReceiverConfig
    default_name = "gnss_receiver"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.receiver: GnssReceiver | None = None
        self.events = EventCounter()
        self._seen: dict[str, int] = {}
        self._last_fix: GnssFix | None = None
        self._last_fix_time: float | None = None
        self._fix_pub = self.publisher(topics.GNSS_FIX)
        self._time_pub = self.publisher(topics.GNSS_TIME)
        self._vel_pub = self.publisher(topics.GNSS_VEL)
        self.subscription(topics.GNSS_RTCM, self._on_rtcm, UInt8MultiArray)
        self._timer: Any = None
        c = self.config
        self.clock = GnssClockOffset(
            window=c.offset_window, max_delay=c.max_transport_delay, latency=c.receiver_latency
        )
        self.health.add("receiver", self._health)

    # ---- lifecycle
    def open_device(self) -> bool:
        c = self.config
        try:
            self.receiver = GnssReceiver(
                port=c.port,
                baudrate=c.baudrate,
                replay_file=c.replay_file,
                replay_rate=c.replay_rate,
                replay_loop=c.replay_loop,
                reconnect_period=c.reconnect_period,
                quiet_flush=c.quiet_flush,
                require_checksum=c.require_checksum,
                rtcm_file=c.rtcm_file,
            )
        except (ValueError, OSError) as exc:
            self.get_logger().error(f"cannot configure the GNSS receiver: {exc}")
            return False
        if self.receiver.link is not None and not self.receiver.link.ensure_open(self.now_s()):
            # Not fatal: the receiver may be plugged in later; the link keeps retrying.
            self.get_logger().warning(f"GNSS port not open yet: {self.receiver.link.last_error}")
        return True

    def close_device(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
            self.receiver = None

    def start_output(self) -> None:
        if self._timer is None:
            self._timer = self.create_timer(self.config.poll_period, self._poll)

    def stop_output(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self.destroy_timer(self._timer)
            self._timer = None

    # ---- data
    def _poll(self) -> None:
        rx = self.receiver
        if rx is None:
            return
        now = self.now_s()
        if (
            rx.replay is not None
            and not rx.replay.started
            and self._fix_pub.get_subscription_count() < self.config.replay_wait_subscribers
        ):
            return
        try:
            fixes = rx.poll(now)
        except Exception as exc:  # never let a receiver bug kill the driver
            self._event("receiver_error", repr(exc))
            return
        self._count_errors(rx)
        for fix in fixes:
            gnss_time = self.clock.fix_time(fix.utc, fix.utc_time, fix.receive_time)
            # A replay faster or slower than real time runs the log's clock at another rate: arrival.
            rescaled = rx.replay is not None and self.config.replay_rate != 1.0
            valid_for = None if rescaled else self.clock.stamp(gnss_time, fix.receive_time)
            if valid_for is None and gnss_time is not None and not rescaled:
                self._event(
                    "gnss_time_rejected", f"fix time {gnss_time:.3f} vs arrival {fix.receive_time:.3f}"
                )
            use_receiver = self.config.stamp_source == "receiver" and valid_for is not None
            stamp = to_time_msg(valid_for if use_receiver and valid_for is not None else fix.receive_time)
            self._fix_pub.publish(navsat_fix(fix, stamp, self.config.frame_id))
            if fix.valid and fix.speed is not None and fix.course is not None:
                self._vel_pub.publish(self._velocity(fix.speed, fix.course, stamp))
            if gnss_time is not None:
                ref = TimeReference()
                ref.header.stamp = to_time_msg(valid_for if valid_for is not None else fix.receive_time)
                ref.header.frame_id = self.config.frame_id
                ref.time_ref = to_time_msg(gnss_time)
                ref.source = self.config.time_source
                self._time_pub.publish(ref)
            if fix.valid:
                self._last_fix, self._last_fix_time = fix, now

    def _velocity(self, speed: float, course_deg: float, stamp: Any) -> TwistWithCovarianceStamped:
        msg = TwistWithCovarianceStamped()
        msg.header.stamp = stamp
        msg.header.frame_id = self.config.frame_id
        course = math.radians(course_deg)  # clockwise from true north
        msg.twist.twist.linear.x = speed * math.sin(course)
        msg.twist.twist.linear.y = speed * math.cos(course)
        var = self.config.velocity_sigma**2
        cov = [0.0] * 36
        cov[0] = cov[7] = var
        cov[14] = 4.0 * var
        cov[21] = cov[28] = cov[35] = -1.0  # angular velocity: not measured
        msg.twist.covariance = cov
        return msg

    def _on_rtcm(self, msg: UInt8MultiArray) -> None:
        if self.receiver is None or not self.active:
            return
        self.receiver.send_rtcm(bytes(msg.data), self.now_s())

    def _count_errors(self, rx: GnssReceiver) -> None:
        counters = rx.counters()
        for key in (
            "nmea_checksum_errors",
            "nmea_parse_errors",
            "nmea_overlong_lines",
            "rtcm_crc_errors",
            "link_disconnects",
            "link_open_failures",
        ):
            value = counters.get(key, 0)
            if value > self._seen.get(key, 0):
                detail = rx.parser.last_error if key.startswith("nmea") else ""
                if key.startswith("link") and rx.link is not None:
                    detail = rx.link.last_error
                self._event(key, detail)
            self._seen[key] = value

    def _event(self, kind: str, detail: str) -> None:
        text = self.events.record(kind, detail)
        if text:
            self.get_logger().warning(text)

    def _health(self) -> Health:
        rx = self.receiver
        if rx is None:
            return Health(Level.ERROR, "not configured")
        values = {k: str(v) for k, v in rx.counters().items()}
        values.update({f"time_{k}": str(v) for k, v in self.clock.counters.as_dict().items()})
        values["stamp_source"] = self.config.stamp_source
        offset = self.clock.offset
        values["clock_offset_s"] = "unknown" if offset is None else f"{offset:.4f}"
        fix = self._last_fix
        if fix is not None:
            values.update(
                quality=fix.quality.name,
                satellites=str(fix.num_satellites),
                hdop=f"{fix.hdop:.2f}",
                sigma_h_m=f"{fix.horizontal_sigma:.3f}",
            )
        if rx.link is not None and not rx.link.connected:
            return Health(Level.ERROR, f"port disconnected: {rx.link.last_error}", values)
        if rx.replay is not None and rx.replay.finished:
            return Health(Level.OK, "replay finished", values)
        if self._last_fix_time is None or self.now_s() - self._last_fix_time > self.config.fix_timeout:
            return Health(Level.WARN, "no valid fix", values)
        return Health(Level.OK, f"fix {fix.quality.name if fix else ''}", values)


NODE = GnssReceiverNode
main = make_main(NODE)
