"""Runner profiles: which nodes a deployment starts, with which parameter files.

A profile (``config/profiles/<name>.yaml``) is read by both the in-process runner
(``roadedge run <name>``) and the launch files, so the two start the same graph::

    description: vehicle stack of a sweeper
    parameters: [vehicle/sweeper_s1.yaml]     # deployment files, relative to config/
    nodes:
      - executable: chassis_hal               # an executable of setup.py's NODES
        name: chassis_hal                      # optional, default: the executable
        namespace: ""                          # optional
        parameters: [chassis/sweeper_map.yaml] # optional, extra files for this node
        respawn: true                          # launch only: restart a crashed driver
        remappings: {from: to}                 # optional
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadedge.config import ConfigError, load_yaml

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PACKAGE_ROOT / "config"
PROFILE_DIR = CONFIG_DIR / "profiles"


@dataclass(frozen=True)
class NodeEntry:
    executable: str
    name: str
    namespace: str = ""
    parameters: tuple[Path, ...] = ()
    respawn: bool = False
    remappings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    parameters: tuple[Path, ...]
    nodes: tuple[NodeEntry, ...] = field(default_factory=tuple)

    def parameter_files(
        self, entry: NodeEntry, deployment: tuple[Path, ...] | None = None
    ) -> tuple[Path, ...]:
        """Files a node reads: the deployment files (or a replacement), then its own."""
        return (*(self.parameters if deployment is None else deployment), *entry.parameters)


def _paths(value: Any, where: str, config_dir: Path) -> tuple[Path, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a file name or a list of them")
    return tuple(config_dir / v for v in value)


def _entry(raw: Any, where: str, config_dir: Path) -> NodeEntry:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("executable"), str):
        raise ConfigError(f"{where}: each node needs an 'executable'")
    unknown = set(raw) - {"executable", "name", "namespace", "parameters", "respawn", "remappings"}
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}'")
    remap = raw.get("remappings") or {}
    if not isinstance(remap, Mapping):
        raise ConfigError(f"{where}.remappings: expected a mapping")
    return NodeEntry(
        executable=raw["executable"],
        name=str(raw.get("name") or raw["executable"]),
        namespace=str(raw.get("namespace") or ""),
        parameters=_paths(raw.get("parameters"), f"{where}.parameters", config_dir),
        respawn=bool(raw.get("respawn", False)),
        remappings=tuple((str(k), str(v)) for k, v in remap.items()),
    )


def load_profile(name_or_path: str | Path, config_dir: Path = CONFIG_DIR) -> Profile:
    """A profile by name (config/profiles/<name>.yaml) or by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = config_dir / "profiles" / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (config_dir / "profiles").glob("*.yaml"))
        raise ConfigError(
            f"profile {str(name_or_path)!r} not found ({path}); known profiles: {', '.join(known)}"
        )
    raw = load_yaml(path)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("nodes"), list):
        raise ConfigError(f"{path}: a profile needs a 'nodes' list")
    nodes = tuple(_entry(n, f"{path}: nodes[{i}]", config_dir) for i, n in enumerate(raw["nodes"]))
    names = [(n.namespace, n.name) for n in nodes]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"{path}: node name used twice: {sorted(duplicates)[0]}")
    return Profile(
        name=path.stem,
        description=str(raw.get("description", "")),
        parameters=_paths(raw.get("parameters"), f"{path}: parameters", config_dir),
        nodes=nodes,
    )


def available_profiles(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in (config_dir / "profiles").glob("*.yaml"))
