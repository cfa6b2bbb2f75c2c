"""Fixtures of the cloud-link tests: a real mosquitto on 127.0.0.1 with TLS client certificates
and an ACL, an operations centre, and bridges. A missing mosquitto FAILS the tests (no skip)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import STATE, state, wait  # noqa: F401  (re-exported for tests)

from roadedge.cloud.auth import CommandVerifier, load_public_key
from roadedge.cloud.bridge import CloudBridge, CommandHandler, LinkConfig
from roadedge.cloud.broker import MosquittoBroker, find_mosquitto
from roadedge.cloud.layout import DeviceIdentity, Profile
from roadedge.cloud.opscentre import OpsCentre
from roadedge.cloud.pki import TestPki
from roadedge.cloud.queue import StoreAndForwardQueue


@pytest.fixture(scope="session")
def mosquitto_binary() -> str:
    try:
        return find_mosquitto()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def broker(mosquitto_binary: str, pki: TestPki, tmp_path: Path) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(tmp_path / "broker", pki)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def ops(broker: MosquittoBroker, pki: TestPki) -> Iterator[OpsCentre]:
    files = pki.client("ops-centre")
    centre = OpsCentre(
        "127.0.0.1", broker.port, str(pki.ca_file), str(files.cert), str(files.key), pki.ops_key
    )
    centre.start()
    yield centre
    centre.stop()


class BridgeFactory:
    def __init__(self, broker: MosquittoBroker, pki: TestPki, folder: Path) -> None:
        self.broker, self.pki, self.folder = broker, pki, folder
        self.bridges: list[CloudBridge] = []

    def link(self, device: str, **overrides: Any) -> LinkConfig:
        files = self.pki.client(device)
        settings: dict[str, Any] = {
            "port": self.broker.port,
            "ca_file": str(self.pki.ca_file),
            "cert_file": str(files.cert),
            "key_file": str(files.key),
            "keepalive_s": 2,
            "reconnect_min_s": 1,
            "reconnect_max_s": 1,
            "cloud_ack_timeout_s": 5.0,
        }
        settings.update(overrides)
        return LinkConfig(**settings)

    def __call__(
        self,
        device: str = "sw-0001",
        profile: Profile = "vehicle",
        handler: CommandHandler | None = None,
        capacity: int = 100_000,
        start: bool = True,
        **link: Any,
    ) -> CloudBridge:
        ident = DeviceIdentity("city", "north", device, profile)
        queue = StoreAndForwardQueue(self.folder / f"{device}.db", capacity=capacity)
        keys = {"ops-1": load_public_key(self.pki.ops_public_file.read_bytes())}
        verifier = CommandVerifier(ident, keys, queue, time.time)
        bridge = CloudBridge(ident, self.link(device, **link), queue, verifier, handler)
        if start:
            bridge.start()
        self.bridges.append(bridge)
        return bridge

    def close(self) -> None:
        for b in self.bridges:
            b.stop()
            b.queue.close()


@pytest.fixture
def make_bridge(broker: MosquittoBroker, pki: TestPki, tmp_path: Path) -> Iterator[BridgeFactory]:
    factory = BridgeFactory(broker, pki, tmp_path / "queues")
    yield factory
    factory.close()
