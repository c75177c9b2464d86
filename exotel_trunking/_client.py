"""``AsyncTrunkingClient``: configuration, the HTTP client it sends with, and its resources."""

from __future__ import annotations

import base64
import importlib.util
import platform
import ssl
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import EllipsisType, TracebackType

import httpx2

from ._bulk import Bulk
from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUT,
    ClientConfig,
    as_timeout,
    attempt_timeout_for,
    ssl_context_for,
    with_max_retries,
)
from ._diagnosis import Diagnosis, diagnose
from ._exceptions import ConfigurationError
from ._models import Trunk
from ._provision import ProvisionProgress, ProvisionReport, TrunkSpec, provision
from ._resources import (
    CredentialsResource,
    DestinationUris,
    PhoneNumbers,
    Settings,
    TrunkMaps,
    Trunks,
    WhitelistedIps,
)
from ._telemetry import watch_provision
from ._transport import (
    LocalRateLimiter,
    RateLimit,
    RateLimiter,
    RateLimitWait,
    Requester,
    RetryEvent,
    RetryPolicy,
)
from ._transport._clients import ClientProvider
from ._version import __version__

__all__ = ["AsyncTrunkingClient"]

USER_AGENT = (
    f"exotel-trunking/{__version__} python/{platform.python_version()} httpx2/{httpx2.__version__}"
)


