"""Keep DDS on this machine, with a domain of its own: the one place tests, benchmarks and
scripts get ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a unique ROS_DOMAIN_ID.

A domain is claimed with a lock file in ``$TMPDIR/roadedge-domains`` (``tools/with_env.sh``
uses the same files), held until the process exits, so concurrent runs never share one.
Call before rclpy is initialised.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path
from typing import IO

_held: list[IO[str]] = []


#: Domain ids whose RTPS ports (7400 + 250 * id + 10 + 2 * participant, 120 participants) stay below
#: Linux's ephemeral port range (32768 and up). Above it, a participant's well-known port can be an
#: ephemeral port another socket holds or held: a V2X radio socket of a test once received RTPS
#: datagrams meant for a participant of domain 1xx.
MAX_SAFE_DOMAIN_ID = 100


def claim_domain_id(low: int = 1, high: int = MAX_SAFE_DOMAIN_ID) -> int:
    """A domain id in [low, high] that no other process on this machine holds, kept until exit."""
    lock_dir = Path(tempfile.gettempdir()) / "roadedge-domains"
    lock_dir.mkdir(exist_ok=True)
    candidates = list(range(low, high + 1))
    random.Random(os.getpid()).shuffle(candidates)
    for domain in candidates:
        handle = (lock_dir / f"{domain}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _held.append(handle)
        return domain
    raise RuntimeError("no free ROS_DOMAIN_ID")


def isolate(*, new_domain: bool = False) -> int:
    """Discovery on localhost only and a domain of our own (kept if one is set, unless new_domain)."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.pop("ROS_LOCALHOST_ONLY", None)
    if new_domain or not os.environ.get("ROS_DOMAIN_ID"):
        os.environ["ROS_DOMAIN_ID"] = str(claim_domain_id())
    return int(os.environ["ROS_DOMAIN_ID"])
