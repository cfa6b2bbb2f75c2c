"""Test harness: every run gets DDS of its own, and helpers wait for conditions, not time.

Before rclpy is imported anywhere this sets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, a
ROS_DOMAIN_ID no other run on this machine holds (claimed with a lock file), ROS_HOME and
ROS_LOG_DIR in a temporary folder (removed at exit unless ROADEDGE_KEEP_TEST_LOGS is set), a
Fast DDS profile that announces participants quickly, and field checks of generated messages.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from roadedge import local_dds

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv"))
NODE_BIN = VENV / "lib" / "roadedge"
FASTDDS_PROFILE = ROOT / "config" / "dds" / "fastdds_localhost.xml"


def _isolate_dds() -> None:
    local_dds.isolate(new_domain=True)
    home = Path(tempfile.mkdtemp(prefix="roadedge-test-"))
    if not os.environ.get("ROADEDGE_KEEP_TEST_LOGS"):  # the ROS logs go with the run unless asked for
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["ROS_HOME"] = str(home)
    os.environ["ROS_LOG_DIR"] = str(home / "log")
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(FASTDDS_PROFILE)
    os.environ["ROS_PYTHON_CHECK_FIELDS"] = "1"
    os.environ["RCUTILS_COLORIZED_OUTPUT"] = "0"
    os.environ["PYTHONUNBUFFERED"] = "1"


_isolate_dds()


class RosHarness:
    """A node of the test's own with an executor, to publish, subscribe and wait."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"test_harness_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def add_node(self, node: Any) -> None:
        self.executor.add_node(node)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(
        self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        """Spin until predicate() is true; fail with ``what`` after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.01)

    def wait_for_matched(self, endpoint: Any, count: int = 1, timeout: float = 15.0) -> None:
        """Wait until a publisher has ``count`` subscribers (or a subscription has publishers)."""
        counter = (
            endpoint.get_subscription_count
            if hasattr(endpoint, "get_subscription_count")
            else endpoint.get_publisher_count
        )
        self.spin_until(
            lambda: counter() >= count, timeout, f"{count} matched endpoint(s) on {endpoint.topic_name}"
        )

    def collect(self, msg_type: Any, topic: str, qos: Any = None) -> list[Any]:
        """Subscribe and return the list that received messages are appended to."""
        from roadedge.ros.qos import qos_for

        received: list[Any] = []
        self.node.create_subscription(msg_type, topic, received.append, qos or qos_for(topic))
        return received

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def ros() -> Iterator[RosHarness]:
    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.close()


class NodeProcess:
    """An executable from <venv>/lib/roadedge started as its own process."""

    def __init__(self, executable: str, args: list[str], log: Path) -> None:
        self.executable = executable
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [str(NODE_BIN / executable), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start node executables: ``node_process("chassis_emulator", params="file.yaml", ros_args=[...])``."""
    started: list[NodeProcess] = []

    def start(
        executable: str, params: str | Path | None = None, ros_args: list[str] | None = None
    ) -> NodeProcess:
        args = ["--ros-args"]
        if params is not None:
            args += ["--params-file", str(params)]
        args += ros_args or []
        proc = NodeProcess(executable, args, tmp_path / f"{executable}-{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def python_cmd() -> list[str]:
    return [sys.executable]