class AsyncTrunkingClient:
    """An async client for Exotel's Voice Trunking API.

    One client owns one ``httpx2.AsyncClient`` (one connection pool) and one rate limiter,
    and is safe to share between any number of concurrent tasks, on asyncio or trio. Every
    attempt goes through that client's ``send``, so the environment's proxies and CA
    settings, event hooks, mounts and HTTP instrumentation apply as for any httpx2
    application. Use it as an async context manager, or call :meth:`aclose` when done.

    Args:
        api_key: The API key; ``EXOTEL_API_KEY`` if not given.
        api_token: The API token; ``EXOTEL_API_TOKEN`` if not given. Never shown anywhere.
        account_sid: The account SID; ``EXOTEL_ACCOUNT_SID`` if not given.
        region: ``"in"`` (Mumbai, the default) or ``"sg"`` (Singapore); ``EXOTEL_REGION``.
        base_url: Overrides the region (emulator, proxies); ``EXOTEL_BASE_URL``. Plain
            ``http://`` is accepted only for loopback hosts.
        timeout: Seconds per network operation (connect, each read, each write), or an
            ``httpx2.Timeout``.
        max_retries: Repeats after a failed attempt (overrides ``retry.max_retries``); 0
            disables retries.
        retry: The full :class:`RetryPolicy` (backoff, ``Retry-After`` cap, deadline).
        rate_limit: Client-side pacing shared by every task; Exotel's documented 200 calls a
            minute by default. ``None`` turns pacing off (the cool-down after a 429 stays).
            A :class:`RateLimiter` object (e.g. one shared by several processes) is used as
            it is.
        max_connections: The size of the connection pool, which is also the cap on requests
            in flight (Exotel allows 50 concurrent connections). With ``http_client=`` it
            caps the requests in flight only: the pool is that client's.
        attempt_timeout: The longest one attempt may take, from sending the request to the
            last byte of the answer, whatever the per-operation ``timeout`` s (a server that
            drips its answer never trips a read timeout). 60 s by default, or twice the read
            timeout if that is longer; ``None`` for no limit. An attempt cut short counts as
            a timeout whose outcome is unknown (retried only where a repeat is harmless).
        max_response_bytes: The largest response body read, after decompression (10 MiB by
            default); a larger one raises :class:`ResponseDecodeError` unread.
        verify: TLS verification for the SDK's own HTTP client: ``True`` (the environment's
            ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else the system's CAs, read when the
            client is built), ``False``, a CA bundle path, or an ``ssl.SSLContext`` (e.g.
            with a client certificate loaded).
        proxy: A proxy URL for the SDK's own HTTP client. By default the environment's
            ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` apply.
        http2: Let the SDK's own HTTP client speak HTTP/2 where the server offers it (needs
            the ``http2`` extra).
        transport: Any ``httpx2.AsyncBaseTransport`` (the emulator, a mock, an aiohttp
            transport); the SDK's own ``httpx2.AsyncClient`` sends through it.
        http_client: Your own ``httpx2.AsyncClient``, used as it is (its proxies, TLS
            settings, hooks and transport); the SDK then does not close it.
        on_retry: Called with a :class:`RetryEvent` before every retry (metrics, alerts).
        on_rate_limit_wait: Called with a :class:`RateLimitWait` when the client's requests
            start being held back (after a 429, or an exhausted quota), once per hold:
            a progress display can say when work resumes.
        attempt_spans: With OpenTelemetry (the ``otel`` extra), give every HTTP attempt a
            span of its own below the call's span. Pass ``False`` if you instrument httpx2
            itself, so that each attempt is traced once (by your instrumentation, whose spans
            then sit below the call's span).

    Raises:
        ConfigurationError: missing credentials, an unknown region, a refused ``base_url``,
            or HTTP options given together with ``http_client=`` (configure that client).
    """

    trunks: Trunks
    phone_numbers: PhoneNumbers
    whitelisted_ips: WhitelistedIps
    destination_uris: DestinationUris
    credentials: CredentialsResource
    settings: Settings
    trunk_maps: TrunkMaps
    bulk: Bulk

    def __init__(
        self,
        api_key: str | None = None,
        api_token: str | None = None,
        account_sid: str | None = None,
        *,
        region: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx2.Timeout = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | RateLimiter | None = DEFAULT_RATE_LIMIT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        attempt_timeout: float | EllipsisType | None = ...,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: bool | str | ssl.SSLContext = True,
        proxy: str | httpx2.URL | None = None,
        http2: bool = False,
        transport: httpx2.AsyncBaseTransport | None = None,
        http_client: httpx2.AsyncClient | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        on_rate_limit_wait: Callable[[RateLimitWait], None] | None = None,
        attempt_spans: bool = True,
    ) -> None:
        config = ClientConfig.resolve(
            api_key=api_key,
            api_token=api_token,
            account_sid=account_sid,
            region=region,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            rate_limit=rate_limit,
            max_connections=max_connections,
            attempt_timeout=attempt_timeout,
            max_response_bytes=max_response_bytes,
            verify=verify,
            proxy=proxy,
            http2=http2,
        )
        _refuse_conflicting_options(config, http_client=http_client, transport=transport)
        credentials = base64.b64encode(f"{config.api_key}:{config.api_token}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        if http_client is None:
            clients = ClientProvider.owned(lambda: _build_http_client(config, transport, headers))
        else:
            clients = ClientProvider.borrowed(http_client, headers)
        self._config = config
        self._setup(
            Requester(
                clients=clients,
                base_url=config.base_url,
                account_sid=config.account_sid,
                limiter=_limiter(rate_limit, config),
                max_in_flight=config.max_connections,
                retry=config.retry,
                timeout=config.timeout,
                attempt_timeout=config.attempt_timeout,
                max_response_bytes=config.max_response_bytes,
                on_retry=on_retry,
                on_rate_limit_wait=on_rate_limit_wait,
                attempt_spans=attempt_spans,
            )
        )

    def _setup(self, requester: Requester) -> None:
        self._requester = requester
        sid = self._config.account_sid
        self.trunks = Trunks(requester, sid)
        self.phone_numbers = PhoneNumbers(requester, sid)
        self.whitelisted_ips = WhitelistedIps(requester, sid)
        self.destination_uris = DestinationUris(requester, sid)
        self.credentials = CredentialsResource(requester, sid)
        self.settings = Settings(requester, sid)
        self.trunk_maps = TrunkMaps(requester, sid)
        self.bulk = Bulk(self)

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (the token is masked in its ``repr``)."""
        return self._config

    @property
    def account_sid(self) -> str:
        """The account this client acts on."""
        return self._config.account_sid

    @property
    def base_url(self) -> str:
        """Where requests go."""
        return self._config.base_url

    def with_options(
        self,
        *,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx2.Timeout | None = None,
        attempt_timeout: float | EllipsisType | None = ...,
    ) -> AsyncTrunkingClient:
        """Return a client with other retry or timeout settings that shares this one's pool.

        The derived client also shares the rate limiter and the cap on requests in flight, so
        it counts against the same account limit. It is cheap: make one per call if needed,
        e.g. ``await client.with_options(max_retries=0).trunks.create("t1")``. Closing it
        does nothing; close the original. Without ``attempt_timeout``, the original's applies,
        raised to twice a longer read ``timeout`` given here.
        """
        requester = self._requester
        policy = with_max_retries(retry or requester.retry, max_retries)
        new_timeout = requester.timeout if timeout is None else as_timeout(timeout)
        if timeout is None and attempt_timeout is ...:
            new_bound = requester.attempt_timeout
        else:
            new_bound = attempt_timeout_for(attempt_timeout, new_timeout, requester.attempt_timeout)
        derived = object.__new__(AsyncTrunkingClient)
        derived._config = self._config
        derived._setup(
            requester.with_options(retry=policy, timeout=new_timeout, attempt_timeout=new_bound)
        )
        return derived

    async def provision(
        self,
        spec: TrunkSpec,
        trunk_sid: str | None = None,
        dry_run: bool = False,
        *,
        prune: bool = False,
        concurrency: int = 20,
        on_trunk_created: Callable[[Trunk], object] | None = None,
        on_progress: Callable[[ProvisionProgress], object] | None = None,
    ) -> ProvisionReport:
        """Bring a trunk to ``spec``: create what is missing, in dependency order.

        The trunk is ``trunk_sid`` (here, else in the spec); without one, the trunk called
        ``spec.name`` (``trunks.find``), created only when no trunk has that name. Where the
        service cannot list trunks (the reference dialect), the trunk is created, and a taken
        name raises :class:`ConflictError`. Then the current numbers, IPs and destinations
        (and SIP credentials, when the spec lists some or ``prune`` is set) are read, and
        only the missing ones are added: numbers and IPs through the bulk executor, IPs
        before destinations (an IP destination must be whitelisted first), then the alias,
        the removals (``prune=True``), the SIP credentials last. A credential the trunk has
        (by user name) is left as it is. Applying the same spec again changes nothing.

        Args:
            spec: The desired state.
            trunk_sid: The trunk to bring to the spec; overrides ``spec.trunk_sid``.
            dry_run: Read the current state and return the plan without changing anything
                (only reads are sent; no ``on_progress`` events).
            prune: Also remove the numbers, IPs, destinations and SIP credentials that the
                trunk has and the spec does not list (never by default; a dry run lists
                them in each part's ``removed``). A trunk created by this call has nothing
                to prune.
            concurrency: Requests in flight for the bulk steps and the removals.
            on_trunk_created: Called with the new :class:`Trunk` the moment it exists,
                before anything else is sent (a plain or an async callable), so that you can
                save its sid. An error it raises stops the provisioning there.
            on_progress: Called (plain or async) with a :class:`ProvisionProgress` as each
                phase starts and finishes, and for every number, IP and credential as it
                settles: a display can show the work while it goes.

        Returns:
            What was created, what already existed, what was removed and what failed, per
            kind of item; the credentials created (a generated password is on the result,
            once); and the trunk's SIP credentials for the PBX.

        Raises:
            InvalidParameterError: before anything is sent, a credential's ``password_env``
                that is unset or holds no usable password (its value is never shown).
            ConflictError: the trunk must be created but its name is taken, and it cannot
                be found (the message says to pass its sid).
            AuthenticationError, NotFoundError: nothing can be done on this trunk.
        """
        with watch_provision(self.account_sid, trunk_sid or spec.trunk_sid, dry_run) as watch:
            report = await provision(
                self,
                spec,
                trunk_sid=trunk_sid,
                dry_run=dry_run,
                prune=prune,
                concurrency=concurrency,
                on_trunk_created=on_trunk_created,
                on_progress=on_progress,
            )
            if watch is not None:
                watch.report(report)
            return report

    async def diagnose(self, trunk_sid: str, *, probe: bool = False) -> Diagnosis:
        """Tell why calls on a trunk will fail, before a call does.

        Reads the trunk's numbers, whitelisted IPs, destinations and SIP credentials once and
        checks them against the reference's troubleshooting rules: no number mapped, no
        destination (no inbound calls), no whitelisted IP (no outbound calls), a destination
        IP no whitelisted range covers, TLS on 5060 or TCP on 5061, no SIP credentials, ...
        Each :class:`Finding` has a stable ``code``, a severity, a message and the fix.

        Args:
            trunk_sid: The trunk.
            probe: Also try the destinations from this machine, each within a few seconds:
                DNS, a TCP connect, and for ``transport=tls`` a handshake that checks the
                certificate (with this client's ``verify`` settings), its host name and its
                expiry.

        Returns:
            The findings, errors first; ``.ok`` when none is an error.

        Raises:
            InvalidParameterError: a bad ``trunk_sid``, before anything is sent.
            NotFoundError: the trunk does not exist.
        """
        return await diagnose(self, trunk_sid, probe=probe)

    async def aclose(self) -> None:
        """Close the SDK's HTTP client and its connections (not an ``http_client=`` of yours)."""
        await self._requester.aclose()

    async def __aenter__(self) -> AsyncTrunkingClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncTrunkingClient(account_sid={self._config.account_sid!r}, "
            f"base_url={self._config.base_url!r})"
        )


def _limiter(rate_limit: RateLimit | RateLimiter | None, config: ClientConfig) -> RateLimiter:
    if isinstance(rate_limit, RateLimiter):
        return rate_limit
    return LocalRateLimiter(config.rate_limit)


def _refuse_conflicting_options(
    config: ClientConfig,
    *,
    http_client: httpx2.AsyncClient | None,
    transport: httpx2.AsyncBaseTransport | None,
) -> None:
    """Refuse HTTP options that would be silently ignored.

    Raises:
        ConfigurationError: naming the options and where they belong instead.
    """
    given = [
        name
        for name, on in (
            ("verify", config.verify is not True),
            ("proxy", config.proxy is not None),
            ("http2", config.http2),
            ("transport", http_client is not None and transport is not None),
        )
        if on
    ]
    if http_client is not None:
        owner, where = "http_client=", "the httpx2.AsyncClient you pass"
    elif transport is not None:
        owner, where = "transport=", "the transport you pass"
    else:
        return
    if given:
        raise ConfigurationError(
            f"{', '.join(given)} cannot be combined with {owner}: configure them on {where}"
        )


def _build_http_client(
    config: ClientConfig,
    transport: httpx2.AsyncBaseTransport | None,
    headers: Mapping[str, str],
) -> httpx2.AsyncClient:
    """The SDK's own ``httpx2.AsyncClient``: no redirects or cookies, ``max_connections`` pooled.

    Raises:
        ConfigurationError: ``http2=True`` without the ``h2`` package, a SOCKS proxy (given or
            from the environment) without ``socksio``, an unreadable CA bundle.
    """
    if config.http2 and importlib.util.find_spec("h2") is None:
        raise ConfigurationError(
            "http2=True needs the h2 package: pip install 'exotel-trunking[http2]'"
        )
    limits = httpx2.Limits(
        max_connections=config.max_connections,
        max_keepalive_connections=config.max_connections,
    )
    try:
        return httpx2.AsyncClient(
            headers=headers,
            transport=transport,
            verify=ssl_context_for(config.verify),
            proxy=config.proxy,
            http2=config.http2,
            limits=limits,
            timeout=config.timeout,
            follow_redirects=False,
            # The API is stateless: a cookie a load balancer sets is never sent back.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )
    except ImportError as exc:  # httpx2 imports socksio only for a socks5:// proxy
        raise ConfigurationError(
            "a SOCKS proxy (proxy= or ALL_PROXY/HTTPS_PROXY/HTTP_PROXY) needs the socksio "
            "package: pip install socksio"
        ) from exc
