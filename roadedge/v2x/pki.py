"""``roadedge v2x-pki``: keys and certificates of a test PKI for the V2X signed envelope.

    roadedge v2x-pki init  --dir DIR [--name root] [--days 3650]
    roadedge v2x-pki issue --dir DIR --name rsu1 [--aid 3618 --aid 3619 ...] [--days 365] [--ca root]
    roadedge v2x-pki show  FILE.cert

``init`` writes DIR/<name>.cert (self-signed trust anchor) and DIR/<name>.key (PKCS#8 PEM,
mode 0600); ``issue`` writes DIR/<name>.cert and .key signed by the CA. Copy the anchor's
.cert into the trust store folder (config/v2x/trust/) of every node that must accept it.
These are test keys: a production PKI (SCMS / the Chinese C-V2X CA) issues real ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from roadedge.v2x.security import (
    DEFAULT_AIDS,
    Certificate,
    SecurityError,
    generate_key,
    issue_certificate,
    load_key,
    save_key,
)

DAY = 86400.0


def init_ca(folder: Path, name: str = "root", days: float = 3650.0, now: float | None = None) -> Certificate:
    t = time.time() if now is None else now
    folder.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    cert = issue_certificate(key.public_key(), name, t - DAY, t + days * DAY, [], key, None, can_issue=True)
    save_key(key, folder / f"{name}.key")
    cert.save(folder / f"{name}.cert")
    return cert


def issue(
    folder: Path,
    name: str,
    aids: list[int],
    days: float = 365.0,
    ca: str = "root",
    now: float | None = None,
    valid_from: float | None = None,
) -> Certificate:
    t = time.time() if now is None else now
    ca_cert = Certificate.load(folder / f"{ca}.cert")
    ca_key = load_key(folder / f"{ca}.key")
    key = generate_key()
    start = t - DAY if valid_from is None else valid_from
    cert = issue_certificate(key.public_key(), name, start, t + days * DAY, aids, ca_key, ca_cert)
    save_key(key, folder / f"{name}.key")
    cert.save(folder / f"{name}.cert")
    return cert


def describe(cert: Certificate) -> str:
    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")

    issuer = "self" if cert.issuer is None else cert.issuer.hex()
    return (
        f"id={cert.id} digest={cert.digest.hex()} issuer={issuer} can_issue={cert.can_issue}\n"
        f"valid {iso(cert.valid_from)} .. {iso(cert.valid_until)}\n"
        f"aids={list(cert.aids)}"
    )


def pki_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="roadedge v2x-pki", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init", help="create a self-signed trust anchor (root CA)")
    p_init.add_argument("--dir", required=True, type=Path)
    p_init.add_argument("--name", default="root")
    p_init.add_argument("--days", type=float, default=3650.0)
    p_issue = sub.add_parser("issue", help="issue a signing certificate for an OBU or RSU")
    p_issue.add_argument("--dir", required=True, type=Path)
    p_issue.add_argument("--name", required=True)
    p_issue.add_argument("--aid", type=int, action="append", help="AID permitted (repeat); default: all five")
    p_issue.add_argument("--days", type=float, default=365.0)
    p_issue.add_argument("--ca", default="root")
    p_show = sub.add_parser("show", help="print a certificate")
    p_show.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            cert = init_ca(args.dir, args.name, args.days)
        elif args.command == "issue":
            aids = args.aid or sorted(DEFAULT_AIDS.values())
            cert = issue(args.dir, args.name, aids, args.days, args.ca)
        else:
            cert = Certificate.load(args.file)
    except (OSError, SecurityError, ValueError) as err:
        print(f"v2x-pki: {err}", file=sys.stderr)
        return 1
    print(describe(cert))
    return 0


if __name__ == "__main__":
    sys.exit(pki_main(sys.argv[1:]))
