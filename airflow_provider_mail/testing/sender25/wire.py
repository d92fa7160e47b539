"""The bytes of Sender25 (Postal legacy API) answers, per flavour.

Flavours (reference doc §0, §9):

* ``rails`` — Postal ≥ 3.3.3: Rails controllers. ``application/json; charset=utf-8``, no CORS
  headers, ``time`` rounded to 3 decimals and always present, error ``data`` lists ``code``
  last (``data.merge(code: …)``).
* ``rails-3.3.1`` — the same, with the 3.3.1 to 3.3.2 ``_expansions`` bug.
* ``moonrope`` — Postal ≤ 3.3.0: the Moonrope middleware. ``application/json`` plus
  ``Access-Control-Allow-*`` headers, ``time`` rounded to 2 decimals and ``null`` on
  authentication errors, error ``data`` lists ``code`` first.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from airflow_provider_mail.testing._http import JSON_UTF8, HttpRequest, HttpResponse
from airflow_provider_mail.testing._pages import MOONROPE_HEADERS

RAILS = "rails"
RAILS_3_3_1 = "rails-3.3.1"
MOONROPE = "moonrope"
FLAVOURS = (RAILS, RAILS_3_3_1, MOONROPE)


def check_flavour(flavour: str) -> str:
    """Return ``flavour`` if it is a known flavour.

    :param flavour: ``rails``, ``rails-3.3.1`` or ``moonrope``.
    :raises ValueError: naming the known flavours otherwise.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")
    return flavour


class ApiError(Exception):
    """An ``error`` envelope.

    :param code: ``data.code``, e.g. ``NoRecipients``.
    :param message: ``data.message``; ``None`` leaves the key out (Rails' ServerSuspended).
    :param extra: further ``data`` attributes in order (``token``, ``id``, ``action``…).
    :param null_time: report ``time: null`` (Moonrope's authentication errors).
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        extra: dict[str, Any] | None = None,
        *,
        null_time: bool = False,
    ):
        super().__init__(code)
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.null_time = null_time

    def data(self, flavour: str) -> dict[str, Any]:
        """Return ``data`` with the key order of ``flavour``.

        :param flavour: the emulated flavour.
        """
        message = {} if self.message is None else {"message": self.message}
        if flavour == MOONROPE:
            return {"code": self.code, **message, **self.extra}
        return {**message, **self.extra, "code": self.code}


def encode_json(value: Any) -> bytes:
    """Serialise like ActiveSupport (both flavours run inside Rails): compact, UTF-8, with
    ``<``, ``>``, ``&`` and the JS line separators escaped as ``\\uXXXX``.

    :param value: the JSON-compatible value.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # These characters only ever occur inside JSON strings, so replacing them is safe.
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text.encode("utf-8")


def round_time(flavour: str, seconds: float) -> float:
    """Round the server-side duration like the flavour does (3 decimals Rails, 2 Moonrope).

    :param flavour: the emulated flavour.
    :param seconds: the measured duration.
    """
    return round(seconds, 2 if flavour == MOONROPE else 3)


def envelope(status: str, time: float | None, data: Any) -> dict[str, Any]:
    """Build the 200 envelope, keys in the wire order ``status, time, flags, data``.

    :param status: ``success``, ``error`` or ``parameter-error``.
    :param time: the rounded duration or ``None``.
    :param data: the payload.
    """
    return {"status": status, "time": time, "flags": {}, "data": data}


def app_headers(
    flavour: str, request: HttpRequest, content_type: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Header fields every application answer carries in ``flavour``.

    :param flavour: the emulated flavour.
    :param request: the request (Moonrope echoes ``Access-Control-Request-Headers``).
    :param content_type: overrides the JSON content type (Moonrope's ``OPTIONS`` is text/plain).
    """
    if flavour == MOONROPE:
        headers = [(name, value) for name, value in MOONROPE_HEADERS if name != "Content-Type"]
        headers.insert(0, ("Content-Type", content_type or "application/json"))
        requested = request.header("Access-Control-Request-Headers")
        if requested:
            headers.append(("Access-Control-Allow-Headers", requested))
    else:
        headers = [("Content-Type", content_type or JSON_UTF8)]
    # Both flavours sit in the Rails middleware stack, which adds these to everything.
    headers.append(("X-Request-Id", str(uuid.uuid4())))
    return tuple(headers)


def envelope_response(
    flavour: str, request: HttpRequest, payload: dict[str, Any], runtime: float
) -> HttpResponse:
    """Render an envelope as the flavour's HTTP 200 answer.

    :param flavour: the emulated flavour.
    :param request: the request being answered.
    :param payload: the envelope from :func:`envelope`.
    :param runtime: seconds spent, for ``X-Runtime``.
    """
    headers = (*app_headers(flavour, request), ("X-Runtime", f"{runtime:.6f}"))
    return HttpResponse(200, headers, encode_json(payload))
