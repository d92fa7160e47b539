"""Remove a connection's secrets from any text before it is raised or logged, in every form they take.

A secret leaks in more shapes than its raw value: URL-encoded in a GET query string, escaped in a
``repr`` (a trailing newline becomes ``\\n``), JSON-escaped when a server echoes it back.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"


def secret_forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` that may appear in a text: raw, stripped, URL-encoded, escaped.

    :param secret: the secret value.
    """
    forms = set()
    for value in {secret, secret.strip()}:
        if not value:
            continue
        forms |= {
            value,
            quote(value, safe=""),
            quote_plus(value),
            quote(value),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value)[1:-1],
            value.encode("unicode_escape").decode("ascii"),
            html.escape(value),
            " ".join(value.split()),  # as a page that collapses whitespace shows it
        }
    # very short values would redact ordinary words; a real key or password is longer
    return {form for form in forms if len(form) >= 4}


class Redactor:
    """Replace every form of the given secrets with ``***``.

    :param secrets: the values to hide (empty ones are ignored).
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= secret_forms(secret)
        self._forms = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers

    @property
    def forms(self) -> list[str]:
        """The spellings that are replaced (for registering with Airflow's log masker)."""
        return list(self._forms)

    def __call__(self, text: str) -> str:
        """Return ``text`` without any form of the secrets.

        :param text: any text.
        """
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text
