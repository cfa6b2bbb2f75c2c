"""In-process runner: a profile's nodes composed on one executor (single-threaded by default).

Reads the same profile and parameter files as the launch files, validates every node's
parameters before anything spins, and stops every node safely on SIGINT/SIGTERM.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from roadedge.config import ConfigError, parameters_from_file
from roadedge.profiles import NodeEntry, Profile
from roadedge.ros.node import spin_until_signal

#: Python packages holding node modules (``NODE`` class per module), in lookup order.
NODE_PACKAGES = ("roadedge_nodes", "roadedge_hil")


def node_class(executable: str) -> Any:
    """The node class of an executable (module ``<package>.<executable>`` exposing ``NODE``)."""
    for package in NODE_PACKAGES:
        try:
            module = importlib.import_module(f"{package}.{executable}")
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{executable}":
                raise
            continue
        if not hasattr(module, "NODE"):
            raise ConfigError(f"executable '{executable}' ({module.__name__}) has no NODE class to compose")
        return module.NODE
    raise ConfigError(f"unknown executable '{executable}' (looked in {', '.join(NODE_PACKAGES)})")


def make_executor(threads: int = 1, context: Any = None) -> Executor:
    """Single-threaded by default, as each node runs under ``ros2 launch``. Under the GIL more
    threads buy no parallelism and rclpy's thread pool costs more than it gains. Measured on 2 cores:
    the slice (8 s) 1.3 s CPU with 1 thread at a full 50 Hz, 3.0 s with 2, 5.4 s with 4 (and dropped
    status samples); the vehicle stack working on the HIL rig 0.66-0.77 cores at its full rates with 1
    thread, 1.03 cores with 2 and odometry at 16-24 Hz instead of 50. The chassis' timing does not
    depend on it: its watchdog and CAN sender run in a process of their own.
    """
    if threads <= 1:
        return SingleThreadedExecutor(context=context)
    return MultiThreadedExecutor(num_threads=threads, context=context)


def node_parameters(entry: NodeEntry, files: Sequence[Path]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in files:
        values.update(parameters_from_file(path, entry.name, entry.namespace or "/"))
    return values


def create_nodes(
    profile: Profile,
    *,
    deployment: tuple[Path, ...] | None = None,
    use_sim_time: bool = False,
    overrides: dict[str, dict[str, Any]] | None = None,
    context: Any = None,
) -> list[Any]:
    """Instantiate every node of a profile; ConfigError names the first bad parameter."""
    nodes = []
    try:
        for entry in profile.nodes:
            files = profile.parameter_files(entry, deployment)
            values = node_parameters(entry, files)
            values.update((overrides or {}).get(entry.name, {}))
            if use_sim_time:
                values["use_sim_time"] = True
            cls = node_class(entry.executable)
            node = cls(
                name=entry.name,
                namespace=entry.namespace or None,
                parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
                config_source=", ".join(str(f) for f in files) or "defaults",
                cli_args=[arg for a, b in entry.remappings for arg in ("--ros-args", "-r", f"{a}:={b}")]
                or None,
                context=context,
            )
            nodes.append(node)
    except Exception:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def run_profile(
    profile: Profile,
    *,
    duration: float | None = None,
    deployment: tuple[Path, ...] | None = None,
    use_sim_time: bool = False,
    extra_nodes: Callable[[], list[Any]] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    threads: int = 1,
) -> int:
    """Run until SIGINT/SIGTERM or ``duration`` seconds; 0 on a clean stop, 2 on bad configuration."""
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            nodes = create_nodes(
                profile, deployment=deployment, use_sim_time=use_sim_time, overrides=overrides
            )
        except ConfigError as err:
            print(f"configuration error: {err}")
            return 2
        nodes += extra_nodes() if extra_nodes else []
        executor = make_executor(threads)
        for node in nodes:
            executor.add_node(node)
        deadline = None if duration is None else time.monotonic() + duration
        spin_until_signal(executor, nodes, until=(lambda: time.monotonic() >= deadline) if deadline else None)
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        return 0
    finally:
        if rclpy.ok():
            rclpy.shutdown()
