"""What the hooks of both services share: the connection, its validated settings, the redaction of its
secrets, and (for the HTTP hooks) the sync and async drivers built from one set of transport settings.

A hook subclass says how to read its connection (:meth:`MailServiceHook._resolve_settings`), which
values are secret, and which errors name its failures; everything else is decided here once. The SMTP
hook derives from :class:`MailServiceHook` alone: it has no HTTP session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow_provider_mail._compat import BaseHook, get_async_connection, mask_secret
from airflow_provider_mail._shared.redact import Redactor
from airflow_provider_mail._transport.async_driver import AsyncHttpDriver
from airflow_provider_mail._transport.http import DriverSettings, resolve_proxy
from airflow_provider_mail._transport.sync_driver import SyncHttpDriver, new_session
from airflow_provider_mail._transport.tls import resolve_tls

if TYPE_CHECKING:
    import requests

    from airflow_provider_mail._compat import Connection
    from airflow_provider_mail.exceptions import MailProviderError

SettingsT = TypeVar("SettingsT")


class MailServiceHook(BaseHook, Generic[SettingsT]):
    """Base of the Sender25 and xmailer hooks (not registered as a connection type itself).

    :param kwargs: passed to Airflow's ``BaseHook``.
    """

    conn_name_attr: str
    conn_type: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Tests record these instead of sleeping; production sleeps.
        self._sleep: Callable[[float], None] = time.sleep
        self._asleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def route_waits(self, sleep: Callable[[float], None]) -> None:
        """Sleep every backoff wait of this hook's sync calls through ``sleep`` instead of ``time.sleep``.

        A bulk sender routes them through its shared gate, so one 429 holds every worker.

        :param sleep: called with the seconds to wait.
        """
        self._sleep = sleep

    # -- what a service hook says ------------------------------------------------------------------
    @property
    def connection_id(self) -> str:
        """The id of the connection this hook reads."""
        return str(getattr(self, self.conn_name_attr))

    def _resolve_settings(self, conn: Connection) -> SettingsT:
        raise NotImplementedError

    def _secrets(self, settings: SettingsT) -> list[str]:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    @cached_property
    def conn(self) -> Connection:
        """The Airflow connection (fetched once, on first use)."""
        return self.get_connection(self.connection_id)

    @cached_property
    def settings(self) -> SettingsT:
        """The validated connection settings; its secrets are registered with Airflow's log masker."""
        settings = self._resolve_settings(self.conn)
        for form in Redactor(self._secrets(settings)).forms:
            mask_secret(form)
        return settings

    async def aget_settings(self) -> SettingsT:
        """Fetch the connection without blocking the event loop, then validate it (cached)."""
        if "settings" not in self.__dict__:
            self.__dict__["conn"] = await get_async_connection(self.connection_id)
        return self.settings

    @cached_property
    def redact(self) -> Redactor:
        """Removes the connection's secrets from any text, in every form they take."""
        return Redactor(self._secrets(self.settings))

    def close(self) -> None:
        """Release what the hook holds open (nothing here)."""

    async def aclose(self) -> None:
        """Nothing to release: async calls use the event loop's shared client."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class HttpServiceHook(MailServiceHook[SettingsT]):
    """Base of the hooks that speak HTTP (Sender25, the xmailer report): a pooled session and the drivers.

    :param kwargs: passed to Airflow's ``BaseHook``.
    """

    #: The service's errors for a failed request and for a misconfigured connection.
    transport_error: Callable[..., MailProviderError]
    configuration_error: Callable[..., MailProviderError]

    def _endpoint(self, settings: SettingsT) -> str:
        """The URL whose proxy settings apply."""
        raise NotImplementedError

    def _session_headers(self) -> dict[str, str]:
        return {}

    @cached_property
    def driver_settings(self) -> DriverSettings:
        """Timeouts, TLS, proxy and error names: resolved once, used by both drivers."""
        settings: Any = self.settings
        return DriverSettings(
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            tls=resolve_tls(settings.verify),
            proxy=resolve_proxy(self._endpoint(self.settings)),
            transport_error=self.transport_error,
            configuration_error=self.configuration_error,
            redact=self.redact,
        )

    @cached_property
    def session(self) -> requests.Session:
        """One pooled keep-alive session for every sync call of this hook."""
        return new_session(self.driver_settings, headers=self._session_headers())

    def get_conn(self) -> requests.Session:
        """Return the configured :class:`requests.Session` (Airflow's hook convention)."""
        return self.session

    @cached_property
    def _driver(self) -> SyncHttpDriver:
        return SyncHttpDriver(self.session, self.driver_settings)

    @cached_property
    def _async_driver(self) -> AsyncHttpDriver:
        return AsyncHttpDriver(self.driver_settings)

    def close(self) -> None:
        """Close the pooled connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]
            self.__dict__.pop("_driver", None)


# Airflow < 3.2 reads the connection form only from the registered hook class's own ``__dict__``,
# never from a base class: each hook assigns these two as its classmethods.
def connection_form_widgets(cls: type[MailServiceHook[Any]]) -> dict[str, Any]:
    """Extra fields of the connection form, generated from :mod:`airflow_provider_mail._shared.fields`.

    :param cls: the hook class (its ``conn_type`` names the form).
    """
    from airflow_provider_mail._shared.fields import connection_form_widgets as widgets

    return widgets(cls.conn_type)


def connection_ui_field_behaviour(cls: type[MailServiceHook[Any]]) -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields of the connection form.

    :param cls: the hook class.
    """
    from airflow_provider_mail._shared.fields import ui_field_behaviour

    return ui_field_behaviour(cls.conn_type)
