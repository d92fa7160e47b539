"""TLS verification settings, resolved once per connection and applied identically by both drivers.

requests reads ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` and httpx reads ``SSL_CERT_FILE``; left to
themselves one connection could verify on the worker and fail in the triggerer. Here one CA bundle is
chosen (the connection's ``verify`` path, else those variables in a fixed order, else certifi's) and
both drivers get it.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from functools import lru_cache

CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass(frozen=True)
class TlsSettings:
    """What to trust: ``verify`` False trusts anything; otherwise ``ca_bundle`` is the one file (or dir).

    :param verify: whether certificates are verified.
    :param ca_bundle: the CA bundle path used for verification.
    """

    verify: bool
    ca_bundle: str | None

    @property
    def requests_verify(self) -> bool | str:
        """The value of ``requests.Session.verify`` for these settings."""
        return self.ca_bundle or True if self.verify else False

    def ssl_context(self) -> ssl.SSLContext:
        """The ``ssl.SSLContext`` for these settings (shared, built once)."""
        return _context(self)


def resolve_tls(verify: bool | str) -> TlsSettings:
    """Resolve a connection's ``verify`` extra (bool or CA bundle path) into :class:`TlsSettings`.

    :param verify: the connection's ``verify`` value.
    """
    if verify is False:
        return TlsSettings(verify=False, ca_bundle=None)
    if isinstance(verify, str):
        return TlsSettings(verify=True, ca_bundle=verify)
    for name in CA_BUNDLE_VARIABLES:
        if os.environ.get(name):
            return TlsSettings(verify=True, ca_bundle=os.environ[name])
    import certifi  # both requests and httpx depend on it: their own default, kept

    return TlsSettings(verify=True, ca_bundle=certifi.where())


@lru_cache(maxsize=16)
def _context(settings: TlsSettings) -> ssl.SSLContext:
    if not settings.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    bundle = settings.ca_bundle
    if bundle and os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)
