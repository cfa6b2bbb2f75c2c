"""The topic map: every topic roadedge uses, its type, QoS class and who talks on it.

Names without a leading slash resolve in the node's namespace (several vehicles on one
HIL rig each get their own); names with one are global (/tf, /diagnostics, /clock).
The README's topic table is checked against this module by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    type: str  # "package/msg/Type"
    qos: str  # a key of roadedge.ros.qos.PROFILES
    flow: str  # "producer -> consumers"


def _t(name: str, type_: str, qos: str, flow: str) -> Topic:
    return Topic(name, type_, qos, flow)


# Sensing
GNSS_FIX = _t("sensing/gnss/fix", "sensor_msgs/msg/NavSatFix", "sensor", "gnss_receiver -> localization")
GNSS_TIME = _t(
    "sensing/gnss/time_reference", "sensor_msgs/msg/TimeReference", "sensor", "gnss_receiver -> diagnostics"
)
GNSS_VEL = _t(
    "sensing/gnss/vel",
    "geometry_msgs/msg/TwistWithCovarianceStamped",
    "sensor",
    "gnss_receiver -> localization (antenna velocity over ground, ENU: linear.x east, linear.y north)",
)
GNSS_RTCM = _t(
    "sensing/gnss/rtcm", "std_msgs/msg/UInt8MultiArray", "command", "correction source -> gnss_receiver"
)
IMU = _t("sensing/imu", "sensor_msgs/msg/Imu", "sensor", "IMU driver -> localization")
CURB_RANGE = _t(
    "sensing/curb/right/range", "sensor_msgs/msg/Range", "sensor", "side curb range sensor -> localization"
)
CAMERA_FRONT_IMAGE = _t(
    "sensing/camera/front/image_raw", "sensor_msgs/msg/Image", "sensor", "camera / HIL renderer -> perception"
)
CAMERA_FRONT_INFO = _t(
    "sensing/camera/front/camera_info",
    "sensor_msgs/msg/CameraInfo",
    "sensor",
    "camera / HIL renderer -> perception",
)

# Vehicle interface
VEHICLE_COMMAND = _t(
    "vehicle/command", "roadedge_msgs/msg/VehicleCommand", "command", "controller -> chassis HAL"
)
VEHICLE_STATUS = _t("vehicle/status", "roadedge_msgs/msg/VehicleStatus", "status", "chassis HAL -> all")
EQUIPMENT_COMMAND = _t(
    "vehicle/work_equipment/command",
    "roadedge_msgs/msg/WorkEquipmentCommand",
    "command",
    "planner -> equipment HAL",
)
EQUIPMENT_STATUS = _t(
    "vehicle/work_equipment/status",
    "roadedge_msgs/msg/WorkEquipmentStatus",
    "status",
    "equipment HAL -> planner, cloud",
)

# Localization
ODOMETRY = _t("localization/odometry", "nav_msgs/msg/Odometry", "status", "localization -> all")
TF = _t("/tf", "tf2_msgs/msg/TFMessage", "tf", "localization -> all")
TF_STATIC = _t("/tf_static", "tf2_msgs/msg/TFMessage", "tf_static", "localization -> all")
LOCALIZATION_GEODETIC = _t(
    "localization/geodetic", "sensor_msgs/msg/NavSatFix", "status", "localization -> V2X BSM, map matching"
)

# Perception
OBJECTS = _t(
    "perception/objects", "roadedge_msgs/msg/ObjectArray", "status", "perception -> planner, RSM builder"
)

# V2X
V2X_RX_BSM = _t("v2x/rx/bsm", "roadedge_msgs/msg/Bsm", "v2x", "v2x node -> applications")
V2X_RX_BSM_ARRAY = _t(
    "v2x/rx/bsm_array",
    "roadedge_msgs/msg/BsmArray",
    "v2x",
    "v2x node -> applications (instead of v2x/rx/bsm with bsm_array: true, the BSMs of one receive burst)",
)
V2X_RX_MAP = _t("v2x/rx/map", "roadedge_msgs/msg/MapData", "v2x", "v2x node -> applications")
V2X_RX_SPAT = _t("v2x/rx/spat", "roadedge_msgs/msg/Spat", "v2x", "v2x node -> applications")
V2X_RX_RSI = _t("v2x/rx/rsi", "roadedge_msgs/msg/Rsi", "v2x", "v2x node -> applications")
V2X_RX_RSM = _t("v2x/rx/rsm", "roadedge_msgs/msg/Rsm", "v2x", "v2x node -> perception fusion, planner")
V2X_STATION_ID = _t(
    "v2x/station_id",
    "std_msgs/msg/String",
    "latched",
    "v2x_obu -> planner (the OBU's own 8-byte temporary id, hex: tells its own RSI work zone from others')",
)
V2X_TX_BSM = _t("v2x/tx/bsm", "roadedge_msgs/msg/Bsm", "v2x", "applications -> v2x node")
V2X_TX_MAP = _t("v2x/tx/map", "roadedge_msgs/msg/MapData", "v2x", "applications -> v2x node")
V2X_TX_SPAT = _t("v2x/tx/spat", "roadedge_msgs/msg/Spat", "v2x", "applications -> v2x node")
V2X_TX_RSI = _t("v2x/tx/rsi", "roadedge_msgs/msg/Rsi", "v2x", "applications -> v2x node")
V2X_TX_RSM = _t("v2x/tx/rsm", "roadedge_msgs/msg/Rsm", "v2x", "roadside perception -> v2x node")

# Planning
TRAJECTORY = _t("planning/trajectory", "roadedge_msgs/msg/Trajectory", "command", "planner -> controller")
ADVISORIES = _t("planning/advisories", "roadedge_msgs/msg/AdvisoryArray", "v2x", "planner -> HMI, cloud")
TASK_PROGRESS = _t(
    "planning/task_progress", "roadedge_msgs/msg/TaskProgress", "status", "planner -> HMI, cloud"
)
TARGET_SPEED = _t(
    "control/target_speed", "std_msgs/msg/Float32", "command", "operator / scenario -> speed_controller"
)

# Cloud link
CLOUD_REMOTE_STOP = _t(
    "cloud/remote_stop",
    "std_msgs/msg/Bool",
    "latched",
    "cloud_bridge -> chassis HAL safety watchdog (true: controlled stop, latched until false)",
)

# HIL rig
GROUND_TRUTH = _t(
    "hil/ground_truth", "nav_msgs/msg/Odometry", "status", "chassis emulator -> scenario runner, tests"
)

HIL_ACTORS = _t(
    "hil/actors", "roadedge_msgs/msg/ObjectArray", "status", "scenario world -> sensor emulators, monitor"
)

# System
DIAGNOSTICS = _t("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "diagnostics", "all -> monitor")
CLOCK = _t("/clock", "rosgraph_msgs/msg/Clock", "clock", "HIL runner / replay -> all")

ALL: tuple[Topic, ...] = tuple(value for value in list(globals().values()) if isinstance(value, Topic))
BY_NAME: dict[str, Topic] = {topic.name: topic for topic in ALL}
