"""A throw-away PKI for tests, benches and HIL rigs: CA, broker and device certificates, ops key.

Everything is ECDSA P-256. NOT for production: a real deployment's CA key lives offline and
device keys are created on the device (CSR); see config/cloud/README.md.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "roadedge test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass(frozen=True)
class ClientFiles:
    cert: Path
    key: Path


class TestPki:
    """Writes ca.crt, broker.{crt,key}, <cn>.{crt,key}, ops.{key,pub} under ``folder``."""

    __test__ = False  # not a pytest class

    def __init__(self, folder: Path, days: int = 7) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._days = days
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("roadedge test CA"))
            .issuer_name(_name("roadedge test CA"))
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_file = folder / "ca.crt"
        self.ca_file.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))
        self.broker = self._issue("broker", server=True)
        self.ops_key = ec.generate_private_key(ec.SECP256R1())
        self.ops_public_file = folder / "ops.pub"
        self.ops_public_file.write_bytes(
            self.ops_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self._clients: dict[str, ClientFiles] = {}

    def client(self, cn: str) -> ClientFiles:
        """Certificate and key of a device (or the operations centre) with common name ``cn``."""
        if cn not in self._clients:
            self._clients[cn] = self._issue(cn, server=False)
        return self._clients[cn]

    def _issue(self, cn: str, server: bool) -> ClientFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self._days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        files = ClientFiles(self.folder / f"{cn}.crt", self.folder / f"{cn}.key")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(_pem_key(key))
        files.key.chmod(0o600)
        return files
