"""SIZE limits, extension markers and named bits of the CSAE 53 module, as checked against public
texts of the standard (see the V2X section of the README for the list and the sources).

UPER puts these on the wire (the width of a length or an index, an extension bit), so each one
is pinned by its encoding, not only by the parse tree.
"""

from __future__ import annotations

from typing import Any

import pytest

from roadedge.v2x import codec


def _bits(type_name: str, value: Any) -> str:
    data = codec.encode(type_name, value)
    return "".join(f"{b:08b}" for b in data)


def test_transmission_state_has_no_extension_marker() -> None:
    # 8 values in 3 bits, no extension bit in front: "unavailable" (7) is 111
    assert codec.encode("TransmissionState", "unavailable") == bytes([0b11100000])
    assert codec.encode("TransmissionState", "forwardGears") == bytes([0b01000000])
    tree = codec.parsed()["TransmissionState"]
    assert "..." not in str(tree)


@pytest.mark.parametrize(
    ("type_name", "value", "prefix"),
    [
        ("LightState", "flashing-yellow", "01000"),  # extension bit 0, then 8 in 4 bits
        ("ParticipantType", "rsu", "0100"),  # extension bit 0, then 4 in 3 bits
        ("SourceType", "integrated", "0111"),  # extension bit 0, then 7 in 3 bits
        ("EventSource", "detection", "0101"),  # extension bit 0, then 5 in 3 bits
        ("ResponseType", "stopAndGoMovement", "0110"),  # extension bit 0, then 6 in 3 bits
        ("LightbarInUse", "slowMovingVehicle", "110"),  # no extension: 6 in 3 bits
        ("SirenInUse", "inUse", "10"),  # no extension: 2 in 2 bits
    ],
)
def test_enumerations_and_their_extension_markers(type_name: str, value: str, prefix: str) -> None:
    assert _bits(type_name, value).startswith(prefix)


@pytest.mark.parametrize(
    ("type_name", "nbits", "expected_bits"),
    [
        ("VehicleEventFlags", 13, 1 + 13),  # SIZE(13, ...): extension bit + 13
        ("ExteriorLights", 9, 1 + 9),  # SIZE(9, ...)
        ("IntersectionStatusObject", 16, 16),  # SIZE(16)
        ("AllowedManeuvers", 12, 12),  # SIZE(12)
        ("GNSSstatus", 8, 8),  # SIZE(8)
        ("BrakeAppliedStatus", 5, 5),  # SIZE(5)
        ("LaneSharing", 10, 10),  # SIZE(10)
    ],
)
def test_bit_string_sizes(type_name: str, nbits: int, expected_bits: int) -> None:
    nbytes = (nbits + 7) // 8
    value = ((((1 << nbits) - 1) << (8 * nbytes - nbits)).to_bytes(nbytes, "big"), nbits)  # all set
    data = codec.encode(type_name, value)
    assert len(data) == (expected_bits + 7) // 8
    assert _bits(type_name, value)[: expected_bits - nbits] == "0" * (expected_bits - nbits)  # extension bit
    if expected_bits == nbits:  # a fixed SIZE: another length is refused
        with pytest.raises(codec.CodecError):
            codec.encode(type_name, (bytes(4), nbits + 1))


def _list_type(type_name: str) -> tuple[int, int]:
    spec = codec.parsed()[type_name]
    (size,) = spec["size"]
    return int(size[0]), int(size[1])


@pytest.mark.parametrize(
    ("type_name", "bounds"),
    [
        ("NodeList", (1, 63)),
        ("LinkList", (1, 32)),
        ("LaneList", (1, 32)),
        ("MovementList", (1, 32)),
        ("PointList", (2, 31)),
        ("SpeedLimitList", (1, 9)),
        ("ConnectsToList", (1, 8)),
        ("IntersectionStateList", (1, 32)),
        ("PhaseList", (1, 16)),
        ("PhaseStateList", (1, 16)),
        ("PathHistoryPointList", (1, 23)),
        ("RTEList", (1, 8)),
        ("RTSList", (1, 16)),
        ("ReferencePathList", (1, 8)),
        ("ReferenceLinkList", (1, 16)),
        ("PathPointList", (2, 32)),
        ("ParticipantList", (1, 16)),
    ],
)
def test_sequence_of_size_limits(type_name: str, bounds: tuple[int, int]) -> None:
    assert _list_type(type_name) == bounds


def test_string_size_limits() -> None:
    assert codec.encode("DescriptiveName", "x" * 63)
    with pytest.raises(codec.CodecError):
        codec.encode("DescriptiveName", "x" * 64)
    assert codec.encode("Description", ("textString", "x" * 512))
    with pytest.raises(codec.CodecError):
        codec.encode("Description", ("textString", "x" * 513))
    assert codec.encode("Description", ("textGB2312", b"\xb0\xa1" * 256))
    with pytest.raises(codec.CodecError):
        codec.encode("Description", ("textGB2312", b"\xb0"))
