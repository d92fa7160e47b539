"""Remove a connection's secrets from any text before it is raised or logged, in every form they take.

A secret leaks in more shapes than its raw value: URL-encoded in a GET query string, escaped in a
``repr`` (a trailing newline becomes ``\\n``), JSON-escaped when a server echoes it back.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

REDACTED = "***"
#: The shortest run of a secret's characters that an echo is redacted for (a shorter one would hit
#: ordinary words; eight characters of a random key already narrow it down a lot).
MIN_ECHOED_RUN = 8


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

    def echoed(self, text: str) -> str:
        """Return ``text`` without any form of the secrets, nor any run of :data:`MIN_ECHOED_RUN` or more
        of their characters (a server that echoes a key may cut it, or wrap it mid-way).

        For answers that are known to echo what they were sent (an API's authentication errors): it
        costs more than :meth:`__call__`.

        :param text: any text.
        """
        text = self(text)
        decoded = unquote_plus(text)
        if decoded != text and self(decoded) != decoded:  # encoded in a way no form foresaw
            text = self(decoded)
        for form in self._forms:
            text = _cut_runs(text, form)
        return text

    def json(self, value: Any) -> Any:
        """A copy of a JSON value with every string (keys too) passed through :meth:`echoed`.

        :param value: a decoded JSON value.
        """
        if isinstance(value, str):
            return self.echoed(value)
        if isinstance(value, dict):
            return {self.echoed(str(key)): self.json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item) for item in value]
        return value


#: A URL's query string with at least one ``name=value`` pair.
_QUERY_STRING = re.compile(r"\?[^\s'\"<>()]*=[^\s'\"<>()]*")


def without_query_strings(text: str) -> str:
    """``text`` with every URL query string replaced by ``?***`` (a GET report's carries the password).

    :param text: any text, typically a library's error message quoting the URL it called.
    """
    return _QUERY_STRING.sub("?" + REDACTED, text)


def _cut_runs(text: str, secret: str) -> str:
    """Replace every run of at least :data:`MIN_ECHOED_RUN` characters of ``text`` found in ``secret``."""
    if len(secret) < MIN_ECHOED_RUN or len(text) < MIN_ECHOED_RUN:
        return text
    pieces: list[str] = []
    start = i = 0
    while i <= len(text) - MIN_ECHOED_RUN:
        if text[i : i + MIN_ECHOED_RUN] not in secret:
            i += 1
            continue
        end = i + MIN_ECHOED_RUN
        while end < len(text) and text[i : end + 1] in secret:
            end += 1
        pieces += [text[start:i], REDACTED]
        start = i = end
    return "".join([*pieces, text[start:]])
