"""One shared ``httpx.AsyncClient`` per event loop and TLS/timeout settings.

The triggerer runs thousands of triggers in one loop; a client each would mean thousands of TLS
contexts and connection pools. Secrets are never client defaults: they travel as per-request headers,
so one client safely serves every connection.
"""

from __future__ import annotations

import asyncio
import weakref

import httpx

_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
MAX_CONNECTIONS = 32


def shared_async_client(*, verify: bool | str, timeout: float, connect_timeout: float) -> httpx.AsyncClient:
    """The running loop's client for these settings (created on first use, reused afterwards).

    :param verify: TLS verification: a bool or a CA bundle path.
    :param timeout: read timeout in seconds.
    :param connect_timeout: connect timeout in seconds.
    """
    per_loop = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    key = (verify, timeout, connect_timeout)
    client = per_loop.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            verify=verify,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        )
        per_loop[key] = client
    return client
