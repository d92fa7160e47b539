"""Canned bodies of responses that are not the service's JSON envelope.

Two families, because a real deployment has two layers in front of the client:

* the reverse proxy (nginx/Caddy): 301/308 redirects, 413, 429, 502, 503, 504 pages;
* the Rails application hosting Postal: its ``public/404.html`` and ``public/500.html`` pages, the
  JSON variants Rails renders when the client asks for ``application/json``, and the bodies the
  Moonrope middleware answers with on its own.

Kept in one module so the fault injector and the emulated service render byte-identical pages.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from ._http import HTML_UTF8, JSON_UTF8, HttpResponse

MOONROPE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Type", "application/json"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "*"),
)

_RAILS_PAGE = """<!DOCTYPE html>
<html>
<head>
  <title>{title}</title>
  <meta name="viewport" content="width=device-width,initial-scale=1">
</head>
<body class="rails-default-error-page">
  <div class="dialog">
    <div>
      <h1>{heading}</h1>
      <p>{explanation}</p>
    </div>
    <p>If you are the application owner check the logs for more information.</p>
  </div>
</body>
</html>
"""

RAILS_404_HTML = _RAILS_PAGE.format(
    title="The page you were looking for doesn't exist (404)",
    heading="The page you were looking for doesn't exist.",
    explanation="You may have mistyped the address or the page may have moved.",
).encode()

RAILS_500_HTML = _RAILS_PAGE.format(
    title="We're sorry, but something went wrong (500)",
    heading="We're sorry, but something went wrong.",
    explanation="The server hit an unexpected condition while handling your request.",
).encode()

_RAILS_PAGES = {404: RAILS_404_HTML, 500: RAILS_500_HTML}


def wants_json(accept: str | None) -> bool:
    """Tell whether Rails would pick JSON for an error page, from the ``Accept`` header.

    Rails looks at the first acceptable format only, so ``*/*`` (what most HTTP libraries send)
    yields the HTML page.

    :param accept: the request's ``Accept`` header, or ``None``.
    """
    if not accept:
        return False
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first == "application/json"


def rails_error_page(status: int, accept: str | None) -> HttpResponse:
    """Render the response of Rails' public-exceptions handler for ``status``.

    :param status: 400, 404 or 500 (Postal ships HTML pages for 404 and 500 only; other codes
        get an empty HTML body).
    :param accept: the request's ``Accept`` header: ``application/json`` gets
        ``{"status": <int>, "error": <reason>}`` (note the integer ``status``).
    """
    if wants_json(accept):
        payload = {"status": status, "error": HTTPStatus(status).phrase}
        return HttpResponse(
            status, (("Content-Type", JSON_UTF8),), json.dumps(payload, separators=(",", ":")).encode()
        )
    return HttpResponse(status, (("Content-Type", HTML_UTF8),), _RAILS_PAGES.get(status, b""))


def rails_json_500() -> HttpResponse:
    """Rails' JSON 500 body, whatever the client accepts (a fault forces this variant)."""
    body = json.dumps({"status": 500, "error": "Internal Server Error"}, separators=(",", ":")).encode()
    return HttpResponse(500, (("Content-Type", JSON_UTF8),), body)


def moonrope_body(status: int, payload: dict[str, object]) -> HttpResponse:
    """A Moonrope middleware response: JSON without charset, with its CORS headers.

    :param status: the HTTP status (400 for invalid-json / unknown action, 500 for a crash).
    :param payload: the body object, e.g. ``{"status": "internal-server-error"}``.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HttpResponse(status, MOONROPE_HEADERS, body)


# nginx's status lines differ from the RFC phrases for these.
_NGINX_PHRASES = {
    413: "Request Entity Too Large",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def nginx_page(status: int, *, extra_headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    """The stock nginx error page for ``status`` (what a fronting proxy answers on its own).

    :param status: e.g. 301, 413, 429, 502, 503, 504.
    :param extra_headers: e.g. ``Location`` or ``Retry-After``.
    """
    line = f"{status} {_NGINX_PHRASES.get(status) or HTTPStatus(status).phrase}"
    body = (
        f"<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n"
        f"<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    return HttpResponse(status, (("Content-Type", "text/html"), *extra_headers), body)


MAINTENANCE_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Service temporarily unavailable</title></head>\n"
    b"<body><h1>We'll be back soon</h1><p>The service is undergoing maintenance.</p></body></html>\n"
)
