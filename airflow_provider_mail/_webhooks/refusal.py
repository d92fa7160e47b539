"""Why a webhook was refused: one exception, one stable reason code (logged, never sent back)."""

from __future__ import annotations

from airflow_provider_mail.exceptions import MailProviderError

#: Every reason a request can be refused for. The receiver answers each with the same bare 4xx.
REASONS = frozenset(
    {
        "unknown-connection",  # no such connection, not a sender25 connection, or no key to verify with
        "no-signature",  # neither X-Postal-Signature-256 nor (when allowed) X-Postal-Signature
        "sha1-forbidden",  # only the SHA-1 header, and the connection forbids SHA-1
        "bad-signature",  # the signature does not verify over the exact body bytes
        "too-large",  # the body is over the connection's bound
        "malformed",  # not a Postal envelope (JSON object with event, timestamp, payload, uuid)
        "stale",  # the envelope's timestamp is older than the accepted window
        "future",  # the envelope's timestamp is too far in the future
    }
)


class WebhookRefused(MailProviderError):
    """A webhook request that must not be recorded.

    :param reason: one of :data:`REASONS` (a stable code for logs and tests).
    :param detail: a short explanation for the server log; never shown to the caller and never
        holding the body, a signature or a key.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(f"webhook refused ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail
