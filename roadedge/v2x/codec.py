"""UPER codec of the CSAE 53-2020 MessageFrame (asn1tools, compiled once per process).

Values are asn1tools' Python form: SEQUENCE -> dict, CHOICE -> (name, value), BIT STRING ->
(bytes, number_of_bits), ENUMERATED -> str, OCTET STRING -> bytes.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import asn1tools

ASN1_DIR = Path(__file__).parent / "asn1"
MODULE_FILE = ASN1_DIR / "csae53_2020.asn"
MODULE_NAME = "CSAE53-2020"
FRAME_TYPE = "MessageFrame"

#: Largest frame the codec accepts: a PC5 application payload never exceeds this.
MAX_FRAME_BYTES = 8192

#: MessageFrame CHOICE alternatives in the order of the standard.
FRAME_KINDS = ("bsmFrame", "mapFrame", "rsmFrame", "spatFrame", "rsiFrame")


class CodecError(ValueError):
    """A frame that cannot be encoded or decoded; ``kind`` names the counter it belongs to."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@functools.lru_cache(maxsize=1)
def spec() -> Any:
    """The compiled module (compiled on first use, then cached)."""
    return asn1tools.compile_files(str(MODULE_FILE), "uper")


@functools.lru_cache(maxsize=1)
def parsed() -> dict[str, Any]:
    """asn1tools' parse tree of the module's types (name -> description)."""
    tree: dict[str, Any] = asn1tools.parse_files(str(MODULE_FILE))
    types: dict[str, Any] = tree[MODULE_NAME]["types"]
    return types


def encode(type_name: str, value: Any) -> bytes:
    """Encode ``value`` as ``type_name``; constraint violations raise CodecError('encode')."""
    try:
        return bytes(spec().encode(type_name, value, check_constraints=True))
    except Exception as exc:  # asn1tools raises many kinds; all mean "cannot encode"
        raise CodecError("encode_error", f"{type(exc).__name__}: {exc}") from exc


def decode(type_name: str, data: bytes) -> Any:
    """Decode ``data`` as ``type_name``; any malformed input raises CodecError, never more."""
    if len(data) > MAX_FRAME_BYTES:
        raise CodecError("oversized", f"{len(data)} bytes > {MAX_FRAME_BYTES}")
    if not data:
        raise CodecError("truncated", "empty frame")
    try:
        return spec().decode(type_name, data, check_constraints=True)
    except Exception as exc:
        text = str(exc)
        kind = "truncated" if "out of data" in text.lower() else "decode_error"
        raise CodecError(kind, f"{type(exc).__name__}: {text[:200]}") from exc


def encode_frame(kind: str, message: dict[str, Any]) -> bytes:
    """Encode one MessageFrame alternative (``kind`` one of FRAME_KINDS)."""
    return encode(FRAME_TYPE, (kind, message))


def decode_frame(data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a MessageFrame into (kind, message dict)."""
    value = decode(FRAME_TYPE, data)
    if not (isinstance(value, tuple) and len(value) == 2 and value[0] in FRAME_KINDS):
        # an unknown extension alternative of the CHOICE
        raise CodecError("unsupported_frame", f"frame alternative {value[0] if value else '?'}")
    kind, message = value
    return str(kind), dict(message)
