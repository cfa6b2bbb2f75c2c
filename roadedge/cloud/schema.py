"""Versioned JSON schema of every cloud-link payload, and its validation.

The schemas are JSON Schema (draft 2020-12) documents defined here, once; ``config/cloud/schema/``
holds the same documents as files for the cloud side (``python -m roadedge.cloud.schema DIR``
writes them; a test checks they are current). ``SCHEMA`` is the schema id carried by every
message; a change that breaks a consumer bumps the major version (and the topic's ``v1``).

Units are SI, angles in radians, positions WGS-84 degrees, times UNIX seconds (UTC).
Unknown values are ``null``, never NaN (JSON has none).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

SCHEMA: Final = "roadedge.cloud/1"
SCHEMA_BASE: Final = "https://roadedge.example/schema/cloud/1"

JsonObject = dict[str, Any]


def _num(minimum: float | None = None, maximum: float | None = None, nullable: bool = False) -> JsonObject:
    s: JsonObject = {"type": ["number", "null"] if nullable else "number"}
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    return s


def _int(minimum: int | None = None, maximum: int | None = None) -> JsonObject:
    s: JsonObject = {"type": "integer"}
    if minimum is not None:
        s["minimum"] = minimum
    if maximum is not None:
        s["maximum"] = maximum
    return s


def _str(max_length: int = 256, enum: tuple[str, ...] | None = None) -> JsonObject:
    if enum is not None:
        return {"type": "string", "enum": list(enum)}
    return {"type": "string", "maxLength": max_length}


def _obj(properties: Mapping[str, JsonObject], required: tuple[str, ...] | None = None) -> JsonObject:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties) if required is None else list(required),
        "additionalProperties": False,
    }


def _arr(items: JsonObject, max_items: int) -> JsonObject:
    return {"type": "array", "items": items, "maxItems": max_items}


LAT = _num(-90.0, 90.0)
LON = _num(-180.0, 180.0)
ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
LEVEL = _str(enum=("ok", "warn", "error", "stale"))
FRACTION = _num(0.0, 1.0, nullable=True)
GEO = _obj({"lat": LAT, "lon": LON, "alt": _num(nullable=True)}, ("lat", "lon"))

DRIVE_MODES: Final = ("manual", "autonomous", "sweeping", "remote", "fault", "unknown")
BRUSH_STATES: Final = ("up", "down", "moving", "unknown")
DUMP_STATES: Final = ("lowered", "raising", "raised", "lowering", "unknown")
TASK_STATES: Final = ("idle", "running", "paused", "completed", "aborted", "failed")
ADVISORY_TYPES: Final = (
    "fcw", "icw", "rlvw", "glosa", "evw", "vrucw", "hazard", "work_zone", "speed_limit", "equipment",
)  # fmt: skip
SEVERITIES: Final = ("info", "warning", "critical")
LIGHTS: Final = (
    "unavailable", "dark", "flashing_red", "red", "flashing_green", "permissive_green",
    "protected_green", "yellow", "flashing_yellow",
)  # fmt: skip
PARTICIPANT_TYPES: Final = ("unknown", "motor", "non_motor", "pedestrian", "rsu")
V2X_MESSAGES: Final = ("bsm", "map", "spat", "rsi", "rsm")
ACK_STATUS: Final = ("accepted", "rejected", "failed")

RSI_EVENT = _obj(
    {
        "rte_id": _int(0, 255),
        "event_type": _int(0, 65535),
        "source": _str(enum=("unknown", "police", "government", "meteorological", "internet", "detection")),
        "position": GEO,
        "radius": _num(0.0, 100000.0, nullable=True),
        "description": _str(256),
        "start_time": _num(0.0, nullable=True),
        "end_time": _num(0.0, nullable=True),
        "priority": _int(0, 7),
    },
    ("rte_id", "event_type", "position"),
)

#: data schema of each uplink stream.
UPLINK_DATA: Final[dict[str, JsonObject]] = {
    "state": _obj(
        {
            "pose": _obj(
                {"lat": LAT, "lon": LON, "alt": _num(nullable=True), "heading": _num(-7.0, 7.0, True)},
                ("lat", "lon", "heading"),
            ),
            "speed": _num(-50.0, 50.0),
            "mode": _str(enum=DRIVE_MODES),
            "estop": {"type": "boolean"},
            "battery": _obj(
                {"soc": FRACTION, "voltage": _num(0.0, nullable=True), "current": _num(nullable=True)},
                ("soc",),
            ),
            "equipment": _obj(
                {
                    "enabled": {"type": "boolean"},
                    "side_brush_left": _str(enum=BRUSH_STATES),
                    "side_brush_right": _str(enum=BRUSH_STATES),
                    "main_brush": _str(enum=BRUSH_STATES),
                    "suction_fan": FRACTION,
                    "water_spray_flow": _num(0.0, nullable=True),
                    "dump": _str(enum=DUMP_STATES),
                },
                ("enabled",),
            ),
            "bin_fill": FRACTION,
            "water_level": FRACTION,
            "alarms": _arr(_str(64), 32),
            "faults": _arr(_int(0, 2**32 - 1), 64),
        },
        ("pose", "speed", "mode", "battery", "bin_fill", "water_level"),
    ),
    "task": _obj(
        {
            "task_id": _str(128),
            "state": _str(enum=TASK_STATES),
            "coverage": _num(0.0, 1.0),
            "distance_swept": _num(0.0),
            "distance_total": _num(0.0),
            "current_segment": _int(0),
            "alarms": _arr(_str(64), 32),
            "message": _str(256),
        },
        ("task_id", "state", "coverage"),
    ),
    "advisory": _obj(
        {
            "type": _str(enum=ADVISORY_TYPES),
            "severity": _str(enum=SEVERITIES),
            "target_id": _str(64),
            "distance": _num(0.0, nullable=True),
            "time_to_collision": _num(0.0, nullable=True),
            "recommended_speed": _num(0.0, nullable=True),
            "text": _str(256),
        },
        ("type", "severity"),
    ),
    "v2x": _obj(
        {
            "message": _str(enum=V2X_MESSAGES),
            "sender_id": _str(32),
            "verified": {"type": "boolean"},
            "summary": _str(256),
            "events": _arr(RSI_EVENT, 16),
        },
        ("message", "sender_id", "verified"),
    ),
    "diag": _obj(
        {
            "level": LEVEL,
            "components": _arr(_obj({"name": _str(128), "level": LEVEL, "message": _str(256)}), 256),
            "link": _obj(
                {
                    "queue_size": _int(0),
                    "queue_capacity": _int(1),
                    "dropped": _int(0),
                    "rejected_commands": _int(0),
                },
                (),
            ),
        },
        ("level", "components"),
    ),
    "signal": _obj(
        {
            "intersections": _arr(
                _obj(
                    {
                        "region": _int(0, 65535),
                        "node_id": _int(0, 65535),
                        "phases": _arr(
                            _obj(
                                {
                                    "phase_id": _int(0, 255),
                                    "light": _str(enum=LIGHTS),
                                    "remaining": _num(0.0, 36001.0, nullable=True),
                                }
                            ),
                            64,
                        ),
                    }
                ),
                32,
            )
        }
    ),
    "rsm": _obj(
        {
            "sender_id": _str(32),
            "participants": _int(0, 16),
            "by_type": _obj({t: _int(0, 16) for t in PARTICIPANT_TYPES}, ()),
        }
    ),
    "rsi": _obj({"sender_id": _str(32), "events": _arr(RSI_EVENT, 16)}),
    "ack": _obj(
        {
            "command_id": {"type": ["string", "null"], "maxLength": 128},
            "command": {"type": ["string", "null"], "maxLength": 32},
            "status": _str(enum=ACK_STATUS),
            "reason": _str(256),
            "digest": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        },
        ("command_id", "command", "status", "reason", "digest"),
    ),
}

SEGMENT = _obj(
    {
        "segment_id": _str(64),
        "lanelet_id": _int(),
        "side": _str(enum=("right", "left")),
        "start_s": _num(0.0),
        "end_s": _num(0.0, nullable=True),
    },
    ("segment_id", "lanelet_id", "side", "start_s", "end_s"),
)

#: data schema of each downlink command.
COMMAND_DATA: Final[dict[str, JsonObject]] = {
    "sweep_task": _obj(
        {
            "task_id": _str(128),
            "segments": {"type": "array", "items": SEGMENT, "minItems": 1, "maxItems": 256},
            "curb_offset": _num(0.0, 3.0),
            "max_speed": _num(0.0, 8.4),
            "side_brush_speed": _num(0.0, 30.0),
            "main_brush_speed": _num(0.0, 30.0),
            "suction_fan_speed": _num(0.0, 1.0),
            "water_spray_flow": _num(0.0, 60.0),
        }
    ),
    "rsi_update": _obj(
        {
            "reference": GEO,
            "events": _arr(RSI_EVENT, 16),
        },
        ("reference", "events"),
    ),
    "remote_stop": _obj({"action": _str(enum=("stop", "release")), "reason": _str(256)}, ("action",)),
    # end-to-end acknowledgement: the centre holds the messages of queue ``epoch`` in these
    # inclusive seq ranges (duplicates included: the device may still hold them)
    "uplink_ack": _obj(
        {
            "epoch": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
            "ranges": {
                "type": "array",
                "items": {"type": "array", "items": _int(1), "minItems": 2, "maxItems": 2},
                "minItems": 1,
                "maxItems": 256,
            },
        }
    ),
}


def uplink_envelope(stream: str) -> JsonObject:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/up/{stream}.json",
        "title": f"roadedge uplink '{stream}'",
        **_obj(
            {
                "schema": {"const": SCHEMA},
                "stream": {"const": stream},
                "fleet": ID,
                "site": ID,
                "device": ID,
                "epoch": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
                "seq": _int(1),
                "msg_id": _str(160),
                "stamp": _num(0.0),
                "data": UPLINK_DATA[stream],
            }
        ),
    }


def command_envelope(command: str) -> JsonObject:
    """Schema of the JWS payload of a downlink command."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/down/{command}.json",
        "title": f"roadedge downlink '{command}' (JWS ES256 payload)",
        **_obj(
            {
                "schema": {"const": SCHEMA},
                "command": {"const": command},
                "command_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                "target": ID,
                "issued_at": _num(0.0),
                "expires_at": _num(0.0),
                "data": COMMAND_DATA[command],
            }
        ),
    }


