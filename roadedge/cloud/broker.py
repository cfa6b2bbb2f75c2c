"""Run Debian's mosquitto as a child process: the real broker for tests, benches and HIL rigs.

Never the system service: each broker gets its own config, port on 127.0.0.1, persistence
folder, TLS files and ACL. ``kill()`` is a crash (SIGKILL), ``stop()`` a clean shutdown.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from roadedge.cloud.pki import TestPki

INSTALL_HINT = "mosquitto is not installed: run tools/install_mosquitto.sh (Debian package 'mosquitto')"


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or FileNotFoundError with the way to install it."""
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if path is None:
        raise FileNotFoundError(INSTALL_HINT)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def acl_text(ops_user: str = "ops-centre") -> str:
    """The ACL of config/cloud/acl.example: each device its own subtree, the centre everything."""
    return (
        f"user {ops_user}\n"
        "topic read roadedge/v1/+/+/+/up/#\n"
        "topic write roadedge/v1/+/+/+/down/#\n"
        "\n"
        "pattern write roadedge/v1/+/+/%u/up/#\n"
        "pattern read roadedge/v1/+/+/%u/down/#\n"
    )


class MosquittoBroker:
    def __init__(self, folder: Path, pki: TestPki, port: int | None = None, acl: str | None = None) -> None:
        self.binary = find_mosquitto()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port() if port is None else port
        self.pki = pki
        self.log_file = folder / "mosquitto.log"
        (folder / "data").mkdir(exist_ok=True)
        acl_file = folder / "acl"
        acl_file.write_text(acl_text() if acl is None else acl)
        user = "user root\n" if os.geteuid() == 0 else ""
        self.config_file = folder / "mosquitto.conf"
        self.config_file.write_text(
            f"{user}"
            "per_listener_settings false\n"
            "allow_anonymous false\n"
            "persistence true\n"
            f"persistence_location {folder / 'data'}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 20\n"
            f"log_dest file {self.log_file}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"acl_file {acl_file}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {pki.ca_file}\n"
            f"certfile {pki.broker.cert}\n"
            f"keyfile {pki.broker.key}\n"
            "require_certificate true\n"
            "use_identity_as_username true\n"
            "tls_version tlsv1.2\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_file)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {err}{log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout_s} s")

    def wait_persisted(self, after: float, timeout_s: float = 10.0) -> None:
        """Wait until mosquitto has autosaved (sessions, subscriptions) after time ``after``."""
        db = self.folder / "data" / "mosquitto.db"
        deadline = time.monotonic() + timeout_s
        while not (db.exists() and db.stat().st_mtime > after):
            if time.monotonic() > deadline:
                raise TimeoutError("mosquitto did not autosave its persistence file")
            time.sleep(0.05)

    def _end(self, sig: int, timeout_s: float) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Clean shutdown (mosquitto saves its persistence file)."""
        self._end(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing saved beyond the last autosave."""
        self._end(signal.SIGKILL, 5.0)
