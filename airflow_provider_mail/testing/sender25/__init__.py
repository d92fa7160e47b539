"""An embedded, independent emulator of Sender25 — a hosted Postal mail server speaking Postal's
legacy HTTP API — for tests, demos and local DAG runs.

It is written from the Sender25/Postal API reference (``sender25-api.md``), never from this package's
client, so it can catch the client's mistakes. Standard library only.

Example::

    from airflow_provider_mail.testing import Sender25Emulator

    with Sender25Emulator(verified_domains=("acme.example",)) as emu:
        requests.post(f"{emu.base_url}/api/v1/send/message",
                      headers={"X-Server-API-Key": emu.api_key},
                      json={"to": ["ana+softfail@example.org"], "from": "noreply@acme.example",
                            "subject": "Hi", "plain_body": "Hello"})
        emu.advance(5)                      # the clock drives deliveries: no sleeping
        assert emu.messages()[0].status == "Sent"
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_mail.testing._clock import EmulatorClock
from airflow_provider_mail.testing._emulator import EmulatorBase
from airflow_provider_mail.testing._network import NetworkSettings
from airflow_provider_mail.testing._server import EmulatorServer, RequestRecord

from .app import ROUTES, Sender25Service
from .lifecycle import POSTAL_HOLD_EXPIRY_SECONDS, LifecycleTiming
from .store import MailServer, Sender25Backend, StoredMessage
from .webhooks import (
    POSTAL_TIMEOUT_SECONDS,
    WebhookDispatcher,
    WebhookRequestRecord,
    WebhookSigner,
    delivery_payload,
)

_SEND_PATHS = frozenset(path for path, (controller, _, _) in ROUTES.items() if controller == "send")


class Sender25Emulator(EmulatorBase):
    """A Sender25 (Postal legacy API) server on a loopback port.

    :param host: interface to bind.
    :param port: TCP port; ``0`` picks a free one (read :attr:`port` after :meth:`start`).
    :param api_key: the API key of the default mail server.
    :param flavour: ``"rails"`` (Postal ≥ 3.3.3), ``"rails-3.3.1"`` (its ``_expansions`` 500
        bug) or ``"moonrope"`` (Postal ≤ 3.3.0); settable later through :attr:`flavour`.
    :param verified_domains: From domains authorised on the server; subdomains are not implied.
    :param use_for_any: the server has a verified "use for any" domain: any From is accepted.
    :param allow_sender: the ``Sender`` address may authorise a message instead of ``From``.
    :param return_path_domain: domain part of generated Message-IDs (``<uuid4>@<domain>``).
    :param delivery_delay: emulator seconds from creation to the first delivery attempt.
    :param retry_interval: emulator seconds between attempts after a SoftFail or Error.
    :param bounce_delay: emulator seconds from Sent until a ``+bounce`` message is Bounced.
    :param hold_expiry_delay: emulator seconds a Held message waits before HoldCancelled.
    :param softfail_attempts: SoftFail attempts of a ``+softfail`` recipient before Sent.
    :param latency: seconds every API answer is held back (round-trip latency).
    :param latency_jitter: uniform spread (±) around ``latency``.
    :param rate_limit: requests per second a front proxy lets through (token bucket); beyond
        it, HTTP 429 with ``Retry-After``. ``None`` = no limit.
    :param rate_limit_burst: the bucket size (default ``max(1, floor(rate_limit))``).
    :param webhook_urls: webhook URLs configured from the start (all events); see :meth:`add_webhook`.
    :param webhook_timeout: seconds a webhook attempt waits for the receiver (Postal: 5).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "test-api-key",
        flavour: str = "rails",
        verified_domains: tuple[str, ...] | list[str] = ("example.com",),
        use_for_any: bool = False,
        allow_sender: bool = False,
        return_path_domain: str = "rp.emulator.test",
        delivery_delay: float = 0.5,
        retry_interval: float = 0.5,
        bounce_delay: float = 1.0,
        hold_expiry_delay: float = POSTAL_HOLD_EXPIRY_SECONDS,
        softfail_attempts: int = 2,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        rate_limit: float | None = None,
        rate_limit_burst: int | None = None,
        webhook_urls: tuple[str, ...] | list[str] = (),
        webhook_timeout: float = POSTAL_TIMEOUT_SECONDS,
    ):
        self._clock = EmulatorClock()
        timing = LifecycleTiming(
            delivery_delay, retry_interval, bounce_delay, hold_expiry_delay, softfail_attempts
        )
        self._backend = Sender25Backend(
            clock=self._clock, timing=timing, flavour=flavour, return_path_domain=return_path_domain
        )
        self._server_defaults: dict[str, Any] = {
            "verified_domains": tuple(verified_domains),
            "use_for_any": use_for_any,
            "allow_sender": allow_sender,
        }
        self._backend.add_server(MailServer("main", api_key, **self._server_defaults))
        self._backend.default_api_key = api_key
        network = NetworkSettings(latency, latency_jitter, rate_limit, rate_limit_burst)
        self._webhooks = WebhookDispatcher(self._clock, tick=self._bring_forward, timeout=webhook_timeout)
        self._backend.servers[api_key].on_delivery = self._emit_delivery_webhook
        self._http = EmulatorServer(
            Sender25Service(self._backend, self._webhooks), self._clock, host=host, port=port, network=network
        )
        for url in webhook_urls:
            self.add_webhook(url)

    # -- configuration ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The bound interface."""
        return self._http.host

    @property
    def port(self) -> int:
        """The bound port (``0`` until the first :meth:`start` when a free port was asked for)."""
        return self._http.port

    @property
    def api_key(self) -> str:
        """The default mail server's API key."""
        return self._backend.default_api_key

    @property
    def flavour(self) -> str:
        """The emulated Postal flavour: ``rails``, ``rails-3.3.1`` or ``moonrope``."""
        return self._backend.flavour

    @flavour.setter
    def flavour(self, value: str) -> None:
        self._backend.flavour = value

    @property
    def suspended(self) -> bool:
        """Whether the default server is suspended (every request gets ``ServerSuspended``)."""
        return self._server(None).suspended

    @suspended.setter
    def suspended(self, value: bool) -> None:
        self._server(None).suspended = bool(value)

    def add_server(
        self,
        api_key: str,
        suspended: bool = False,
        *,
        name: str | None = None,
        verified_domains: tuple[str, ...] | list[str] | None = None,
        use_for_any: bool | None = None,
        allow_sender: bool | None = None,
    ) -> None:
        """Add another mail server with its own message database and id counter.

        Domain settings default to the emulator's.

        :param api_key: the new server's API key.
        :param suspended: start suspended.
        :param name: how snapshots name it (default ``server-<n>``).
        :param verified_domains: its authorised From domains.
        :param use_for_any: its "use for any" setting.
        :param allow_sender: its "allow sender" setting.
        :raises ValueError: if a server already has ``api_key``.
        """
        settings = dict(self._server_defaults)
        if verified_domains is not None:
            settings["verified_domains"] = tuple(verified_domains)
        if use_for_any is not None:
            settings["use_for_any"] = use_for_any
        if allow_sender is not None:
            settings["allow_sender"] = allow_sender
        label = name or f"server-{len(self._backend.servers) + 1}"
        server = MailServer(label, api_key, suspended=suspended, **settings)
        server.on_delivery = self._emit_delivery_webhook
        self._backend.add_server(server)

    def airflow_connection(self, conn_type: str = "sender25", **extra: Any) -> str:
        """Return the JSON form of an Airflow connection to this emulator (``AIRFLOW_CONN_*``).

        :param conn_type: the connection type.
        :param extra: connection extras; the ``extra`` key is left out when there are none.
        :raises RuntimeError: before :meth:`start` when the port is still to be picked.
        """
        if not self.port:
            raise RuntimeError("start the emulator first: its port is not known yet")
        connection: dict[str, Any] = {
            "conn_type": conn_type,
            "host": self.host,
            "port": self.port,
            "schema": "http",
            "password": self.api_key,
        }
        if extra:
            connection["extra"] = extra
        return json.dumps(connection)

    # -- faults and the request log --------------------------------------------------------

    def accepted_sends(self) -> list[RequestRecord]:
        """``send/message`` and ``send/raw`` requests that stored messages — whatever the
        client got back (a reset or a 500 after the insert still counts)."""
        return [
            record for record in self.requests if record.path in _SEND_PATHS and record.stored_message_ids
        ]

    # -- messages and time -----------------------------------------------------------------

    def messages(self, api_key: str | None = None) -> list[StoredMessage]:
        """Snapshots of a server's stored messages in id order, statuses current.

        :param api_key: the server's key (default: the default server).
        """
        return self._backend.snapshots(self._server(api_key))

    def message(self, id: int, api_key: str | None = None) -> StoredMessage:
        """A snapshot of one stored message.

        :param id: the message id (per server).
        :param api_key: the server's key (default: the default server).
        :raises KeyError: if there is no such message.
        """
        return self._backend.snapshot(self._server(api_key), id)

    def release(self, message_id: int, api_key: str | None = None) -> None:
        """Release a Held message: it is Sent ``delivery_delay`` later instead of expiring.

        :param message_id: the message id.
        :param api_key: the server's key (default: the default server).
        :raises ValueError: if the message is not Held.
        """
        self._backend.release(self._server(api_key), message_id)

    def reset(self) -> None:
        """Clear messages, the request log, queued faults, webhook requests and the clock offset; keep
        the port and settings (flavour, servers, suspension, webhook URLs and key)."""
        self._http.reset()
        self._webhooks.reset()

    # -- webhooks (Postal's, signed; see .webhooks) ------------------------------------------

    def start(self) -> Sender25Emulator:
        """Start serving (and delivering webhooks, once a URL is configured)."""
        super().start()
        self._webhooks.autostart = True
        if self._webhooks.endpoints:
            self._webhooks.start()
        return self

    def stop(self) -> None:
        """Stop delivering webhooks and serving."""
        self._webhooks.autostart = False
        self._webhooks.stop()
        super().stop()

    def add_webhook(self, url: str, events: list[str] | tuple[str, ...] | None = None) -> None:
        """Configure a webhook URL, as in the panel's Webhooks page.

        :param url: where Postal POSTs (a ``user:pass@`` part is not supported).
        :param events: the event names it gets; ``None`` = all events.
        """
        self._webhooks.add_endpoint(url, events)

    @property
    def webhook_signer(self) -> WebhookSigner:
        """The installation's signing key: ``public_pem``, ``dkim_value``, ``jwks()``, ``kid``,
        ``sign(body)`` (Postal's three headers) and ``sign_with(body, "sha1"|"sha256")``."""
        return self._webhooks.signer

    def webhook_requests(self) -> list[WebhookRequestRecord]:
        """Every webhook request queued so far, with its attempts (oldest first)."""
        return self._webhooks.requests()

    def inject_webhook_fault(self, fault: str, count: int = 1) -> None:
        """Make the next ``count`` webhook attempts meet a receiver-side fault.

        :param fault: ``duplicate`` (a successful delivery is sent again, same body and uuid) or
            ``lost_response`` (sent, but counted as failed as after a timeout: retried later).
        :param count: how many attempts it hits.
        """
        self._webhooks.inject(fault, count)

    def trigger_webhook(self, event: str, payload: dict[str, Any]) -> list[WebhookRequestRecord]:
        """Queue a webhook of any event (``DomainDNSError``, ``SendLimitExceeded``, ...) to every URL
        that wants it.

        :param event: the event name.
        :param payload: its payload.
        """
        return self._webhooks.trigger(event, payload)

    def _bring_forward(self) -> None:
        for server in list(self._backend.servers.values()):
            self._backend.refresh(server)

    def _emit_delivery_webhook(self, record: Any, row: Any) -> None:
        produced = delivery_payload(record, row)
        if produced is not None:
            self._webhooks.trigger(*produced)

    def _server(self, api_key: str | None) -> MailServer:
        server = self._backend.server_for_key(api_key if api_key is not None else self.api_key)
        if server is None:
            raise KeyError("no server has this API key")
        return server
