"""V2X on-board unit: frames from the C-V2X radio -> /v2x/rx/* typed topics; own BSM at 10 Hz.

A lifecycle driver: configure opens the UDP link to the radio and loads the trust store and
signing key; activate starts receiving and transmitting. The BSM is built from
localization/geodetic (position), localization/odometry (heading, yaw rate) and
/vehicle/status (speed, acceleration, steering, gear, brake, hazard lights, sweeping mode), with
the vehicle's path history (concise breadcrumbs of its recent positions) and path prediction (radius
of curvature from yaw rate and speed) from roadedge.v2x.path_history.
Anything on /v2x/tx/* is signed and transmitted as is. Diagnostics: rx/tx rates per message,
decode failures and security rejections by kind.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import Any

from nav_msgs.msg import Odometry
from roadedge_msgs.msg import Bsm, BsmArray, GeoPoint, PathHistoryPoint, VehicleStatus
from sensor_msgs.msg import NavSatFix, NavSatStatus
from std_msgs.msg import String

from roadedge import topics
from roadedge.config import param
from roadedge.diagnostics import Health, Level
from roadedge.ros.node import RoadedgeLifecycleNode, make_main
from roadedge.v2x import si
from roadedge.v2x.bsm_wire import bsm_array_cdr
from roadedge.v2x.path_history import MAX_POINTS, PathHistory, PathHistoryPolicy, PathPredictor
from roadedge.v2x.pipeline import Received
from roadedge.v2x.station import StationParams, V2xStation

RX_TOPICS = {
    "bsmFrame": topics.V2X_RX_BSM,
    "mapFrame": topics.V2X_RX_MAP,
    "spatFrame": topics.V2X_RX_SPAT,
    "rsiFrame": topics.V2X_RX_RSI,
    "rsmFrame": topics.V2X_RX_RSM,
}
TX_TOPICS = (topics.V2X_TX_BSM, topics.V2X_TX_MAP, topics.V2X_TX_SPAT, topics.V2X_TX_RSI, topics.V2X_TX_RSM)

GEAR_TO_TRANSMISSION = {
    VehicleStatus.GEAR_PARK: Bsm.TRANSMISSION_PARK,
    VehicleStatus.GEAR_REVERSE: Bsm.TRANSMISSION_REVERSE,
    VehicleStatus.GEAR_NEUTRAL: Bsm.TRANSMISSION_NEUTRAL,
    VehicleStatus.GEAR_DRIVE: Bsm.TRANSMISSION_FORWARD,
}
#: CSAE LightbarInUse slowMovingVehicle: a sweeper at work shows it with its beacon on
LIGHTBAR_SLOW_MOVING = 6
LIGHTBAR_NOT_IN_USE = 1


class V2xNodeBase(RoadedgeLifecycleNode[Any]):
    """What the OBU and RSU nodes share: the station, rx topics, tx topics, diagnostics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.station: V2xStation | None = None
        self.rx_pubs = {kind: self.publisher(topic) for kind, topic in RX_TOPICS.items()}
        # dense traffic (bsm_array): the BSMs of one receive burst go out as one BsmArray
        self.bsm_array_pub = self.publisher(topics.V2X_RX_BSM_ARRAY) if self.config.bsm_array else None
        self._burst_bsms: list[Bsm] = []
        self._burst_stamp: tuple[int, int] | None = None  # (sec, nanosec) the current burst was taken
        for topic in TX_TOPICS:
            self.subscription(topic, self.transmit)
        self.health.add("radio", self._health)

    # lifecycle
    def open_device(self) -> bool:
        # signing and verification follow the node clock (sim time on the HIL rig and in replay)
        self.station = V2xStation(self.config, clock=self.now_s)
        self.station.open()
        self.get_logger().info(
            f"radio link {self.config.bind_host}:{self.config.bind_port} <-> "
            f"{self.config.radio_host}:{self.config.radio_port}, security {self.config.security_policy}, "
            f"signer {self.station.signer.cert.id if self.station.signer else 'none (unsigned)'}"
        )
        return True

    def close_device(self) -> None:
        if self.station is not None:
            self.station.close()
            self.station = None

    def start_output(self) -> None:
        assert self.station is not None
        self.station.start(self.on_received, self._log_drop, self.on_burst_end)

    def stop_output(self) -> None:
        if self.station is not None and self.station.link is not None:
            self.station.link.stop()

    # rx / tx
    def _log_drop(self, text: str) -> None:
        self.get_logger().warning(f"dropped frame: {text}")

    def on_received(self, received: Received) -> None:
        """Called by the radio thread for every accepted frame of a burst, then :meth:`on_burst_end`."""
        # reception stamp: the node clock when the burst was taken from the socket (one clock read per
        # burst; every frame of it was waiting in the socket by then)
        stamp = self._burst_stamp
        if stamp is None:
            stamp = self._burst_stamp = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)
        msg = received.msg
        msg.v2x.header.stamp.sec, msg.v2x.header.stamp.nanosec = stamp
        if self.bsm_array_pub is not None and received.kind == "bsmFrame":
            self._burst_bsms.append(msg)  # at most burst_max frames until on_burst_end
            return
        self.rx_pubs[received.kind].publish(msg)

    def on_burst_end(self) -> None:
        """The radio thread drained one burst (at most burst_max frames): publish its BSMs together."""
        self._burst_stamp = None
        if self.bsm_array_pub is None or not self._burst_bsms:
            return
        bsms, self._burst_bsms = self._burst_bsms, []
        sec, nanosec = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)
        try:  # the CDR bytes rclpy would write, without its per-field conversion (roadedge.v2x.bsm_wire)
            data = bsm_array_cdr(sec, nanosec, "wgs84", bsms)
        except (struct.error, ValueError, OverflowError) as err:  # not expected: the SI layer fills them
            self.get_logger().error(
                f"BsmArray wire: {err}; published through rclpy", throttle_duration_sec=5.0
            )
            batch = BsmArray(bsms=bsms)
            batch.header.stamp.sec, batch.header.stamp.nanosec = sec, nanosec
            batch.header.frame_id = "wgs84"
            self.bsm_array_pub.publish(batch)
            return
        self.bsm_array_pub.publish(data)

    def transmit(self, msg: Any) -> None:
        if self.station is None or not self.active:
            return
        if not self.station.transmit(msg):
            self.get_logger().warning(f"could not transmit {type(msg).__name__}", throttle_duration_sec=5.0)

    def _health(self) -> Health:
        if self.station is None:
            return Health(Level.WARN, "radio not configured")
        return self.station.health()


