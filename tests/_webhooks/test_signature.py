"""The verifier against signatures made the way Postal makes them (``lib/postal/signer.rb``):
``Base64.strict_encode64(private_key.sign(OpenSSL::Digest.new("SHA256"), body))`` and the SHA-1 twin."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from airflow_provider_mail._webhooks.refusal import WebhookRefused
from airflow_provider_mail._webhooks.signature import keys_from_jwks, load_public_key, verify_signature
from airflow_provider_mail.exceptions import MailConfigurationError

BODY = json.dumps(
    {
        "event": "MessageSent",
        "timestamp": 1.5,
        "payload": {"x": 1},
        "uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
    }
).encode()


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def postal_sign(key: rsa.RSAPrivateKey, body: bytes, algorithm: hashes.HashAlgorithm) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), algorithm)).decode()


def postal_headers(key: rsa.RSAPrivateKey, body: bytes) -> dict[str, str]:
    return {
        "X-Postal-Signature": postal_sign(key, body, hashes.SHA1()),
        "X-Postal-Signature-256": postal_sign(key, body, hashes.SHA256()),
        "X-Postal-Signature-KID": "kid",
    }


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def dkim_p(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(pem, id="pem"),
        pytest.param(dkim_p, id="dkim-p-value"),
        pytest.param(lambda key: f"v=DKIM1; t=s; h=sha256; p={dkim_p(key)};", id="whole-dkim-record"),
        pytest.param(
            lambda key: " ".join(f'"{dkim_p(key)[i : i + 200]}"' for i in range(0, len(dkim_p(key)), 200)),
            id="dkim-quoted-chunks",
        ),
    ],
)
def test_every_key_form_verifies_postal_sha256_signature(private_key, form) -> None:
    key = load_public_key(form(private_key))
    assert verify_signature(BODY, postal_headers(private_key, BODY), [key]) == "sha256"


def test_sha1_accepted_only_when_sha256_header_is_absent(private_key) -> None:
    key = load_public_key(pem(private_key))
    headers = {"X-Postal-Signature": postal_sign(private_key, BODY, hashes.SHA1())}
    assert verify_signature(BODY, headers, [key]) == "sha1"


def test_sha1_refused_when_the_connection_forbids_it(private_key) -> None:
    key = load_public_key(pem(private_key))
    headers = {"X-Postal-Signature": postal_sign(private_key, BODY, hashes.SHA1())}
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, headers, [key], allow_sha1=False)
    assert refused.value.reason == "sha1-forbidden"


def test_bad_sha256_is_not_rescued_by_a_good_sha1(private_key, other_key) -> None:
    key = load_public_key(pem(private_key))
    headers = {
        "X-Postal-Signature": postal_sign(private_key, BODY, hashes.SHA1()),
        "X-Postal-Signature-256": postal_sign(other_key, BODY, hashes.SHA256()),
    }
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, headers, [key])
    assert refused.value.reason == "bad-signature"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, sig, other: (body[:-2] + b" }", sig), id="one-byte-changed"),
        pytest.param(lambda body, sig, other: (body, other), id="other-bodys-signature"),
        pytest.param(lambda body, sig, other: (body, "not base64!"), id="garbage-header"),
        pytest.param(lambda body, sig, other: (body, ""), id="empty-header"),
    ],
)
def test_forgeries_are_refused(private_key, tamper) -> None:
    key = load_public_key(pem(private_key))
    signature = postal_sign(private_key, BODY, hashes.SHA256())
    other = postal_sign(private_key, BODY + b" ", hashes.SHA256())
    body, header = tamper(BODY, signature, other)
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(body, {"X-Postal-Signature-256": header}, [key])
    assert refused.value.reason == "bad-signature"


def test_other_key_refused(private_key, other_key) -> None:
    key = load_public_key(pem(private_key))
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, postal_headers(other_key, BODY), [key])
    assert refused.value.reason == "bad-signature"


def test_no_header_refused(private_key) -> None:
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, {}, [load_public_key(pem(private_key))])
    assert refused.value.reason == "no-signature"


def test_header_names_are_case_insensitive(private_key) -> None:
    headers = {name.lower(): value for name, value in postal_headers(private_key, BODY).items()}
    assert verify_signature(BODY, headers, [load_public_key(pem(private_key))]) == "sha256"


def test_any_configured_key_may_verify(private_key, other_key) -> None:
    keys = [load_public_key(pem(other_key)), load_public_key(pem(private_key))]
    assert verify_signature(BODY, postal_headers(private_key, BODY), keys) == "sha256"


def _jwk(key: rsa.RSAPrivateKey, **extra: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def b64url(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "e": b64url(numbers.e), "n": b64url(numbers.n), "alg": "RS256", **extra}


def test_jwks_keys_verify(private_key) -> None:
    document = json.dumps({"keys": [{"kty": "EC", "crv": "P-256"}, _jwk(private_key, use="sig", kid="k")]})
    keys = keys_from_jwks(document)
    assert len(keys) == 1
    assert verify_signature(BODY, postal_headers(private_key, BODY), keys) == "sha256"


@pytest.mark.parametrize("document", ["", "[]", '{"keys": []}', '{"keys": [{"kty": "RSA"}]}', "<html>"])
def test_jwks_without_a_usable_key_is_a_configuration_error(document) -> None:
    with pytest.raises(MailConfigurationError):
        keys_from_jwks(document, source="https://postal.example/.well-known/jwks.json")


@pytest.mark.parametrize(
    "text", ["", "hello", "p=AAAA", "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"]
)
def test_not_a_key_is_a_configuration_error_naming_the_extra(text) -> None:
    with pytest.raises(MailConfigurationError, match="webhook_public_key"):
        load_public_key(text, conn_id="sender25_default")


def test_an_ec_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(MailConfigurationError):
        load_public_key(ec_pem)
