"""An in-process v2x_obu on a loopback radio link with a test PKI, and the diagnostics reader, for the
V2X DDS tests.

The radio socket plays the PC5 module: the OBU sends its frames to it, and the test sends frames to the
OBU's bound port. Another station's frames come from :func:`signed_outgo` under the same root.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclpy.parameter import Parameter
from roadedge_nodes.v2x_obu import V2xObu

from roadedge.v2x import pki, security
from roadedge.v2x.pipeline import Outgo
from roadedge.v2x.security import DEFAULT_AIDS, Certificate


def test_pki(folder: Path, *stations: str) -> Path:
    """A root and a BSM certificate per station in ``folder``; the trust folder holding the root."""
    pki.init_ca(folder)
    for name in stations:
        pki.issue(folder, name, [DEFAULT_AIDS["bsmFrame"]])
    trust = folder / "trust"
    trust.mkdir()
    (trust / "root.cert").write_bytes((folder / "root.cert").read_bytes())
    return trust


test_pki.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def signed_outgo(folder: Path, station: str) -> Outgo:
    """Frames signed as ``station`` (issued by :func:`test_pki`)."""
    return Outgo(
        security.Signer(
            security.load_key(folder / f"{station}.key"), Certificate.load(folder / f"{station}.cert"), 0.0
        )
    )


@dataclass
class ObuOnRadio:
    obu: Any
    radio: socket.socket
    port: int  # the OBU's own port: frames sent here reach it

    def send(self, frame: bytes) -> None:
        self.radio.sendto(frame, ("127.0.0.1", self.port))


@contextmanager
def obu_on_radio(ros: Any, trust: Path, **parameters: Any) -> Iterator[ObuOnRadio]:
    """A v2x_obu with these parameters, active on a loopback radio link; stopped and destroyed after."""
    radio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    radio.bind(("127.0.0.1", 0))
    radio.settimeout(0.05)
    values = {"bind_port": 0, "radio_port": radio.getsockname()[1], "trust_dir": str(trust), **parameters}
    obu = V2xObu(context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    ros.add_node(obu)
    try:
        ros.spin_until(lambda: obu.active, timeout=10.0, what="v2x_obu active")
        assert obu.station is not None and obu.station.link is not None
        yield ObuOnRadio(obu, radio, obu.station.link.local_address[1])
    finally:
        radio.close()
        obu.trigger_deactivate()
        obu.on_safe_stop()
        obu.close_device()
        ros.executor.remove_node(obu)
        obu.destroy_node()


def diag_values(arrays: list[Any], node: str) -> dict[str, str]:
    """The values a node reported on /diagnostics, the latest of each key."""
    out: dict[str, str] = {}
    for arr in arrays:
        for status in arr.status:
            if status.name.startswith(f"{node}:"):
                out.update({kv.key: kv.value for kv in status.values})
    return out
