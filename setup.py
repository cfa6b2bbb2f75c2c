"""ament_python build of roadedge: library, node executables, and shared data."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "roadedge"
ROOT = Path(__file__).parent

# Node executables: name -> module:function. launch files and runner profiles name these.
NODES = {
    "chassis_emulator": "roadedge_hil.chassis_emulator:main",
    "speed_controller": "roadedge_nodes.speed_controller:main",
    "planner": "roadedge_nodes.planner:main",
    "controller": "roadedge_nodes.controller:main",
    "scenario_world": "roadedge_hil.scenario_world:main",
    "scenario_signals": "roadedge_hil.scenario_signals:main",
    "object_sensor": "roadedge_hil.object_sensor:main",
    "v2x_forger": "roadedge_hil.v2x_forger:main",
    "roadside_sensor": "roadedge_hil.roadside_sensor:main",
    "gnss_receiver": "roadedge_nodes.gnss_receiver:main",
    "localization": "roadedge_nodes.localization:main",
    "gnss_emulator": "roadedge_hil.gnss_emulator:main",
    "curb_sensor": "roadedge_hil.curb_sensor:main",
    "perception": "roadedge_nodes.perception:main",
    "roadside_perception": "roadedge_nodes.roadside_perception:main",
    "camera": "roadedge_hil.camera:main",
    "chassis_hal": "roadedge_nodes.chassis_hal:main",
    "chassis_ecu": "roadedge_hil.chassis_ecu:main",
    "equipment_modbus": "roadedge_nodes.equipment_modbus:main",
    "equipment_modbus_slave": "roadedge_hil.equipment_modbus_slave:main",
    "v2x_obu": "roadedge_nodes.v2x_obu:main",
    "v2x_rsu": "roadedge_nodes.v2x_rsu:main",
    "radio_emulator": "roadedge_hil.radio_emulator:main",
    "signal_controller": "roadedge_hil.signal_controller:main",
    "recorder": "roadedge_nodes.recorder:main",
    "cloud_bridge": "roadedge_nodes.cloud_bridge:main",
}


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing folder/** under share/roadedge/folder."""
    entries: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            rel = path.relative_to(ROOT)
            entries.setdefault(f"share/{PACKAGE}/{rel.parent}", []).append(str(rel))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[*find_packages(include=["roadedge", "roadedge.*"]), "roadedge_nodes", "roadedge_hil"],
    package_dir={"roadedge_nodes": "nodes", "roadedge_hil": "hil"},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *tree("launch"),
        *tree("config"),
        *tree("models"),
        *tree("hil"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="roadedge developers",
    description="Edge runtime for autonomous urban-service fleets (ROS 2, CSAE 53 C-V2X)",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            *(f"{name} = {target}" for name, target in NODES.items()),
            "roadedge = roadedge.cli:main",
        ],
    },
)
