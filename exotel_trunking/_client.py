"""``AsyncTrunkingClient``: configuration, the connection pool, and the resources hung on it."""

from __future__ import annotations

import base64
import platform
from collections.abc import Callable
from types import TracebackType

import httpx

from ._bulk import Bulk
from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_TIMEOUT,
    ClientConfig,
    as_timeout,
    with_max_retries,
)
from ._provision import ProvisionReport, TrunkSpec, provision
from ._resources import (
    CredentialsResource,
    DestinationUris,
    PhoneNumbers,
    Settings,
    Trunks,
    WhitelistedIps,
)
from ._transport import HTTPTransport, Limiter, RateLimit, RateLimiter, RetryEvent, RetryPolicy
from ._transport._connections import ConnectionPoolTransport
from ._transport._pool import Pool
from ._version import __version__

__all__ = ["AsyncTrunkingClient"]

USER_AGENT = (
    f"exotel-trunking/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"
)


class AsyncTrunkingClient:
    """An async client for Exotel's Voice Trunking API.

    One client owns one connection pool and one rate limiter, and is safe to share between
    any number of concurrent tasks, on asyncio or trio. Use it as an async context manager,
    or call :meth:`aclose` when done.

    Args:
        api_key: The API key; ``EXOTEL_API_KEY`` if not given.
        api_token: The API token; ``EXOTEL_API_TOKEN`` if not given. Never shown anywhere.
        account_sid: The account SID; ``EXOTEL_ACCOUNT_SID`` if not given.
        region: ``"in"`` (Mumbai, the default) or ``"sg"`` (Singapore); ``EXOTEL_REGION``.
        base_url: Overrides the region (emulator, proxies); ``EXOTEL_BASE_URL``. Plain
            ``http://`` is accepted only for loopback hosts.
        timeout: Seconds per attempt, or an ``httpx.Timeout``.
        max_retries: Repeats after a failed attempt (overrides ``retry.max_retries``); 0
            disables retries.
        retry: The full :class:`RetryPolicy` (backoff, ``Retry-After`` cap, deadline).
        rate_limit: Client-side pacing shared by every task; Exotel's documented 200 calls a
            minute by default. ``None`` turns pacing off (the cool-down after a 429 stays).
            A :class:`RateLimiter` object (e.g. one shared by several processes) is used as
            it is.
        max_connections: The size of the connection pool, which is also the cap on requests
            in flight (Exotel allows 50 concurrent connections).
        transport: Any ``httpx.AsyncBaseTransport`` (the emulator, respx, a custom one).
        http_client: Your own ``httpx.AsyncClient``; the SDK then does not close it.
        on_retry: Called with a :class:`RetryEvent` before every retry (metrics, alerts).

    Raises:
        ConfigurationError: missing credentials, an unknown region, a refused ``base_url``.
    """

    trunks: Trunks
    phone_numbers: PhoneNumbers
    whitelisted_ips: WhitelistedIps
    destination_uris: DestinationUris
    credentials: CredentialsResource
    settings: Settings
    bulk: Bulk

    def __init__(
        self,
        api_key: str | None = None,
        api_token: str | None = None,
        account_sid: str | None = None,
        *,
        region: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | RateLimiter | None = DEFAULT_RATE_LIMIT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
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
        )
        if http_client is None:

            def build() -> httpx.AsyncBaseTransport:
                return transport or ConnectionPoolTransport(config.max_connections)

            pool = Pool(build(), build)
        else:
            pool = Pool.of_client(http_client)
        credentials = base64.b64encode(f"{config.api_key}:{config.api_token}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        self._config = config
        self._setup(
            HTTPTransport(
                pool=pool,
                base_url=config.base_url,
                account_sid=config.account_sid,
                headers=headers,
                limiter=_limiter(rate_limit, config),
                max_in_flight=config.max_connections,
                retry=config.retry,
                timeout=config.timeout,
                on_retry=on_retry,
            )
        )

    def _setup(self, transport: HTTPTransport) -> None:
        self._transport = transport
        sid = self._config.account_sid
        self.trunks = Trunks(transport, sid)
        self.phone_numbers = PhoneNumbers(transport, sid)
        self.whitelisted_ips = WhitelistedIps(transport, sid)
        self.destination_uris = DestinationUris(transport, sid)
        self.credentials = CredentialsResource(transport, sid)
        self.settings = Settings(transport, sid)
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
        timeout: float | httpx.Timeout | None = None,
    ) -> AsyncTrunkingClient:
        """Return a client with other retry or timeout settings that shares this one's pool.

        The derived client also shares the rate limiter and the cap on requests in flight, so
        it counts against the same account limit. It is cheap: make one per call if needed,
        e.g. ``await client.with_options(max_retries=0).trunks.create("t1")``. Closing it
        does nothing; close the original.
        """
        policy = with_max_retries(retry or self._transport.retry, max_retries)
        new_timeout = None if timeout is None else as_timeout(timeout)
        derived = object.__new__(AsyncTrunkingClient)
        derived._config = self._config
        derived._setup(self._transport.with_options(retry=policy, timeout=new_timeout))
        return derived

    async def provision(
        self,
        spec: TrunkSpec,
        trunk_sid: str | None = None,
        dry_run: bool = False,
        *,
        concurrency: int = 20,
    ) -> ProvisionReport:
        """Bring a trunk to ``spec``: create what is missing, in dependency order.

        Without a ``trunk_sid`` (here or in the spec) the trunk is created first. Then the
        current numbers, IPs and destinations are read, and only the missing ones are added:
        numbers and IPs through the bulk executor, IPs before destinations (an IP destination
        must be whitelisted first), the alias last. Nothing is removed. Applying the same
        spec again changes nothing.

        Args:
            spec: The desired state.
            trunk_sid: The trunk to bring to the spec; overrides ``spec.trunk_sid``.
            dry_run: Read the current state and return the plan without changing anything.
            concurrency: Requests in flight for the bulk steps.

        Returns:
            What was created, what already existed and what failed, per kind of item, plus
            the SIP credentials for the PBX.

        Raises:
            ConflictError: the trunk must be created but its name is taken (pass its sid).
            AuthenticationError, NotFoundError: nothing can be done on this trunk.
        """
        return await provision(
            self, spec, trunk_sid=trunk_sid, dry_run=dry_run, concurrency=concurrency
        )

    async def aclose(self) -> None:
        """Close the connection pool (unless it came from ``http_client=``)."""
        await self._transport.aclose()

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
    return Limiter(config.rate_limit)
