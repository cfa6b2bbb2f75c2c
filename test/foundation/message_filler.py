"""Fill any generated ROS message with distinct non-default values (for round-trip tests)."""

from __future__ import annotations

import importlib
import re
from typing import Any

INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "byte", "octet", "char"}


def _value(type_name: str, seed: int) -> Any:
    sequence = re.fullmatch(r"sequence<(.+?)(?:, \d+)?>", type_name)
    if sequence:
        return [_value(sequence.group(1), seed + i) for i in range(2)]
    array = re.fullmatch(r"(.+)\[(\d+)\]", type_name)
    if array:
        return [_value(array.group(1), seed + i) for i in range(int(array.group(2)))]
    if type_name == "boolean":
        return seed % 2 == 1
    if type_name in ("octet", "byte"):
        return bytes([seed % 256])
    if type_name in INTS:
        return seed % 100 + 1
    if type_name in ("float", "double"):
        return seed + 0.5
    if type_name.startswith("string") or type_name.startswith("wstring"):
        return f"s{seed}"
    package, name = type_name.split("/")
    return fill(getattr(importlib.import_module(f"{package}.msg"), name)(), seed + 1)


def fill(msg: Any, seed: int = 1) -> Any:
    for i, (field, type_name) in enumerate(msg.get_fields_and_field_types().items()):
        setattr(msg, field, _value(type_name, seed + i))
    return msg
