"""Static checks: every executable, parameter file and path named by launch files and
profiles exists, and every parameter in config/ is declared by the node that reads it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from roadedge.config import load_yaml, parameters_from_file, validate
from roadedge.profiles import CONFIG_DIR, available_profiles, load_profile
from roadedge.ros.node import AUTOSTART
from roadedge.ros.runner import node_class

ROOT = Path(__file__).resolve().parents[2]
VENV_LIB = ROOT / ".venv" / "lib" / "roadedge"


def node_table() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(getattr(t, "id", "") == "NODES" for t in stmt.targets):
            return dict(ast.literal_eval(stmt.value))
    raise AssertionError("setup.py has no NODES table")


NODES = node_table()


@pytest.mark.parametrize("executable", sorted(NODES))
def test_every_executable_has_a_composable_node_and_a_launcher(executable: str) -> None:
    module, _, func = NODES[executable].partition(":")
    assert func == "main"
    cls = node_class(executable)
    assert cls.__module__ == module, f"{executable}: setup.py says {module}, runner finds {cls.__module__}"
    assert hasattr(cls, "Schema") and hasattr(cls, "default_name")
    assert (VENV_LIB / executable).is_file(), f"run tools/install_layout.py: no launcher for {executable}"


@pytest.mark.parametrize("profile_name", available_profiles())
def test_profiles_name_existing_executables_and_files_with_declared_parameters(profile_name: str) -> None:
    profile = load_profile(profile_name)
    for entry in profile.nodes:
        assert entry.executable in NODES, f"{profile_name}: unknown executable {entry.executable}"
        cls = node_class(entry.executable)
        files = profile.parameter_files(entry)
        values: dict[str, object] = {}
        for path in files:
            assert path.is_file(), f"{profile_name}: {entry.name}: missing parameter file {path}"
            values.update(parameters_from_file(path, entry.name, entry.namespace or "/"))
        values.pop(AUTOSTART, None)
        validate(values, cls.Schema, node=entry.name, source=", ".join(map(str, files)))


def launch_profiles() -> list[tuple[Path, str]]:
    found = []
    for launch_file in sorted((ROOT / "launch").glob("*.launch.py")):
        names = re.findall(r'profile_launch_description\("([^"]+)"\)', launch_file.read_text())
        assert names, f"{launch_file.name} does not start a profile"
        found += [(launch_file, n) for n in names]
    return found


def test_the_four_launch_files_exist() -> None:
    assert {p.name for p in (ROOT / "launch").glob("*.launch.py")} >= {
        "vehicle.launch.py",
        "roadside.launch.py",
        "hil.launch.py",
        "replay.launch.py",
    }


@pytest.mark.parametrize(
    ("launch_file", "profile_name"), launch_profiles(), ids=lambda v: getattr(v, "name", v)
)
def test_launch_files_start_existing_profiles(launch_file: Path, profile_name: str) -> None:
    assert profile_name in available_profiles(), f"{launch_file.name}: no profile {profile_name}"
    ast.parse(launch_file.read_text())


def parameter_files() -> list[Path]:
    files = []
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        data = load_yaml(path)
        if isinstance(data, dict) and any(
            isinstance(v, dict) and "ros__parameters" in v for v in data.values()
        ):
            files.append(path)
    return files


@pytest.mark.parametrize("path", parameter_files(), ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_every_node_section_in_config_belongs_to_a_node_that_declares_its_parameters(path: Path) -> None:
    by_name = {e.name: e for p in available_profiles() for e in load_profile(p).nodes}
    for section in load_yaml(path):
        name = str(section).rstrip("/").split("/")[-1]
        if name == "**":
            continue
        entry = by_name.get(name)
        executable = entry.executable if entry else name
        assert executable in NODES, (
            f"{path}: section {section!r} matches no node of any profile or executable"
        )
        namespace = str(section).rsplit("/", 1)[0] if "/" in str(section) else "/"
        values = parameters_from_file(path, name, namespace or "/")
        assert values or not load_yaml(path)[section]["ros__parameters"], f"{path}: {section} not resolved"
        values.pop(AUTOSTART, None)
        validate(values, node_class(executable).Schema, node=name, source=str(path))
