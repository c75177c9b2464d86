"""Client configuration: arguments, ``EXOTEL_*`` environment variables, regions and defaults.

Everything a client is configured with is resolved once, here, into a frozen
:class:`ClientConfig`; the client never reads the environment again.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

import attrs
import httpx

from ._exceptions import ConfigurationError, InvalidParameterError
from ._transport import RateLimit, RateLimiter, RetryPolicy
from ._validation import validate_path_segment

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "REGIONS",
    "ClientConfig",
    "as_timeout",
    "with_max_retries",
]

#: Base URLs by region, as Exotel documents them.
REGIONS: Mapping[str, str] = {"in": "https://api.in.exotel.com", "sg": "https://api.exotel.com"}
#: 30 s for a whole response, 10 s to connect. Waiting for a pooled connection is not limited:
#: the client never has more requests in flight than connections, so nobody waits long.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=None)
#: Exotel allows 50 concurrent connections per account.
DEFAULT_MAX_CONNECTIONS = 50
#: Exotel's documented account limit: 200 calls a minute.
DEFAULT_RATE_LIMIT = RateLimit(calls=200, period=60.0)

_ENV = {
    "api_key": "EXOTEL_API_KEY",
    "api_token": "EXOTEL_API_TOKEN",
    "account_sid": "EXOTEL_ACCOUNT_SID",
    "region": "EXOTEL_REGION",
    "base_url": "EXOTEL_BASE_URL",
}
_LOOPBACK_NAMES = frozenset({"localhost"})


def _secret_repr(value: str) -> str:
    return "'***'" if value else "''"


@attrs.frozen
class ClientConfig:
    """A client's resolved configuration. The token never appears in its ``repr``.

    Attributes:
        api_key: The API key (the Basic-auth user name).
        api_token: The API token (the Basic-auth password).
        account_sid: The account the requests act on.
        base_url: Scheme and host (and optional path prefix) requests go to.
        timeout: The httpx timeout of each attempt.
        retry: The retry policy.
        rate_limit: Client-side pacing, or ``None`` (also when a custom limiter paces).
        max_connections: The size of the connection pool, and the cap on requests in flight.
    """

    api_key: str
    api_token: str = attrs.field(repr=_secret_repr)
    account_sid: str
    base_url: str
    timeout: httpx.Timeout = DEFAULT_TIMEOUT
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None,
        api_token: str | None,
        account_sid: str | None,
        region: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int | None,
        retry: RetryPolicy | None,
        rate_limit: RateLimit | RateLimiter | None,
        max_connections: int,
        environ: Mapping[str, str] = os.environ,
    ) -> ClientConfig:
        """Resolve arguments and environment variables into a configuration.

        Raises:
            ConfigurationError: naming the argument (and environment variable) at fault.
        """
        key = _credential("api_key", api_key, environ)
        token = _credential("api_token", api_token, environ)
        sid = _credential("account_sid", account_sid, environ)
        try:
            validate_path_segment(sid, "account_sid")
        except InvalidParameterError as exc:
            raise ConfigurationError(str(exc)) from None
        retry = with_max_retries(retry or RetryPolicy(), max_retries)
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise ConfigurationError(f"max_connections={max_connections!r} must be an int >= 1")
        if max_connections < 1:
            raise ConfigurationError(f"max_connections={max_connections!r} must be an int >= 1")
        return cls(
            api_key=key,
            api_token=token,
            account_sid=sid,
            base_url=_base_url(region, base_url, environ),
            timeout=as_timeout(timeout),
            retry=retry,
            rate_limit=rate_limit if isinstance(rate_limit, RateLimit) else None,
            max_connections=max_connections,
        )


def with_max_retries(retry: RetryPolicy, max_retries: int | None) -> RetryPolicy:
    """Return ``retry`` with ``max_retries`` applied, if given.

    Raises:
        ConfigurationError: ``max_retries`` is not an int >= 0.
    """
    if max_retries is None:
        return retry
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(f"max_retries={max_retries!r} must be an int >= 0")
    return attrs.evolve(retry, max_retries=max_retries)


def _credential(name: str, value: str | None, environ: Mapping[str, str]) -> str:
    variable = _ENV[name]
    if value is None:
        value = environ.get(variable, "").strip()
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} is missing: pass {name}= or set {variable}")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        # The value itself is not echoed: it may be a secret.
        raise ConfigurationError(f"{name} contains whitespace or control characters")
    return value


def _base_url(region: str | None, base_url: str | None, environ: Mapping[str, str]) -> str:
    if base_url is None:
        base_url = environ.get(_ENV["base_url"], "").strip() or None
    if base_url is None:
        region = (region or environ.get(_ENV["region"], "").strip() or "in").lower()
        if region not in REGIONS:
            raise ConfigurationError(
                f"region={region!r} is unknown: expected one of {', '.join(map(repr, REGIONS))}"
            )
        return REGIONS[region]
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError("base_url is not a valid URL") from None
    if url.userinfo:
        raise ConfigurationError(
            "base_url must not contain credentials: pass api_key= and api_token= instead"
        )
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url={base_url!r} must be an absolute http(s) URL such as 'https://api.in.exotel.com'"
        )
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigurationError(
            f"base_url={base_url!r} uses plain http:// to a host that is not loopback; "
            "credentials would cross the network unencrypted: use https://"
        )
    if url.query or url.fragment:
        raise ConfigurationError(f"base_url={base_url!r} must not have a query or fragment")
    return str(url).rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def as_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    """Return ``timeout`` as an ``httpx.Timeout`` (a number is seconds per attempt).

    Raises:
        ConfigurationError: ``timeout`` is neither a positive number nor an ``httpx.Timeout``.
    """
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"timeout={timeout!r} must be seconds > 0 or an httpx.Timeout")
    return httpx.Timeout(float(timeout), pool=None)