_UPLINK_VALIDATORS = {s: Draft202012Validator(UPLINK_DATA[s]) for s in UPLINK_DATA}
_COMMAND_VALIDATORS = {c: Draft202012Validator(command_envelope(c)) for c in COMMAND_DATA}
_ENVELOPE_VALIDATORS: dict[str, Draft202012Validator] = {}


def _first_error(validator: Draft202012Validator, document: object) -> str | None:
    error = next(iter(validator.iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"[:200]


def check_uplink_data(stream: str, data: object) -> str | None:
    """None if ``data`` is valid for ``stream``, else the first problem."""
    validator = _UPLINK_VALIDATORS.get(stream)
    if validator is None:
        return f"unknown stream {stream!r}"
    return _first_error(validator, data)


def check_uplink(message: object) -> str | None:
    """Validate a whole uplink envelope (the cloud side's check; tests use it)."""
    if not isinstance(message, dict) or not isinstance(message.get("stream"), str):
        return "not an uplink envelope"
    stream = message["stream"]
    if stream not in UPLINK_DATA:
        return f"unknown stream {stream!r}"
    if stream not in _ENVELOPE_VALIDATORS:
        _ENVELOPE_VALIDATORS[stream] = Draft202012Validator(uplink_envelope(stream))
    return _first_error(_ENVELOPE_VALIDATORS[stream], message)


def check_command(command: str, payload: object) -> str | None:
    """None if ``payload`` is a valid command document of kind ``command``, else the first problem."""
    validator = _COMMAND_VALIDATORS.get(command)
    if validator is None:
        return f"unknown command {command!r}"
    return _first_error(validator, payload)


def all_documents() -> dict[str, JsonObject]:
    """File name -> schema document, as written to config/cloud/schema/."""
    docs = {f"up/{s}.json": uplink_envelope(s) for s in UPLINK_DATA}
    docs.update({f"down/{c}.json": command_envelope(c) for c in COMMAND_DATA})
    return docs


def render(document: JsonObject) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_documents(folder: Path) -> list[Path]:
    written = []
    for name, doc in all_documents().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(doc))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    for p in write_documents(Path(sys.argv[1] if len(sys.argv) > 1 else "config/cloud/schema")):
        print(p)
