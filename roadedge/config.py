"""The one configuration loader: ROS 2 parameter YAML files checked against typed schemas.

A node's parameters are a frozen dataclass (its schema). The same YAML files feed the
launch files (``--params-file``) and the in-process runner, and both go through
:func:`validate` so that an unknown parameter, a wrong type or a missing required value
stops the node at start with a message naming the parameter and the file.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml

S = TypeVar("S")

#: Parameters every ROS 2 node accepts; a schema need not declare them.
ROS_BUILTIN_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service"})


class ConfigError(Exception):
    """A configuration problem; the message names the parameter and where it came from."""


def param(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A schema field with its description and optional range or choices.

    ``param(help=...)`` without a default makes the parameter required.
    """
    metadata = {"help": help, "low": low, "high": high, "choices": choices}
    if isinstance(default, list):
        frozen = list(default)
        return dataclasses.field(default_factory=lambda: list(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing or malformed file is a ConfigError naming it."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: file not found")
    try:
        with file.open() as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: not valid YAML: {err}") from err


def _flatten(prefix: str, tree: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            _flatten(name, value, out)
        else:
            out[name] = value


def _node_matches(pattern: str, fully_qualified: str) -> bool:
    pattern = pattern if pattern.startswith("/") else "/" + pattern
    if pattern in ("/**", fully_qualified):
        return True
    if pattern.startswith("/**/"):
        return fully_qualified.endswith(pattern[3:])
    return False


def parameters_from_file(path: str | Path, node_name: str, namespace: str = "/") -> dict[str, Any]:
    """The parameters a ROS 2 params file gives one node (``/**`` entries first, then its own)."""
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of node names at the top level")
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    fully_qualified = f"{ns}/{node_name}"
    result: dict[str, Any] = {}
    ordered = sorted(data.items(), key=lambda item: 0 if str(item[0]) in ("/**", "**") else 1)
    for pattern, section in ordered:
        if not _node_matches(str(pattern), fully_qualified):
            continue
        if not isinstance(section, Mapping) or not isinstance(section.get("ros__parameters"), Mapping):
            raise ConfigError(f"{path}: section {pattern!r} needs a 'ros__parameters' mapping")
        _flatten("", section["ros__parameters"], result)
    return result


def declared_sections(path: str | Path) -> list[str]:
    """Node names (patterns) a params file has sections for."""
    data = load_yaml(path)
    return [str(key) for key in data] if isinstance(data, Mapping) else []


def schema_fields(schema: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """Parameter name (dots for nesting, from ``__`` in field names) -> dataclass field."""
    return {f.name.replace("__", "."): f for f in dataclasses.fields(schema)}


def _resolved_types(schema: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(schema)


class _Mismatch(Exception):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(detail)
        self.name, self.detail = name, detail


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """value as the annotated type; raises _Mismatch naming the (list item) parameter."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if value is None and len(options) < len(get_args(annotation)):
            return None
        first: _Mismatch | None = None
        for option in options:
            try:
                return _coerce(value, option, name)
            except _Mismatch as err:
                first = first or err
        assert first is not None
        raise first
    got = f"got {type(value).__name__} {value!r}"
    if origin is list:
        (item_type,) = get_args(annotation) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(name, f"expected a list, {got}")
        return [_coerce(item, item_type, f"{name}[{i}]") for i, item in enumerate(value)]
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise _Mismatch(name, f"expected true or false, {got}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Mismatch(name, f"expected an integer, {got}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Mismatch(name, f"expected a number, {got}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise _Mismatch(name, f"expected a string, {got}")
        return value
    raise _Mismatch(name, f"unsupported parameter type {annotation!r}")


def _check_range(value: Any, field: dataclasses.Field[Any], where: str) -> None:
    low, high, choices = field.metadata.get("low"), field.metadata.get("high"), field.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"{where}: NaN is not allowed")
        if low is not None and value < low:
            raise ConfigError(f"{where}: {value} is below the minimum {low}")
        if high is not None and value > high:
            raise ConfigError(f"{where}: {value} is above the maximum {high}")


def validate(values: Mapping[str, Any], schema: type[S], *, node: str, source: str) -> S:
    """Build the schema from raw parameter values, or raise ConfigError naming the problem.

    ``source`` names where the values came from (a file path, "launch arguments" ...).
    """
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"{schema!r} is not a dataclass schema")
    fields = schema_fields(schema)
    hints = _resolved_types(schema)
    unknown = sorted(set(values) - set(fields) - ROS_BUILTIN_PARAMETERS)
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ConfigError(
            f"{source}: node '{node}' has no parameter '{unknown[0]}'"
            + (f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else "")
            + f"; it declares: {known}"
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        where = f"{source}: parameter '{name}' of node '{node}'"
        if name in values:
            try:
                value = _coerce(values[name], hints[field.name], name)
            except _Mismatch as err:
                raise ConfigError(
                    f"{source}: parameter '{err.name}' of node '{node}': {err.detail}"
                ) from None
            _check_range(value, field, where)
            kwargs[field.name] = value
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"{source}: node '{node}' needs parameter '{name}' ({field.metadata.get('help', '')})"
            )
    return schema(**kwargs)


def load_node_parameters(path: str | Path, node_name: str, schema: type[S], namespace: str = "/") -> S:
    """Parameters of one node from a params file, validated against its schema."""
    return validate(
        parameters_from_file(path, node_name, namespace), schema, node=node_name, source=str(path)
    )


def defaults(schema: type[S]) -> dict[str, Any]:
    """Default value of every optional parameter of a schema (required ones are left out)."""
    out: dict[str, Any] = {}
    for name, field in schema_fields(schema).items():
        if field.default is not dataclasses.MISSING:
            out[name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            out[name] = field.default_factory()
    return out
