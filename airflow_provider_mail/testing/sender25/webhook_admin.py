"""The emulator's admin routes for webhooks (``/_emulator/webhooks…``), so a test or demo in another process
can register URLs, read the public key and the attempts, and inject receiver-side faults.

* ``GET  webhooks``            → ``{"endpoints": [...], "requests": [...], "kid", "public_pem", "dkim"}``
* ``POST webhooks``            ``{"url": ..., "events": [...] | null}`` → the endpoint
* ``POST webhooks/faults``     ``{"fault": "duplicate"|"lost_response", "count": 1}``
* ``POST webhooks/trigger``    ``{"event": ..., "payload": {...}}`` → the queued requests (any event)
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from airflow_provider_mail.testing._http import HttpRequest, HttpResponse
from airflow_provider_mail.testing._server import admin_json

from .webhooks import WebhookDispatcher


def webhook_admin(dispatcher: WebhookDispatcher, request: HttpRequest, route: str) -> HttpResponse | None:
    """Serve one webhook admin route, or ``None`` for an unknown one.

    :param dispatcher: the emulator's webhook dispatcher.
    :param request: the admin request.
    :param route: the path after ``/_emulator/``, without slashes around it.
    """
    endpoint = (request.method, route)
    if endpoint == ("GET", "webhooks"):
        return HttpResponse.json(200, describe(dispatcher))
    if endpoint == ("POST", "webhooks"):
        spec = admin_json(request)
        added = dispatcher.add_endpoint(spec["url"], spec.get("events"))
        return HttpResponse.json(200, asdict(added))
    if endpoint == ("POST", "webhooks/faults"):
        spec = admin_json(request)
        dispatcher.inject(spec["fault"], int(spec.get("count", 1)))
        return HttpResponse.json(200, {"fault": spec["fault"], "count": int(spec.get("count", 1))})
    if endpoint == ("POST", "webhooks/trigger"):
        spec = admin_json(request)
        created = dispatcher.trigger(spec["event"], spec.get("payload") or {})
        return HttpResponse.json(200, [item.as_dict() for item in created])
    return None


def describe(dispatcher: WebhookDispatcher) -> dict[str, Any]:
    """Endpoints, requests and the public key (never the private one)."""
    return {
        "endpoints": [asdict(item) for item in dispatcher.endpoints],
        "requests": [item.as_dict() for item in dispatcher.requests()],
        "kid": dispatcher.signer.kid,
        "public_pem": dispatcher.signer.public_pem,
        "dkim": dispatcher.signer.dkim_value,
    }