@dataclass(frozen=True)
class V2xObuConfig(StationParams):
    station_id: str = param("", help="8-byte temporary id, hex; empty: random at start")
    bsm_rate: float = param(10.0, help="own BSM rate, Hz (0: none)", low=0.0, high=20.0)
    pose_timeout: float = param(0.5, help="s; no BSM while the position is older", low=0.01)
    vehicle_length: float = param(5.6, help="m", low=0.1, high=40.0)
    vehicle_width: float = param(2.0, help="m", low=0.1, high=10.0)
    vehicle_height: float = param(2.9, help="m", low=0.1, high=6.0)
    vehicle_class: int = param(71, help="CSAE BasicVehicleClass code", low=0, high=255)
    sweeping_event_flags: int = param(0, help="VehicleEventFlags bits added while sweeping", low=0, high=8191)
    path_history: bool = param(True, help="send the path history and path prediction in the own BSM")
    path_history_max_error: float = param(
        1.0, help="m; a path history point is kept where the path leaves the chord by more", low=0.05
    )
    path_history_max_distance: float = param(
        300.0, help="m of path the path history covers (at most 23 points)", low=1.0, high=10000.0
    )


class V2xObu(V2xNodeBase):
    Schema = V2xObuConfig
    default_name = "v2x_obu"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c: V2xObuConfig = self.config
        self.station_id = c.station_id.lower() or os.urandom(8).hex()
        # latched, so that planning can tell the RSU's work zone around this vehicle from others'
        self.publisher(topics.V2X_STATION_ID).publish(String(data=self.station_id))
        self.msg_count = 0
        self._fix: NavSatFix | None = None
        self._fix_time = -math.inf
        self._odom: Odometry | None = None
        self._status: VehicleStatus | None = None
        self.subscription(topics.LOCALIZATION_GEODETIC, self._on_fix)
        self.subscription(topics.ODOMETRY, self._on_odom)
        self.subscription(topics.VEHICLE_STATUS, self._on_status)
        self.bsm_skipped = 0
        self.path = PathHistory(
            PathHistoryPolicy(
                max_error_m=c.path_history_max_error, max_distance_m=c.path_history_max_distance
            )
        )
        self.predictor = PathPredictor()
        if c.bsm_rate > 0:
            self.create_timer(1.0 / c.bsm_rate, self._send_bsm)

    def _on_fix(self, msg: NavSatFix) -> None:
        self._fix = msg
        self._fix_time = self.now_s()
        if self.station is not None:  # centre of the relevance radius (verify on demand)
            ok = msg.status.status >= NavSatStatus.STATUS_FIX
            self.station.set_own_position(msg.latitude if ok else math.nan, msg.longitude)

    def _on_odom(self, msg: Odometry) -> None:
        self._odom = msg

    def _on_status(self, msg: VehicleStatus) -> None:
        self._status = msg

    def build_bsm(self) -> Bsm | None:
        """The own BSM from the latest inputs, or None while the position is stale."""
        c: V2xObuConfig = self.config
        fix = self._fix
        now = self.now_s()
        if (
            fix is None
            or now - self._fix_time > c.pose_timeout
            or fix.status.status < NavSatStatus.STATUS_FIX
        ):
            return None
        bsm = Bsm()
        bsm.v2x.sender_id = self.station_id
        bsm.v2x.msg_count = self.msg_count
        self.msg_count = (self.msg_count + 1) % 128
        bsm.v2x.generation_time = si.to_time_msg(now)
        bsm.position = GeoPoint(latitude=fix.latitude, longitude=fix.longitude, elevation=fix.altitude)
        cov = fix.position_covariance
        if fix.position_covariance_type > 0 and cov[0] > 0 and cov[4] > 0:
            bsm.position_semi_major = math.sqrt(max(cov[0], cov[4]))
            bsm.position_semi_minor = math.sqrt(min(cov[0], cov[4]))
            bsm.position_orientation = 0.0 if cov[0] >= cov[4] else math.pi / 2
        else:
            bsm.position_semi_major = bsm.position_semi_minor = bsm.position_orientation = math.nan
        bsm.heading = bsm.yaw_rate = math.nan
        if self._odom is not None:
            q = self._odom.pose.pose.orientation
            bsm.heading = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
            bsm.yaw_rate = self._odom.twist.twist.angular.z
            bsm.speed = math.hypot(self._odom.twist.twist.linear.x, self._odom.twist.twist.linear.y)
        else:
            bsm.speed = math.nan
        bsm.steering_wheel_angle = math.nan
        bsm.acceleration_longitudinal = bsm.acceleration_lateral = bsm.acceleration_vertical = math.nan
        bsm.transmission = Bsm.TRANSMISSION_UNAVAILABLE
        st = self._status
        if st is not None:
            bsm.speed = abs(st.speed)
            bsm.acceleration_longitudinal = st.acceleration
            bsm.yaw_rate = st.yaw_rate
            bsm.transmission = GEAR_TO_TRANSMISSION.get(st.gear, Bsm.TRANSMISSION_UNAVAILABLE)
            bsm.brake_pedal_applied = st.park_brake_engaged or (st.acceleration < -0.5 and st.speed > 0.1)
            if st.hazard_lights_on:
                bsm.event_flags |= Bsm.EVENT_HAZARD_LIGHTS
                bsm.exterior_lights |= 1 << 4  # hazardSignalOn
            if st.drive_mode == VehicleStatus.MODE_SWEEPING:
                bsm.event_flags |= c.sweeping_event_flags
                bsm.lights_in_use = LIGHTBAR_SLOW_MOVING if st.beacon_light_on else LIGHTBAR_NOT_IN_USE
                if st.beacon_light_on:  # at work: a slow-moving service vehicle (CSAE ResponseType)
                    bsm.response_type = Bsm.RESPONSE_SLOW_MOVING
        bsm.length, bsm.width, bsm.height = c.vehicle_length, c.vehicle_width, c.vehicle_height
        bsm.vehicle_class = c.vehicle_class
        bsm.path_history_gnss_status = si.GNSS_STATUS_NOT_SENT
        if c.path_history:
            self._add_path(bsm, now)
        else:
            bsm.path_radius_of_curvature = bsm.path_prediction_confidence = math.nan
        return bsm

    def _add_path(self, bsm: Bsm, now: float) -> None:
        """Path history (this BSM's position added first) and path prediction of the own BSM."""
        pos = bsm.position
        self.path.add(now, pos.latitude, pos.longitude, pos.elevation, bsm.speed, bsm.heading)
        nan = math.nan
        bsm.path_history = [
            PathHistoryPoint(
                position=GeoPoint(latitude=p.latitude, longitude=p.longitude, elevation=p.elevation),
                time_offset=now - p.t,
                speed=p.speed,
                heading=p.heading,
                position_accuracy=nan,
                elevation_accuracy=nan,
            )
            for p in self.path.points(now)[:MAX_POINTS]
        ]
        bsm.path_radius_of_curvature, bsm.path_prediction_confidence = self.predictor.update(
            now, bsm.speed, bsm.yaw_rate
        )

    def _send_bsm(self) -> None:
        if not self.active:
            return
        bsm = self.build_bsm()
        if bsm is None:
            self.bsm_skipped += 1
            return
        self.transmit(bsm)

    def _health(self) -> Health:
        health = super()._health()
        health.values["station_id"] = self.station_id
        health.values["bsm_skipped_stale_pose"] = str(self.bsm_skipped)
        health.values["path_history_resets"] = str(self.path.resets)
        if (
            self.active
            and self.config.bsm_rate > 0
            and self.now_s() - self._fix_time > self.config.pose_timeout
        ):
            return Health(Level.WARN, "no fresh position: own BSM not sent", health.values)
        return health


NODE = V2xObu
main = make_main(NODE)
