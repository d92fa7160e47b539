"""The emulated Sender25 HTTP application: routing, authentication, parameters, envelopes.

One request goes through the same stages as in Postal:

1. routing — the four legacy API paths; anything else gets the flavour's not-found answer;
2. authentication (reference doc §2) — before any parameter is looked at;
3. parameter sourcing (:mod:`.sender25_params`) and the action (:mod:`.sender25_send`,
   :mod:`.sender25_messages`);
4. rendering — the 200 envelope, or the framework's 400/500 answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from airflow_provider_mail.testing._http import AppOutcome, HttpRequest, HttpResponse
from airflow_provider_mail.testing._pages import moonrope_body, rails_error_page
from airflow_provider_mail.testing._server import admin_json

from .messages import deliveries, message
from .params import MalformedParams, ParameterError, ServiceCrash, source_params
from .send import send_message, send_raw
from .store import ActionContext, MailServer, Sender25Backend
from .webhook_admin import webhook_admin
from .webhooks import WebhookDispatcher
from .wire import MOONROPE, ApiError, app_headers, envelope, envelope_response, round_time

Action = Callable[[ActionContext, dict[str, Any]], Any]

ROUTES: dict[str, tuple[str, str, Action]] = {
    "/api/v1/send/message": ("send", "message", send_message),
    "/api/v1/send/raw": ("send", "raw", send_raw),
    "/api/v1/messages/message": ("messages", "message", message),
    "/api/v1/messages/deliveries": ("messages", "deliveries", deliveries),
}
#: Postal's JWKS of the webhook signing key (``config/routes.rb``: ``.well-known/jwks.json``).
JWKS_PATH = "/.well-known/jwks.json"
# Rails routes the legacy API for these verbs (HEAD rides on GET); others hit the 404 page.
RAILS_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH"})


class Sender25Service:
    """The :class:`~._server.Application` emulating Postal's legacy HTTP API.

    :param backend: the installation's state (servers, messages, flavour, clock).
    """

    def __init__(self, backend: Sender25Backend, webhooks: WebhookDispatcher | None = None):
        self.backend = backend
        self.webhooks = webhooks

    # -- API -------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> AppOutcome:
        """Answer one API request as the current flavour would.

        :param request: the request.
        """
        flavour = self.backend.flavour
        started = time.perf_counter()
        route = ROUTES.get(request.path)
        if request.path == JWKS_PATH and request.method in ("GET", "HEAD") and self.webhooks is not None:
            return AppOutcome(HttpResponse.json(200, self.webhooks.signer.jwks()))
        if route is None:
            return AppOutcome(_unknown_path_response(flavour, request))
        before_action = _before_action_response(flavour, request)
        if before_action is not None:
            return AppOutcome(before_action)
        controller, action_name, action = route

        api_key = request.header("X-Server-API-Key")
        try:
            server = self._authenticate(flavour, api_key, controller, action_name)
        except ApiError as error:
            # Only a key that was looked up has a validity; a missing one has none.
            valid = None if error.code == "AccessDenied" else error.code != "InvalidServerAPIKey"
            elapsed = None if error.null_time else round_time(flavour, time.perf_counter() - started)
            payload = envelope("error", elapsed, error.data(flavour))
            response = envelope_response(flavour, request, payload, time.perf_counter() - started)
            return AppOutcome(response, api_key_valid=valid, api_status="error", error_code=error.code)

        ctx = ActionContext(self.backend, server, flavour, request.client_ip)
        params = None
        try:
            with self.backend.lock:
                params = source_params(request, moonrope=flavour == MOONROPE)
                status, data, code = "success", action(ctx, params), None
        except ParameterError as error:
            status, data, code = "parameter-error", {"message": error.message}, None
        except ApiError as error:
            status, data, code = "error", error.data(flavour), error.code
        except MalformedParams as error:
            return self._outcome(_malformed_response(flavour, request, error), params, ctx)
        except ServiceCrash:
            return self._outcome(_crash_response(flavour, request), params, ctx)
        runtime = time.perf_counter() - started
        payload = envelope(status, round_time(flavour, runtime), data)
        response = envelope_response(flavour, request, payload, runtime)
        return self._outcome(response, params, ctx, status, code)

    def _authenticate(self, flavour: str, api_key: str | None, controller: str, action: str) -> MailServer:
        moonrope = flavour == MOONROPE
        # Rails treats a blank header like a missing one; Moonrope only a missing one.
        if api_key is None or (not moonrope and not api_key.strip()):
            extra = {"action": action, "controller": controller} if moonrope else {}
            raise ApiError("AccessDenied", "Must be authenticated as a server.", extra, null_time=moonrope)
        server = self.backend.server_for_key(api_key)
        if server is None:
            message = "The API token provided in X-Server-API-Key was not valid."
            raise ApiError("InvalidServerAPIKey", message, {"token": api_key}, null_time=moonrope)
        if server.suspended:
            reason = "The mail server has been suspended" if moonrope else None
            raise ApiError("ServerSuspended", reason, null_time=moonrope)
        return server

    @staticmethod
    def _outcome(
        response: HttpResponse,
        params: Any,
        ctx: ActionContext,
        status: str | None = None,
        code: str | None = None,
    ) -> AppOutcome:
        return AppOutcome(
            response,
            params=params,
            api_key_valid=True,
            api_status=status,
            error_code=code,
            stored_message_ids=tuple(ctx.stored_ids),
        )

    # -- Application protocol: admin, reset, describe ---------------------------------------

    def handle_admin(self, request: HttpRequest, route: str) -> HttpResponse | None:
        """Serve ``GET messages``, ``POST release`` and ``POST config`` under ``/_emulator/``.

        :param request: the admin request.
        :param route: the path after ``/_emulator/``.
        """
        endpoint = (request.method, route.strip("/"))
        if endpoint == ("GET", "messages"):
            keys = parse_qs(request.query).get("api_key")
            api_key = keys[0] if keys else None
            server = self._server(api_key)
            return HttpResponse.json(200, [item.summary() for item in self.backend.snapshots(server)])
        if endpoint == ("POST", "release"):
            spec = admin_json(request)
            server = self._server(spec.get("api_key"))
            self.backend.release(server, int(spec["id"]))
            return HttpResponse.json(200, self.backend.snapshot(server, int(spec["id"])).summary())
        if route.strip("/").startswith("webhooks") and self.webhooks is not None:
            return webhook_admin(self.webhooks, request, route.strip("/"))
        if endpoint == ("POST", "config"):
            spec = admin_json(request)
            server = self._server(spec.get("api_key"))
            if "flavour" in spec:
                self.backend.flavour = spec["flavour"]
            if "suspended" in spec:
                server.suspended = bool(spec["suspended"])
            return HttpResponse.json(200, self.describe())
        return None

    def _server(self, api_key: str | None) -> MailServer:
        server = self.backend.server_for_key(api_key or self.backend.default_api_key)
        if server is None:
            raise KeyError("no server has this API key")
        return server

    def reset(self) -> None:
        """Empty every message database."""
        self.backend.reset()

    def describe(self) -> dict[str, Any]:
        """Facts for ``GET /_emulator/health``."""
        default = self.backend.server_for_key(self.backend.default_api_key)
        return {
            "service": "sender25",
            "flavour": self.backend.flavour,
            "servers": [server.name for server in self.backend.servers.values()],
            "suspended": bool(default and default.suspended),
        }


def _unknown_path_response(flavour: str, request: HttpRequest) -> HttpResponse:
    """Rails' 404 page, or Moonrope's own answers for paths under ``/api/``."""
    if flavour == MOONROPE and request.path.startswith("/api/"):
        if request.method == "OPTIONS":  # CORS pre-flight, answered for any API path
            return HttpResponse(200, app_headers(flavour, request, "text/plain"), b"OK")
        body = moonrope_body(400, {"status": "invalid-controller-or-action"}).body
        return HttpResponse(400, app_headers(flavour, request), body)
    return rails_error_page(404, request.header("Accept"))  # also the Rails app behind Moonrope


def _before_action_response(flavour: str, request: HttpRequest) -> HttpResponse | None:
    """The answer to a known path that never reaches its action, or ``None``."""
    if flavour == MOONROPE:
        if request.method == "OPTIONS":
            return HttpResponse(200, app_headers(flavour, request, "text/plain"), b"OK")
        return None
    if request.method not in RAILS_METHODS:
        return rails_error_page(404, request.header("Accept"))
    return None


def _malformed_response(flavour: str, request: HttpRequest, error: MalformedParams) -> HttpResponse:
    if flavour == MOONROPE:
        body = moonrope_body(400, {"status": "invalid-json", "details": error.details}).body
        return HttpResponse(400, app_headers(flavour, request), body)
    return rails_error_page(400, request.header("Accept"))


def _crash_response(flavour: str, request: HttpRequest) -> HttpResponse:
    if flavour == MOONROPE:
        body = moonrope_body(500, {"status": "internal-server-error"}).body
        return HttpResponse(500, app_headers(flavour, request), body)
    return rails_error_page(500, request.header("Accept"))
