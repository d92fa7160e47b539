"""A throw-away certificate authority and server certificate for the emulated relay's TLS.

Clients are meant to verify the relay (``smtp_ca_file``), so the emulator makes a small CA and a
server certificate it signed — not one self-signed leaf — because strict verifiers (Python ≥
3.13's ``VERIFY_X509_STRICT``) refuse a leaf that acts as its own CA. EC P-256 keys keep this to a
few milliseconds. ``cryptography`` is imported here only, so the package stays cheap to import.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.x509 import GeneralName

_VALIDITY = datetime.timedelta(days=3650)
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class RelayCertificate:
    """Files of a generated certificate set.

    :param ca_cert_path: the CA certificate (PEM) clients trust.
    :param cert_path: the server certificate chain (PEM: server certificate, then the CA).
    :param key_path: the server's private key (PEM, unencrypted).
    """

    ca_cert_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the certificate (no client certificates)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def make_relay_certificate(directory: Path, host: str) -> RelayCertificate:
    """Generate a CA and a server certificate valid for loopback and ``host``.

    :param directory: where to write ``ca.pem``, ``server.pem`` and ``server.key``.
    :param host: the address or name clients connect to (added to the subject alternative names).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xmailer emulator test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xmailer emulator relay")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alternative_names(host)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    paths = RelayCertificate(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_cert_path.write_bytes(ca_cert.public_bytes(pem))
    paths.cert_path.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    paths.key_path.write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def certificate_directory() -> tempfile.TemporaryDirectory[str]:
    """A private temporary directory for the certificate files, removed with the object."""
    return tempfile.TemporaryDirectory(prefix="xmailer-emulator-tls-")


def _alternative_names(host: str) -> list[GeneralName]:
    from cryptography import x509

    names: list[GeneralName] = []
    for name in dict.fromkeys((*_LOOPBACK_NAMES, host)):
        if not name:
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names
