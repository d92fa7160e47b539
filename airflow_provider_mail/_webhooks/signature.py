"""Postal's webhook signature: RSA PKCS#1 v1.5 over the exact body bytes (``lib/postal/signer.rb``).

Postal sends ``X-Postal-Signature-256`` (SHA-256, since 3.2), ``X-Postal-Signature`` (SHA-1, every
release) and ``X-Postal-Signature-KID``, each signature base64 (``Base64.strict_encode64``). The key is
the installation's signing key; its public half is given to a receiver as

* a PEM (``-----BEGIN PUBLIC KEY-----``), or
* the ``p=`` value of Postal's DKIM-style TXT record ``postal._domainkey.rp.<host>`` (base64 of the
  DER ``SubjectPublicKeyInfo``), bare or as the whole record, or
* the JWKS at ``https://<host>/.well-known/jwks.json`` (:func:`keys_from_jwks`).

The rule, decided here once: the SHA-256 header is used whenever it is present (a bad SHA-256 signature
is never rescued by a good SHA-1 one); the SHA-1 header only when the SHA-256 header is absent and SHA-1
is allowed. The key id is not trusted to pick a key: every configured key is tried (a handful at most).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from airflow_provider_mail._webhooks.refusal import WebhookRefused
from airflow_provider_mail.exceptions import MailConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

SHA256_HEADER = "X-Postal-Signature-256"
SHA1_HEADER = "X-Postal-Signature"
KID_HEADER = "X-Postal-Signature-KID"
#: A 16384-bit RSA signature is 2048 bytes, ~2.7 KB in base64: anything longer is not a signature.
_MAX_SIGNATURE_CHARS = 4096
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_DKIM_P = re.compile(r"(?:^|;)\s*p\s*=\s*([^;]*)", re.IGNORECASE)


def load_public_key(text: str, *, conn_id: str = "?") -> RSAPublicKey:
    """Read a Postal signing key's public half: a PEM, the DKIM ``p=`` value, or the whole DKIM record.

    Quotes and whitespace (a TXT record split into quoted strings, a PEM pasted into a form) are ignored.

    :param text: the key as the user pasted it.
    :param conn_id: names the connection in the error.
    :raises MailConfigurationError: it is not an RSA public key in one of these forms.
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    stripped = text.strip()
    try:
        if "-----BEGIN" in stripped:
            key = load_pem_public_key(stripped.encode("ascii"))
        else:
            value = stripped.replace('"', "")
            match = _DKIM_P.search(value) if "=" in value.rstrip("=") else None
            if match:
                value = match.group(1)
            der = base64.b64decode("".join(value.split()), validate=True)
            key = load_der_public_key(der)
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        key = None
    if not isinstance(key, RSAPublicKey):
        raise MailConfigurationError(
            f"Connection {conn_id!r}: extra 'webhook_public_key' is not an RSA public key; paste the PEM, "
            "or the p= value of the postal._domainkey TXT record (base64)"
        )
    return key


def keys_from_jwks(document: bytes | str, *, source: str = "the JWKS") -> list[RSAPublicKey]:
    """The RSA signing keys of a JWKS document (``{"keys": [{"kty": "RSA", "n": …, "e": …}]}``).

    Keys for another use than ``sig`` and non-RSA keys are skipped.

    :param document: the JSON text.
    :param source: names the document in the error (a URL, never a secret).
    :raises MailConfigurationError: not a JWKS, or no RSA signing key in it.
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    try:
        parsed = json.loads(document)
        entries = parsed["keys"] if isinstance(parsed, dict) else None
    except (ValueError, KeyError, TypeError):
        entries = None
    keys: list[RSAPublicKey] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        try:
            numbers = RSAPublicNumbers(_b64url_int(entry["e"]), _b64url_int(entry["n"]))
            keys.append(numbers.public_key())
        except (KeyError, TypeError, ValueError, binascii.Error):
            continue
    if not keys:
        raise MailConfigurationError(f"{source} holds no RSA signing key")
    return keys


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    keys: Sequence[RSAPublicKey],
    *,
    allow_sha1: bool = True,
) -> str:
    """Check the Postal signature of ``body``; return the algorithm that verified (``sha256``/``sha1``).

    :param body: the exact bytes received (before any JSON parsing).
    :param headers: the request headers; looked up case-insensitively.
    :param keys: the public keys of the connection (any one may verify).
    :param allow_sha1: accept ``X-Postal-Signature`` when ``X-Postal-Signature-256`` is absent.
    :raises WebhookRefused: ``no-signature``, ``sha1-forbidden`` or ``bad-signature``.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    lowered = {name.lower(): value for name, value in headers.items()}
    sha256 = lowered.get(SHA256_HEADER.lower())
    sha1 = lowered.get(SHA1_HEADER.lower())
    digest: hashes.HashAlgorithm
    if sha256 is not None:
        algorithm, encoded, digest = "sha256", sha256, hashes.SHA256()
    elif sha1 is not None:
        if not allow_sha1:
            raise WebhookRefused("sha1-forbidden", "only a SHA-1 signature, and SHA-1 is not allowed")
        algorithm, encoded, digest = "sha1", sha1, hashes.SHA1()  # noqa: S303 - Postal's legacy header
    else:
        raise WebhookRefused("no-signature", "no X-Postal-Signature-256 or X-Postal-Signature header")
    signature = _decode_signature(encoded)
    for key in keys:
        try:
            key.verify(signature, body, padding.PKCS1v15(), digest)
        except InvalidSignature:
            continue
        return algorithm
    raise WebhookRefused("bad-signature", f"the {algorithm} signature does not verify with any key")


def _decode_signature(encoded: str) -> bytes:
    value = encoded.strip()
    if not value or len(value) > _MAX_SIGNATURE_CHARS or not _B64.match(value):
        raise WebhookRefused("bad-signature", "the signature header is not base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRefused("bad-signature", "the signature header is not base64") from None


def _b64url_int(value: str) -> int:
    if not isinstance(value, str):
        raise TypeError("not a string")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big")
