"""Localization: GNSS fix + IMU + chassis status -> EKF -> odometry, TF, geodetic pose.

Subscribes sensing/gnss/fix, sensing/imu, vehicle/status and, with ``use_curb_range``,
sensing/curb/right/range (sensor_msgs/Range of a side curb sensor, fused against the road edges
of the site's lanelet2 map: the lateral aid that single-point GNSS needs); publishes
localization/odometry (nav_msgs/Odometry, map -> base_link, with covariance), /tf
(map -> odom -> base_link), /tf_static (base_link -> antenna, IMU and configured sensor
frames) and localization/geodetic (NavSatFix of base_link for the V2X BSM and map
matching); serves localization/reset (roadedge_msgs/srv/ResetLocalization).
The filter lives in roadedge.localization.ekf, the map frame in roadedge.localization.geodesy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import Quaternion, TransformStamped, TwistWithCovarianceStamped
from roadedge_msgs.msg import VehicleStatus
from roadedge_msgs.srv import ResetLocalization
from sensor_msgs.msg import Imu, NavSatFix, NavSatStatus, Range
from tf2_msgs.msg import TFMessage

from roadedge import topics
from roadedge.config import ConfigError, param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.localization.curb import CurbLines, RangeMount, load_site_curbs
from roadedge.localization.ekf import EkfParams, FilterState, LocalizationEkf, required_accuracy_met
from roadedge.localization.geodesy import GeodeticOrigin, LeverArm, MapFrame, enu_covariance
from roadedge.localization.gnss import COVARIANCE_TYPE_KNOWN, COVARIANCE_TYPE_UNKNOWN
from roadedge.localization.wire import navsatfix_template, odometry_template, tf_template
from roadedge.ros.node import RoadedgeNode, make_main

RESET_SERVICE = "localization/reset"


@dataclass(frozen=True)
class LocalizationConfig:
    site: str = param(
        "", help="site of config/maps/sites.yaml whose origin is the map origin (else origin_*)"
    )
    sites_file: str = param("", help="sites file; empty = config/maps/sites.yaml of the package")
    origin_latitude: float = param(31.2304, help="deg, WGS-84 origin of the map frame", low=-89.9, high=89.9)
    origin_longitude: float = param(121.4737, help="deg", low=-180.0, high=180.0)
    origin_altitude: float = param(4.0, help="m above the WGS-84 ellipsoid")
    antenna_x: float = param(1.2, help="m, GNSS antenna in base_link (forward)")
    antenna_y: float = param(0.0, help="m, (left)")
    antenna_z: float = param(2.1, help="m, (up)")
    imu_xyz: list[float] = param([0.0, 0.0, 0.5], help="m, IMU position in base_link")
    imu_rpy: list[float] = param([0.0, 0.0, 0.0], help="rad, IMU mounting rotation in base_link")
    static_frames: list[str] = param(["lidar_top", "camera_front"], help="more sensor frames for /tf_static")
    static_frame_poses: list[float] = param(
        [1.5, 0.0, 2.2, 0.0, 0.0, 0.0, 2.0, 0.0, 1.8, 0.0, 0.1, 0.0],
        help="x y z roll pitch yaw (m, rad) per static frame, in base_link",
    )
    use_curb_range: bool = param(False, help="fuse the side curb range sensor against the map's road edges")
    curb_site: str = param("", help="site whose lanelet2 road edges are the curbs; empty = `site`")
    curb_range_frame: str = param("curb_range_right", help="frame of the curb range sensor (/tf_static)")
    curb_range_mount: list[float] = param(
        [1.0, -1.0, -1.5707963], help="x y yaw of the curb range sensor in base_link (m, m, rad)"
    )
    curb_range_sigma: float = param(0.03, help="m, 1 sigma of a curb range return", low=0.001)
    gnss_bias_fraction: float = param(
        0.8, help="share of the fixes' sigma that wanders slowly (Gauss-Markov state)", low=0.0, high=0.99
    )
    gnss_bias_tau: float = param(60.0, help="s, correlation time of the GNSS error's wandering part", low=0.0)
    wheelbase: float = param(2.8, help="m", low=0.5, high=10.0)
    use_imu: bool = param(True, help="fuse the IMU yaw rate")
    use_steering: bool = param(True, help="fuse the kinematic yaw rate from the steering angle")
    use_gnss_velocity: bool = param(True, help="fuse the GNSS velocity (speed and course over ground)")
    gnss_velocity_min_sigma: float = param(
        0.03, help="m/s, floor on the GNSS velocity's reported sigma", low=0.001, high=10.0
    )
    gnss_sigma_scale: float = param(1.0, help="multiplies the fixes' reported sigma", low=0.1, high=100.0)
    gnss_time_sigma: float = param(
        0.03,
        help="s, uncertainty of the fixes' stamps (receive time): widens R along the track",
        low=0.0,
        high=1.0,
    )
    gate_probability: float = param(0.999, help="Mahalanobis gate for GNSS", low=0.9, high=0.999999)
    reinit_after: float = param(5.0, help="s of rejected fixes before re-initialising at GNSS", low=0.5)
    rate: float = param(50.0, help="odometry and /tf rate, Hz", low=1.0, high=200.0)
    geodetic_rate: float = param(10.0, help="localization/geodetic rate, Hz", low=0.1, high=100.0)
    gnss_unknown_sigma: float = param(5.0, help="m, sigma of fixes without covariance", low=0.01)
    required_accuracy_sweeping: float = param(
        0.10, help="m, 95 % lateral error needed while sweeping", low=0.0
    )
    required_accuracy_autonomous: float = param(
        0.5, help="m, 95 % lateral error needed when autonomous", low=0.0
    )
    dead_reckoning_warn: float = param(2.0, help="s without GNSS before the diagnostic warns", low=0.1)
    max_stamp_skew: float = param(
        1.0, help="s; messages stamped further from now use the receive time", low=0.01
    )


def yaw_quaternion(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))


def rpy_quaternion(roll: float, pitch: float, yaw: float) -> Quaternion:
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return Quaternion(
        w=cr * cp * cy + sr * sp * sy,
        x=sr * cp * cy - cr * sp * sy,
        y=cr * sp * cy + sr * cp * sy,
        z=cr * cp * sy - sr * sp * cy,
    )


def quaternion_yaw(q: Any) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def rotation_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    out: np.ndarray = rz @ ry @ rx
    return out


def map_origin(c: LocalizationConfig) -> GeodeticOrigin:
    if not c.site:
        return GeodeticOrigin(c.origin_latitude, c.origin_longitude, c.origin_altitude)
    from roadedge.planning.lanelet_map import MapError, load_sites

    path = (
        Path(c.sites_file)
        if c.sites_file
        else Path(__file__).resolve().parent.parent / "config/maps/sites.yaml"
    )
    if not path.is_file():
        from ament_index_python.packages import get_package_share_directory  # type: ignore[import-not-found]

        path = Path(get_package_share_directory("roadedge")) / "config/maps/sites.yaml"
    try:
        sites = load_sites(path)
    except MapError as exc:
        raise ConfigError(str(exc)) from exc
    if c.site not in sites:
        raise ConfigError(
            f"parameter 'site' of node 'localization': {c.site!r} not in {path} ({sorted(sites)})"
        )
    o = sites[c.site].origin
    return GeodeticOrigin(o.latitude, o.longitude, o.elevation)


class LocalizationNode(RoadedgeNode[LocalizationConfig]):
    Schema = LocalizationConfig
    default_name = "localization"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        if len(c.static_frame_poses) != 6 * len(c.static_frames):
            raise ConfigError("static_frame_poses needs 6 numbers (x y z roll pitch yaw) per static frame")
        if len(c.imu_xyz) != 3 or len(c.imu_rpy) != 3:
            raise ConfigError("imu_xyz and imu_rpy need 3 numbers each")
        self.frame = MapFrame(map_origin(c))
        self.antenna = LeverArm(c.antenna_x, c.antenna_y, c.antenna_z)
        self.ekf = LocalizationEkf(
            EkfParams(
                wheelbase=c.wheelbase,
                antenna=self.antenna,
                gnss_sigma_scale=c.gnss_sigma_scale,
                gnss_time_sigma=c.gnss_time_sigma,
                gnss_bias_fraction=c.gnss_bias_fraction,
                gnss_bias_tau=c.gnss_bias_tau,
                gate_probability=c.gate_probability,
                reinit_after=c.reinit_after,
            )
        )
        self._imu_rotation = rotation_matrix(*c.imu_rpy)
        self.events = EventCounter()
        self._mode = VehicleStatus.MODE_MANUAL
        self._last_gnss_quality = ""
        self._odom_pub = self.publisher(topics.ODOMETRY)
        self._tf_pub = self.publisher(topics.TF, TFMessage)
        self._tf_static_pub = self.publisher(topics.TF_STATIC, TFMessage)
        self._geo_pub = self.publisher(topics.LOCALIZATION_GEODETIC)
        # the outputs' bytes with the frame names written once (roadedge.localization.wire)
        self._odom_cdr = odometry_template("map", "base_link")
        self._tf_cdr = tf_template([("map", "odom"), ("odom", "base_link")])
        self._geo_cdr = navsatfix_template("base_link", NavSatStatus.SERVICE_GPS, COVARIANCE_TYPE_KNOWN)
        self.subscription(topics.GNSS_FIX, self._on_fix)
        if c.use_gnss_velocity:
            self.subscription(topics.GNSS_VEL, self._on_velocity)
        self.subscription(topics.VEHICLE_STATUS, self._on_status)
        if c.use_imu:
            self.subscription(topics.IMU, self._on_imu)
        self.curbs: CurbLines | None = None
        if len(c.curb_range_mount) != 3:
            raise ConfigError("curb_range_mount needs 3 numbers (x y yaw)")
        self.curb_mount = RangeMount(*c.curb_range_mount)
        if c.use_curb_range:
            site = c.curb_site or c.site
            if not site:
                raise ConfigError("parameter 'use_curb_range' of node 'localization' needs curb_site or site")
            self.curbs = load_site_curbs(site, c.sites_file)
            self.subscription(topics.CURB_RANGE, self._on_range)
        self.create_service(ResetLocalization, RESET_SERVICE, self._on_reset)
        self.create_timer(1.0 / c.rate, self._publish)
        self.create_timer(1.0 / c.geodetic_rate, self._publish_geodetic)
        self.health.add("filter", self._health)
        self._publish_static()

    # ---- time
    def _stamp_s(self, header: Any) -> float:
        now = self.now_s()
        t = float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9
        if t <= 0.0 or abs(t - now) > self.config.max_stamp_skew:
            if t > 0.0:
                self._event("stamp_skew", f"stamp {t:.3f} vs clock {now:.3f}")
            return now
        return t

    def _event(self, kind: str, detail: str = "") -> None:
        text = self.events.record(kind, detail)
        if text:
            self.get_logger().warning(text)

    # ---- inputs
    def _on_fix(self, msg: NavSatFix) -> None:
        if msg.status.status < NavSatStatus.STATUS_FIX:
            self._event("gnss_no_fix")
            return
        if not all(math.isfinite(v) for v in (msg.latitude, msg.longitude)):
            self._event("gnss_invalid", "non-finite position")
            return
        t = self._stamp_s(msg.header)
        alt = msg.altitude if math.isfinite(msg.altitude) else self.frame.origin.altitude
        try:
            e, n, u = self.frame.to_map(msg.latitude, msg.longitude, alt)
        except ValueError as exc:
            self._event("gnss_invalid", str(exc))
            return
        if msg.position_covariance_type == COVARIANCE_TYPE_UNKNOWN:
            s = self.config.gnss_unknown_sigma
            cov = np.diag([s * s, s * s, 4 * s * s])
        else:
            cov = self.frame.rotate_covariance_to_map(enu_covariance(list(msg.position_covariance)), e, n)
        before = self.ekf.counters.gnss_rejected, self.ekf.counters.gnss_reinit
        self.ekf.update_gnss(t, e, n, u, cov)
        if self.ekf.counters.gnss_rejected > before[0]:
            self._event("gnss_rejected_by_gate", f"fix at ({e:.2f}, {n:.2f})")
        if self.ekf.counters.gnss_reinit > before[1]:
            self._event("gnss_reinitialised", "fixes disagreed with the filter for too long")

    def _on_velocity(self, msg: TwistWithCovarianceStamped) -> None:
        ve, vn = float(msg.twist.twist.linear.x), float(msg.twist.twist.linear.y)
        var = max(float(msg.twist.covariance[0]), float(msg.twist.covariance[7]))
        if not (math.isfinite(ve) and math.isfinite(vn) and math.isfinite(var)):
            self._event("gnss_velocity_invalid", "non-finite velocity or covariance")
            return
        sigma = max(math.sqrt(var) if var > 0 else 0.0, self.config.gnss_velocity_min_sigma)
        # ENU at the antenna -> map axes (meridian convergence away from the origin)
        g = (
            self.frame.convergence(float(self.ekf.x[0]), float(self.ekf.x[1]))
            if self.ekf.initialized
            else 0.0
        )
        c, s = math.cos(g), math.sin(g)
        self.ekf.update_velocity(self._stamp_s(msg.header), c * ve - s * vn, s * ve + c * vn, sigma)

    def _on_imu(self, msg: Imu) -> None:
        w = np.array([msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z])
        if not np.all(np.isfinite(w)):
            self._event("imu_invalid", "non-finite angular velocity")
            return
        rate = float((self._imu_rotation @ w)[2])
        var = float(msg.angular_velocity_covariance[8])
        sigma = math.sqrt(var) if var > 0 else None
        self.ekf.update_gyro(self._stamp_s(msg.header), rate, sigma)

    def _on_status(self, msg: VehicleStatus) -> None:
        t = self._stamp_s(msg.header)
        speed = float(msg.speed)
        wheels = (
            msg.wheel_speed_front_left,
            msg.wheel_speed_front_right,
            msg.wheel_speed_rear_left,
            msg.wheel_speed_rear_right,
        )
        still = speed == 0.0 and all(w == 0.0 for w in wheels)
        self._mode = int(msg.drive_mode)
        self.ekf.update_speed(t, speed, standing_still=still)
        if self.config.use_steering:
            self.ekf.update_steering(t, speed, float(msg.steering_angle))

    def _on_range(self, msg: Range) -> None:
        if self.curbs is None:
            return
        r = float(msg.range)
        if math.isnan(r):
            self._event("curb_range_invalid", "NaN range")
            return
        m = self.curb_mount
        lo, hi = float(msg.min_range), float(msg.max_range)
        if math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi:
            m = RangeMount(m.x, m.y, m.yaw, lo, hi)
        before = self.ekf.counters.range_rejected
        self.ekf.update_range(self._stamp_s(msg.header), r, self.config.curb_range_sigma, m, self.curbs)
        if self.ekf.counters.range_rejected > before:
            self._event("curb_range_rejected_by_gate", f"range {r:.2f} m")

    def _on_reset(self, request: Any, response: Any) -> Any:
        if request.use_pose:
            p = request.pose.pose
            cov = np.asarray(p.covariance, dtype=float).reshape(6, 6)
            sub = cov[np.ix_([0, 1, 5], [0, 1, 5])]
            yaw = quaternion_yaw(p.pose.orientation)
            self.ekf.reset_to_pose(
                self.now_s(),
                p.pose.position.x,
                p.pose.position.y,
                yaw,
                sub if np.all(np.diag(sub) > 0) else None,
                p.pose.position.z,
            )
            response.message = f"reset to ({p.pose.position.x:.2f}, {p.pose.position.y:.2f}, {yaw:.3f})"
        else:
            self.ekf.reset()
            response.message = "reset: initialising from the next GNSS fixes"
        self.get_logger().info(response.message)
        response.success = True
        return response

    # ---- outputs
    def _transform(
        self, parent: str, child: str, stamp: Any, x: float, y: float, z: float, q: Quaternion
    ) -> Any:
        tf = TransformStamped()
        tf.header.stamp = stamp
        tf.header.frame_id = parent
        tf.child_frame_id = child
        tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = x, y, z
        tf.transform.rotation = q
        return tf

    def _publish_static(self) -> None:
        c = self.config
        stamp = self.get_clock().now().to_msg()
        q0 = Quaternion(w=1.0)
        tfs = [
            self._transform("base_link", "gnss_antenna", stamp, c.antenna_x, c.antenna_y, c.antenna_z, q0),
            self._transform("base_link", "imu_link", stamp, *c.imu_xyz, rpy_quaternion(*c.imu_rpy)),
        ]
        if c.use_curb_range:
            x, y, yaw = c.curb_range_mount
            tfs.append(
                self._transform(
                    "base_link", c.curb_range_frame, stamp, x, y, 0.3, rpy_quaternion(0.0, 0.0, yaw)
                )
            )
        for i, name in enumerate(c.static_frames):
            x, y, z, r, p, yw = c.static_frame_poses[6 * i : 6 * i + 6]
            tfs.append(self._transform("base_link", name, stamp, x, y, z, rpy_quaternion(r, p, yw)))
        self._tf_static_pub.publish(TFMessage(transforms=tfs))

    def _publish(self) -> None:
        ekf = self.ekf
        now = self.now_s()
        ekf.predict(now)
        if not ekf.initialized:
            return
        sec, nanosec = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)  # Time.to_msg()
        x = ekf.x.tolist()
        p = ekf.P.tolist()
        z = float(ekf.z)
        half = 0.5 * x[2]
        r = 0.01  # roll, pitch not estimated (flat-ground model); twist's unestimated axes
        # pose covariance (x, y, z, roll, pitch, yaw) from the filter's x, y, yaw block and the height
        # variance; twist covariance diagonal from the speed and yaw-rate variances
        # fmt: off
        self._odom_pub.publish(
            self._odom_cdr.pack(
                sec, nanosec,
                x[0], x[1], z, 0.0, 0.0, math.sin(half), math.cos(half),
                p[0][0], p[0][1], 0.0, 0.0, 0.0, p[0][2],
                p[1][0], p[1][1], 0.0, 0.0, 0.0, p[1][2],
                0.0, 0.0, float(ekf.z_var), 0.0, 0.0, 0.0,
                0.0, 0.0, 0.0, r, 0.0, 0.0,
                0.0, 0.0, 0.0, 0.0, r, 0.0,
                p[2][0], p[2][1], 0.0, 0.0, 0.0, p[2][2],
                x[3], 0.0, 0.0, 0.0, 0.0, x[4],
                p[3][3], 0.0, 0.0, 0.0, 0.0, 0.0,
                0.0, r, 0.0, 0.0, 0.0, 0.0,
                0.0, 0.0, r, 0.0, 0.0, 0.0,
                0.0, 0.0, 0.0, r, 0.0, 0.0,
                0.0, 0.0, 0.0, 0.0, r, 0.0,
                0.0, 0.0, 0.0, 0.0, 0.0, p[4][4],
            )
        )
        # fmt: on
        mx, my, myaw = ekf.map_to_odom()
        ox, oy, oyaw = ekf.odom
        m_half, o_half = 0.5 * myaw, 0.5 * float(oyaw)
        self._tf_pub.publish(
            self._tf_cdr.pack(
                sec,
                nanosec,
                mx,
                my,
                0.0,
                0.0,
                0.0,
                math.sin(m_half),
                math.cos(m_half),
                sec,
                nanosec,
                float(ox),
                float(oy),
                z,
                0.0,
                0.0,
                math.sin(o_half),
                math.cos(o_half),
            )
        )

    def _publish_geodetic(self) -> None:
        ekf = self.ekf
        if not ekf.initialized:
            return
        if self._geo_pub.get_subscription_count() == 0:
            return  # a volatile topic: a subscriber not matched now would not receive it either
        lat, lon, h = self.frame.to_geodetic(float(ekf.x[0]), float(ekf.x[1]), float(ekf.z))
        sec, nanosec = divmod(self.get_clock().now().nanoseconds, 1_000_000_000)
        tracking = ekf.state() == FilterState.TRACKING
        p = ekf.P.tolist()
        self._geo_pub.publish(
            self._geo_cdr.pack(
                sec,
                nanosec,
                NavSatStatus.STATUS_FIX if tracking else NavSatStatus.STATUS_NO_FIX,
                lat,
                lon,
                h,
                p[0][0],
                p[0][1],
                0.0,
                p[1][0],
                p[1][1],
                0.0,
                0.0,
                0.0,
                float(ekf.z_var),
            )
        )

    # ---- health
    def _required(self) -> float | None:
        if self._mode == VehicleStatus.MODE_SWEEPING:
            return self.config.required_accuracy_sweeping
        if self._mode == VehicleStatus.MODE_AUTONOMOUS:
            return self.config.required_accuracy_autonomous
        return None

    def _health(self) -> Health:
        ekf = self.ekf
        values = {k: str(v) for k, v in ekf.counters.as_dict().items()}
        values.update(self.events.values())
        state = ekf.state(self.now_s())
        values["state"] = state.value
        if state == FilterState.UNINITIALIZED:
            return Health(Level.WARN, "waiting for GNSS fixes while moving (or a reset with a pose)", values)
        lat95 = 1.96 * ekf.lateral_sigma()
        values["lateral_95_m"] = f"{lat95:.3f}"
        values["horizontal_sigma_m"] = f"{ekf.horizontal_sigma():.3f}"
        required = self._required()
        if required is not None:
            values["required_95_m"] = f"{required:.3f}"
            if not required_accuracy_met(ekf.lateral_sigma(), required):
                level = Level.ERROR if lat95 > 3 * required else Level.WARN
                return Health(
                    level, f"lateral accuracy {lat95:.2f} m (95 %) worse than {required:.2f} m", values
                )
        since = None if ekf.last_gnss_time is None else self.now_s() - ekf.last_gnss_time
        if since is None or since > self.config.dead_reckoning_warn:
            return Health(Level.WARN, "dead reckoning: no GNSS accepted", values)
        return Health(Level.OK, state.value, values)


NODE = LocalizationNode
main = make_main(NODE)
