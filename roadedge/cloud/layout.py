"""Topic layout of the cloud link, one subtree per fleet, site and device.

``roadedge/v1/<fleet>/<site>/<device>/up/<stream>``    device -> cloud (QoS 1)
``roadedge/v1/<fleet>/<site>/<device>/down/<command>`` cloud -> device (QoS 1, signed JWS)
``roadedge/v1/<fleet>/<site>/<device>/up/online``      retained "1"/"0" (last will "0")

The "v1" segment is the major version of the payload schema (``schema.SCHEMA``). Ids are
restricted so that they can never contain MQTT wildcards or separators, and so that a broker
ACL pattern with ``%u`` (username = client certificate CN = device id) pins a device to its
own subtree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

ROOT: Final = "roadedge"
VERSION: Final = "v1"
ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

Profile = Literal["vehicle", "roadside"]
PROFILES: Final[tuple[str, ...]] = ("vehicle", "roadside")

#: Uplink streams per profile ("ack" answers downlink commands, both profiles).
UPLINK_STREAMS: Final[dict[str, tuple[str, ...]]] = {
    "vehicle": ("state", "task", "advisory", "v2x", "diag", "ack"),
    "roadside": ("signal", "rsm", "rsi", "v2x", "diag", "ack"),
}
#: Downlink commands each profile accepts.
DOWNLINK_COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    "vehicle": ("sweep_task", "remote_stop", "uplink_ack"),
    "roadside": ("rsi_update", "uplink_ack"),
}
ALL_STREAMS: Final = tuple(sorted({s for streams in UPLINK_STREAMS.values() for s in streams}))
ALL_COMMANDS: Final = tuple(sorted({c for cmds in DOWNLINK_COMMANDS.values() for c in cmds}))


def valid_id(value: str) -> bool:
    """True for a fleet, site or device id usable as one topic level."""
    return bool(ID_PATTERN.fullmatch(value))


@dataclass(frozen=True)
class DeviceIdentity:
    """Who this edge box is; the device id is also the CN of its client certificate."""

    fleet: str
    site: str
    device: str
    profile: Profile = "vehicle"

    def __post_init__(self) -> None:
        for name in ("fleet", "site", "device"):
            value = getattr(self, name)
            if not valid_id(value):
                raise ValueError(f"{name} id {value!r} must match {ID_PATTERN.pattern}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} must be one of {PROFILES}")

    @property
    def base(self) -> str:
        return f"{ROOT}/{VERSION}/{self.fleet}/{self.site}/{self.device}"

    def up(self, stream: str) -> str:
        if stream != "online" and stream not in UPLINK_STREAMS[self.profile]:
            raise ValueError(f"stream {stream!r} is not an uplink stream of a {self.profile}")
        return f"{self.base}/up/{stream}"

    def down(self, command: str) -> str:
        if command not in ALL_COMMANDS:
            raise ValueError(f"unknown downlink command {command!r}")
        return f"{self.base}/down/{command}"

    @property
    def down_filter(self) -> str:
        """Subscription for every downlink command of this device."""
        return f"{self.base}/down/+"

    @property
    def online_topic(self) -> str:
        return f"{self.base}/up/online"

    def command_of(self, topic: str) -> str | None:
        """The command name of a downlink topic of this device, else None."""
        prefix = f"{self.base}/down/"
        if not topic.startswith(prefix):
            return None
        name = topic[len(prefix) :]
        return name if name in ALL_COMMANDS else None


def parse_uplink_topic(topic: str) -> tuple[str, str, str, str] | None:
    """(fleet, site, device, stream) of an uplink topic, for the cloud side and tests."""
    parts = topic.split("/")
    if len(parts) != 7 or parts[0] != ROOT or parts[1] != VERSION or parts[5] != "up":
        return None
    fleet, site, device, stream = parts[2], parts[3], parts[4], parts[6]
    if not (valid_id(fleet) and valid_id(site) and valid_id(device)):
        return None
    return fleet, site, device, stream
