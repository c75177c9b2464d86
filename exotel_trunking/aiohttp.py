"""An aiohttp transport for asyncio applications: less client CPU per request.

Plug it in with one line, and the client sends every request through aiohttp::

    from exotel_trunking import AsyncTrunkingClient
    from exotel_trunking.aiohttp import AiohttpTransport

    async with AsyncTrunkingClient(transport=AiohttpTransport()) as client:
        ...

Everything above the transport stays the same: retries, the rate limiter, the cap on requests
in flight, timeouts, ``attempt_timeout``, the errors raised. The client closes the transport
(and its aiohttp session) in :meth:`~exotel_trunking.AsyncTrunkingClient.aclose`, or when its
``async with`` block ends.

It needs the ``aiohttp`` extra (``pip install "exotel-trunking[aiohttp]"``), which brings
aiohttp and httpx-aiohttp (and, through httpx-aiohttp, the original ``httpx``).
``import exotel_trunking`` never imports it; only ``import exotel_trunking.aiohttp`` does.

When to use it
    In an asyncio application that does bulk work (mapping thousands of numbers, provisioning
    many trunks) where the client's CPU, not the network or Exotel's rate limit, is what runs
    short: aiohttp parses HTTP in C. For a few calls now and then the default transport is as
    good, and it is the only one that runs on trio.

What it does not do
    * It runs on asyncio only. A request made under trio raises
      :class:`~exotel_trunking.ConfigurationError` before anything is sent: on trio use the
      default transport.
    * No HTTP/2: aiohttp speaks HTTP/1.1.
    * The environment's proxy variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
      ``NO_PROXY``) do not apply. httpx2 reads them only for the transports it builds itself,
      and the aiohttp session is made with aiohttp's ``trust_env=False`` (with ``True``,
      aiohttp would look the proxy up, and read ``~/.netrc``, in a worker thread on every
      request, and a ``.netrc`` entry for Exotel's host would make it refuse the request).
      Pass ``proxy=`` instead: ``http://`` and ``https://`` proxies work, SOCKS ones do not.
    * httpx2's ``write`` timeout has no aiohttp counterpart and is not applied (the SDK's
      ``attempt_timeout`` still bounds every attempt). The others are: ``connect`` limits
      each TCP (and TLS) connection attempt; ``pool`` limits waiting for a free connection
      plus connecting; ``read`` limits every wait for data, the wait for the response's
      first byte included.

TLS
    ``verify=True`` checks certificates against the file in ``SSL_CERT_FILE`` or the
    directory in ``SSL_CERT_DIR`` when either is set, else against the system's CAs (as the
    default transport does: httpx-aiohttp builds the context with httpx2's own code). They are
    read when the transport is made.

One event loop at a time
    Like any transport, it belongs to one event loop: its aiohttp session is made on the first
    request, in that request's loop. When that loop has been closed (``asyncio.run`` returned)
    and the client is used again in a new one, the old session is let go and a new one made,
    as the SDK does with its own HTTP client. Used from a second loop while the first is still
    open, it raises :class:`~exotel_trunking.ConfigurationError`: make one client per loop.

Repeats and errors
    The SDK decides every repeat, since only it knows which calls are harmless to repeat and
    how to recover from one whose outcome is unknown. So aiohttp's own silent retry of a GET,
    PUT or DELETE whose connection dropped is turned off, and aiohttp's errors become httpx2's
    by when they happen: ``ConnectError`` or ``ConnectTimeout`` (which the SDK takes to mean
    "nothing was sent", and repeats whatever the call) only for failures before the request
    was written, such as a refused connection, a DNS or TLS failure or a connect timeout; a
    connection dropped afterwards is a ``RemoteProtocolError`` or a ``ReadError``, a read
    timeout a ``ReadTimeout``, whose outcome is unknown. (httpx-aiohttp by itself reports a
    dropped connection as a ``ConnectTimeout``, which would repeat a trunk's creation.)
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import httpx2
from anyio.lowlevel import current_token

from ._config import DEFAULT_MAX_CONNECTIONS, resolve_proxy, resolve_verify, ssl_context_for
from ._exceptions import ConfigurationError

try:
    import aiohttp
    import sniffio
    from httpx_aiohttp.httpx2 import AiohttpTransport as _HttpxAiohttpTransport
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'exotel_trunking.aiohttp needs the "aiohttp" extra: pip install "exotel-trunking[aiohttp]"'
    ) from error

__all__ = ["AiohttpTransport"]


class _EventLoop(Protocol):
    """What this module asks of an asyncio event loop."""

    def is_closed(self) -> bool: ...


_ASYNCIO_ONLY = (
    "the aiohttp transport runs on asyncio only; on trio use the default transport "
    "(leave out transport=AiohttpTransport())"
)

#: aiohttp's errors as httpx2's; the first match wins. Only failures that happen before the
#: request is written become ConnectError or ConnectTimeout: the SDK repeats those whatever the
#: call. Anything else leaves the outcome unknown.
_ERRORS: tuple[tuple[type[aiohttp.ClientError], type[httpx2.TransportError]], ...] = (
    # Waiting for a pooled connection, or connecting (aiohttp's connect and sock_connect).
    (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout),
    # Refused, DNS, TLS handshake or certificate, the proxy unreachable.
    (aiohttp.ClientConnectorError, httpx2.ConnectError),
    # sock_read: no data for the read timeout, while waiting for the answer or reading it.
    (aiohttp.ServerTimeoutError, httpx2.ReadTimeout),
    (aiohttp.ClientHttpProxyError, httpx2.ProxyError),
    (aiohttp.ServerDisconnectedError, httpx2.RemoteProtocolError),
    (aiohttp.ClientConnectionResetError, httpx2.WriteError),
    (aiohttp.ClientPayloadError, httpx2.ReadError),
    (aiohttp.ClientResponseError, httpx2.RemoteProtocolError),  # a malformed answer
    (aiohttp.InvalidURL, httpx2.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx2.UnsupportedProtocol),
    (aiohttp.ClientError, httpx2.ReadError),  # e.g. a reset connection: the outcome is unknown
)


class AiohttpTransport(_HttpxAiohttpTransport):
    """An ``httpx2`` transport that sends with aiohttp, for asyncio applications.

    Give it to the client as ``AsyncTrunkingClient(transport=AiohttpTransport())``; the client
    closes it. It suits asyncio applications doing bulk work, where the client's CPU matters:
    see the module's documentation for what changes, and what it does not support (trio,
    HTTP/2, the environment's proxy variables, httpx2's ``write`` timeout).

    Args:
        max_connections: The most connections open at once, all of which may be kept alive.
            Keep it at least the client's ``max_connections`` (both 50 by default), or
            requests wait for a connection here, within the ``pool`` timeout.
        verify: TLS verification: ``True`` (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set,
            else the system's CAs, read now), ``False``, a CA bundle path, or an
            ``ssl.SSLContext`` (e.g. with a client certificate loaded).
        keepalive_expiry: Seconds an idle connection is kept for reuse.
        proxy: An ``http://`` or ``https://`` proxy URL (credentials in it are sent to the
            proxy); the environment's ``HTTPS_PROXY`` and the like are not read.

    Raises:
        ConfigurationError: an invalid argument, or an unreadable CA bundle.
    """

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        verify: bool | str | ssl.SSLContext = True,
        keepalive_expiry: float = 5.0,
        proxy: str | httpx2.URL | None = None,
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ConfigurationError(f"max_connections={max_connections!r} must be an int >= 1")
        if max_connections < 1:
            raise ConfigurationError(f"max_connections={max_connections!r} must be an int >= 1")
        if (
            isinstance(keepalive_expiry, bool)
            or not isinstance(keepalive_expiry, int | float)
            or not keepalive_expiry > 0
        ):
            raise ConfigurationError(f"keepalive_expiry={keepalive_expiry!r} must be seconds > 0")
        proxy_url = resolve_proxy(proxy)
        if proxy_url is not None and not proxy_url.startswith(("http://", "https://")):
            raise ConfigurationError("aiohttp supports http:// and https:// proxies only")
        super().__init__(
            verify=ssl_context_for(resolve_verify(verify)),
            trust_env=True,  # SSL_CERT_FILE and SSL_CERT_DIR, as the default transport
            limits=httpx2.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=float(keepalive_expiry),
            ),
            proxy=None if proxy_url is None else httpx2.Proxy(proxy_url),
        )
        self._loop: _EventLoop | None = None
        self._closed = False

    def get_client(self) -> aiohttp.ClientSession:
        """Make the aiohttp session, in the running event loop (called on first use).

        Returns:
            A session whose connector holds up to ``max_connections`` connections, which
            leaves cookies to httpx2 and never repeats a request by itself.
        """
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        # aiohttp repeats a GET, PUT or DELETE once when its connection drops, unseen by the
        # SDK's retry policy, rate limiter and on_retry hook; a DELETE that had been applied
        # then reads as a 404. Its own test client turns this off the same way.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` with aiohttp, in the running asyncio event loop.

        Returns:
            The response, its body still to be read.

        Raises:
            ConfigurationError: on trio, while the session is in use in another event loop
                that is still open, or after the transport was closed; nothing was sent.
            httpx2.TransportError: the request failed (see the module's documentation).
        """
        await self._enter_running_loop()
        with _httpx2_errors(request):
            response = await super().handle_async_request(request)
        body = response.stream
        assert isinstance(body, httpx2.AsyncByteStream)
        response.stream = _Body(body, request)
        return response

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections; later requests are refused."""
        self._closed = True
        session, loop = self.client, self._loop
        if not isinstance(session, aiohttp.ClientSession) or session.closed:
            return
        if loop is None or loop.is_closed() or loop is current_token().native_token:
            # In a closed loop's session, this only marks it closed: nothing can be sent
            # there any more, and its sockets were left to the garbage collector with it.
            await session.close()
        # Otherwise it belongs to an event loop still open elsewhere, where alone it can be
        # closed: aiohttp warns about it if that never happens.

    async def _enter_running_loop(self) -> None:
        """Check the running loop is asyncio, and move to it if the session's loop is closed.

        Raises:
            ConfigurationError: on trio, while the session's loop is still open, or after the
                transport was closed.
        """
        if self._closed:
            raise ConfigurationError(
                "this AiohttpTransport has been closed: a client closes the transport it was "
                "given, so give every client its own"
            )
        if sniffio.current_async_library() != "asyncio":
            raise ConfigurationError(_ASYNCIO_ONLY)
        loop: _EventLoop = current_token().native_token  # type: ignore[assignment]
        if loop is self._loop:
            return
        previous, session = self._loop, self.client
        in_use = isinstance(session, aiohttp.ClientSession) and not session.closed
        if in_use and previous is not None and not previous.is_closed():
            raise ConfigurationError(
                "this AiohttpTransport's aiohttp session belongs to another event loop, "
                "which is still open: use one client (and one transport) per event loop"
            )
        # The new session is made by the first request in this loop.
        self._loop, self.client = loop, None
        if isinstance(session, aiohttp.ClientSession):
            await session.close()  # its loop is closed: this only marks it closed


class _Body(httpx2.AsyncByteStream):
    """A response body from httpx-aiohttp, whose errors are mapped as the request's are."""

    def __init__(self, inner: httpx2.AsyncByteStream, request: httpx2.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx2_errors(self._request):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _httpx2_errors(self._request):
            await self._inner.aclose()


@contextlib.contextmanager
def _httpx2_errors(request: httpx2.Request) -> Iterator[None]:
    """Raise aiohttp's errors, raw or as httpx-aiohttp maps them, as :data:`_ERRORS` says.

    Raises:
        httpx2.TransportError: what an aiohttp error means, from that error.
    """
    try:
        yield
    except (httpx2.TransportError, aiohttp.ClientError) as exc:
        cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
        if not isinstance(cause, aiohttp.ClientError):
            raise
        mapped = next(httpx2_error for error, httpx2_error in _ERRORS if isinstance(cause, error))
        raise mapped(str(cause) or type(cause).__name__, request=request) from cause
