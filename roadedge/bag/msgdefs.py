"""Message definitions and type hashes for bag metadata, from the installed interface files.

rosbag2 (Jazzy) stores with every topic the full ``ros2msg`` text of its type: the ``.msg``
file as installed, followed by each dependency's ``.msg`` behind a delimiter line
(``rosbag2_cpp::LocalMessageDefinitionSource``), and the RIHS01 type description hash.
This module builds exactly that from the ament share directories (``<prefix>/share/<pkg>/msg``)
and the repository's ``interfaces/*/msg``, takes the hash from the ``.json`` type description
that rosidl installs next to the ``.msg`` (else computes it with rosbags), and gives a rosbags
typestore that knows every type found (Jazzy's built-in store plus the project's messages).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from roadedge.bag.errors import BagError

DELIMITER = "=" * 80 + "\n"
# Same patterns as rosbag2_cpp (local_message_definition_source.cpp)
_TYPENAME = re.compile(r"^([a-zA-Z0-9_]+)/(?:msg/|srv/)?([a-zA-Z0-9_]+)$")
_FIELD_TYPE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")
_PRIMITIVES = frozenset(
    {
        "bool",
        "byte",
        "char",
        "float32",
        "float64",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "string",
    }
)
_MAX_DEPTH = 50


def default_search_paths() -> list[Path]:
    """Package share roots: AMENT_PREFIX_PATH, this interpreter's prefix, the repository interfaces."""
    roots: list[Path] = []
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            roots.append(Path(prefix) / "share")
    roots.append(Path(sys.prefix) / "share")
    roots.append(Path(__file__).resolve().parents[2] / "interfaces")
    seen: set[Path] = set()
    out = []
    for root in roots:
        if root not in seen and root.is_dir():
            seen.add(root)
            out.append(root)
    return out


def normalize_type(msgtype: str) -> str:
    """``pkg/Type`` or ``pkg/msg/Type`` -> ``pkg/msg/Type``."""
    match = _TYPENAME.match(msgtype)
    if match is None:
        raise BagError(f"message type {msgtype!r} is not of the form package/msg/Type")
    return f"{match.group(1)}/msg/{match.group(2)}"


class MessageDefinitions:
    """Finds .msg files by type name and builds rosbag2-style definitions and hashes."""

    def __init__(self, search_paths: Sequence[Path] | None = None) -> None:
        self.search_paths = list(search_paths) if search_paths is not None else default_search_paths()
        self._texts: dict[str, str | None] = {}
        self._store: Typestore | None = None

    def msg_file(self, msgtype: str, suffix: str = ".msg") -> Path | None:
        match = _TYPENAME.match(msgtype)
        if match is None:
            return None
        package, name = match.groups()
        for root in self.search_paths:
            candidate = root / package / "msg" / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
        return None

    def msg_text(self, msgtype: str) -> str | None:
        key = normalize_type(msgtype)
        if key not in self._texts:
            path = self.msg_file(key)
            self._texts[key] = path.read_text(encoding="utf-8") if path is not None else None
        return self._texts[key]

    @staticmethod
    def dependencies(text: str, package: str) -> list[str]:
        """Referenced message types of a .msg text, as rosbag2 finds them (sorted, ``pkg/Type``)."""
        deps: set[str] = set()
        for match in _FIELD_TYPE.finditer(text):
            name = match.group(1)
            if name in _PRIMITIVES:
                continue
            deps.add(name if "/" in name else f"{package}/{name}")
        return sorted(deps)

    def full_text(self, msgtype: str) -> str | None:
        """The ros2msg definition with dependencies as rosbag2 writes it; None if a .msg is missing."""
        seen: set[str] = set()

        def append(type_name: str, depth: int) -> str | None:
            if depth <= 0:
                raise BagError(f"message definition of {msgtype} nests too deep")
            text = self.msg_text(type_name)
            if text is None:
                return None
            package = type_name.split("/", 1)[0]
            result = text
            for dep in self.dependencies(text, package):
                if dep in seen:
                    continue
                seen.add(dep)
                sub = append(dep, depth - 1)
                if sub is None:
                    return None
                result += "\n" + DELIMITER + f"MSG: {dep}\n" + sub
            return result

        return append(normalize_type(msgtype), _MAX_DEPTH)

    def installed_hash(self, msgtype: str) -> str | None:
        """RIHS01 hash from the rosidl type description JSON installed with the type."""
        key = normalize_type(msgtype)
        path = self.msg_file(key, ".json")
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for entry in data.get("type_hashes", []):
                if entry.get("type_name") == key:
                    return str(entry["hash_string"])
        except (ValueError, KeyError, TypeError):
            return None
        return None

    def typestore(self, extra_types: Iterable[str] = ()) -> Typestore:
        """Jazzy's typestore plus every message type found in the search paths' packages."""
        if self._store is None:
            store = get_typestore(Stores.ROS2_JAZZY)
            self._register_packages(store)
            self._store = store
        for msgtype in extra_types:
            self._ensure(self._store, normalize_type(msgtype))
        return self._store

    def _register_packages(self, store: Typestore) -> None:
        """Register the project's own interface packages (those not in the built-in store)."""
        known_packages = {name.split("/", 1)[0] for name in store.fielddefs}
        types: dict[str, object] = {}
        for root in self.search_paths:
            for msg in sorted(root.glob("*/msg/*.msg")):
                package = msg.parent.parent.name
                name = f"{package}/msg/{msg.stem}"
                if package in known_packages or name in store.fielddefs or name in types:
                    continue
                try:
                    types.update(get_types_from_msg(msg.read_text(encoding="utf-8"), name))
                except Exception:
                    continue
        if types:
            store.register(types)  # type: ignore[arg-type]

    def _ensure(self, store: Typestore, msgtype: str) -> None:
        if msgtype in store.fielddefs:
            return
        text = self.msg_text(msgtype)
        if text is None:
            raise BagError(
                f"no message definition for {msgtype} (searched {', '.join(map(str, self.search_paths))})"
            )
        store.register(get_types_from_msg(text, msgtype))
        for dep in self.dependencies(text, msgtype.split("/", 1)[0]):
            self._ensure(store, normalize_type(dep))

    def definition(self, msgtype: str) -> tuple[str, str]:
        """(ros2msg full text, RIHS01 hash) for the bag metadata of a topic of this type."""
        key = normalize_type(msgtype)
        store = self.typestore([key])
        text = self.full_text(key)
        if text is None:
            text, _ = store.generate_msgdef(key, ros_version=2)
        digest = self.installed_hash(key) or store.hash_rihs01(key)
        return text, digest
