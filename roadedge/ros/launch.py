"""Launch descriptions built from runner profiles, so `ros2 launch` and `roadedge run` start the same graph.

Imported only by the files in launch/ on a real ROS 2 install (launch and launch_ros are
not on the Python package index).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchContext, LaunchDescription
from roadedge.profiles import CONFIG_DIR, load_profile


def _nodes(context: LaunchContext, profile_name: str) -> list[Any]:
    profile = load_profile(profile_name, _config_dir())
    params_file = LaunchConfiguration("params_file").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context)
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).lower() in ("true", "1")
    deployment = (Path(params_file),) if params_file else None
    actions = []
    for entry in profile.nodes:
        files = [str(p) for p in profile.parameter_files(entry, deployment)]
        ns = "/".join(part for part in (namespace.strip("/"), entry.namespace.strip("/")) if part)
        actions.append(
            Node(
                package="roadedge",
                executable=entry.executable,
                name=entry.name,
                namespace=ns,
                parameters=[*files, {"use_sim_time": use_sim_time}],
                remappings=list(entry.remappings),
                respawn=entry.respawn,
                respawn_delay=2.0 if entry.respawn else 0.0,
                output="screen",
                emulate_tty=True,
            )
        )
    return actions


def _config_dir() -> Path:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("roadedge")) / "config"
    except Exception:
        return CONFIG_DIR


def profile_launch_description(profile_name: str) -> LaunchDescription:
    """Arguments: params_file (replaces the profile's deployment files), namespace, use_sim_time."""
    profile = load_profile(profile_name, _config_dir())
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value="",
                description="deployment parameter file (default: "
                + ", ".join(str(p.relative_to(_config_dir())) for p in profile.parameters)
                + ")",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of every node"),
            DeclareLaunchArgument("use_sim_time", default_value="false", description="follow /clock"),
            OpaqueFunction(function=lambda context: _nodes(context, profile_name)),
        ]
    )
