"""Client configuration: arguments, ``EXOTEL_*`` environment variables, regions and defaults.

Everything a client is configured with is resolved once, here, into a frozen
:class:`ClientConfig`; the client never reads the environment again.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from types import EllipsisType

import attrs
import httpx2

from ._exceptions import ConfigurationError, InvalidParameterError
from ._transport import RateLimit, RateLimiter, RetryPolicy
from ._validation import validate_path_segment

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT",
    "REGIONS",
    "ClientConfig",
    "as_timeout",
    "attempt_timeout_for",
    "resolve_proxy",
    "resolve_verify",
    "ssl_context_for",
    "with_max_retries",
]

#: Base URLs by region, as Exotel documents them.
REGIONS: Mapping[str, str] = {"in": "https://api.in.exotel.com", "sg": "https://api.exotel.com"}
#: 30 s for each read or write, 10 s to connect (per operation: a whole attempt is bounded by
#: DEFAULT_ATTEMPT_TIMEOUT). Waiting for a pooled connection is not limited:
#: the client never has more requests in flight than connections, so nobody waits long.
DEFAULT_TIMEOUT = httpx2.Timeout(30.0, connect=10.0, pool=None)
#: The longest one attempt may take from sending to the last byte read, whatever the
#: per-operation timeouts (a server dripping a byte at a time never trips a read timeout).
#: When the read timeout is longer than half of it, twice the read timeout applies instead.
DEFAULT_ATTEMPT_TIMEOUT = 60.0
#: The largest response body read, after decompression. Exotel's answers are a few KB; a list
#: of thousands of numbers in one reference-style answer stays well below it.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
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


def _proxy_repr(value: str | None) -> str:
    """A proxy URL as shown: scheme, host and port only; credentials and query never."""
    if value is None:
        return "None"
    url = httpx2.URL(value)
    port = f":{url.port}" if url.port is not None else ""
    credentials = " (with credentials)" if url.userinfo else ""
    return repr(f"{url.scheme}://{url.host}{port}{credentials}")


@attrs.frozen
class ClientConfig:
    """A client's resolved configuration. The token never appears in its ``repr``.

    Attributes:
        api_key: The API key (the Basic-auth user name).
        api_token: The API token (the Basic-auth password).
        account_sid: The account the requests act on.
        base_url: Scheme and host (and optional path prefix) requests go to.
        timeout: httpx2's per-operation timeouts of each attempt.
        attempt_timeout: The longest one attempt may take, sending to last byte, or ``None``.
        max_response_bytes: The largest response body read (after decompression).
        retry: The retry policy.
        rate_limit: Client-side pacing, or ``None`` (also when a custom limiter paces).
        max_connections: The size of the connection pool, and the cap on requests in flight.
        verify: TLS verification for the SDK's own HTTP client: ``True`` (the environment's
            ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else the system's CAs), ``False``, a CA
            bundle path, or an ``ssl.SSLContext``.
        proxy: A proxy URL for the SDK's own HTTP client, or ``None`` for the environment's
            (``HTTPS_PROXY``, ``NO_PROXY``, ...). Its credentials never show in the ``repr``.
        http2: Whether the SDK's own HTTP client may speak HTTP/2.
    """

    api_key: str
    api_token: str = attrs.field(repr=_secret_repr)
    account_sid: str
    base_url: str
    timeout: httpx2.Timeout = DEFAULT_TIMEOUT
    attempt_timeout: float | None = DEFAULT_ATTEMPT_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    verify: bool | str | ssl.SSLContext = True
    proxy: str | None = attrs.field(default=None, repr=_proxy_repr)
    http2: bool = False

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None,
        api_token: str | None,
        account_sid: str | None,
        region: str | None,
        base_url: str | None,
        timeout: float | httpx2.Timeout,
        max_retries: int | None,
        retry: RetryPolicy | None,
        rate_limit: RateLimit | RateLimiter | None,
        max_connections: int,
        attempt_timeout: float | EllipsisType | None = ...,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: bool | str | ssl.SSLContext = True,
        proxy: str | httpx2.URL | None = None,
        http2: bool = False,
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
        resolved_timeout = as_timeout(timeout)
        return cls(
            api_key=key,
            api_token=token,
            account_sid=sid,
            base_url=_base_url(region, base_url, environ),
            timeout=resolved_timeout,
            attempt_timeout=attempt_timeout_for(attempt_timeout, resolved_timeout),
            max_response_bytes=_max_response_bytes(max_response_bytes),
            retry=retry,
            rate_limit=rate_limit if isinstance(rate_limit, RateLimit) else None,
            max_connections=max_connections,
            verify=resolve_verify(verify),
            proxy=resolve_proxy(proxy),
            http2=_flag("http2", http2),
        )


def attempt_timeout_for(
    value: float | EllipsisType | None,
    timeout: httpx2.Timeout,
    current: float | None = DEFAULT_ATTEMPT_TIMEOUT,
) -> float | None:
    """Resolve ``attempt_timeout=``, given or not (``...``).

    Not given, it is ``current``, raised to twice the read timeout if that is longer, so that a
    long read timeout is never cut short.

    Raises:
        ConfigurationError: the value is neither seconds > 0 nor ``None``.
    """
    if value is ...:
        read = timeout.read
        return current if current is None or read is None else max(current, 2 * read)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"attempt_timeout={value!r} must be seconds > 0 or None")
    return float(value)


def _max_response_bytes(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_response_bytes={value!r} must be an int >= 1")
    return value


def resolve_verify(value: bool | str | ssl.SSLContext) -> bool | str | ssl.SSLContext:
    """Check ``verify=``: a bool, an ``ssl.SSLContext``, or a CA bundle path that exists.

    Raises:
        ConfigurationError: naming the value and what would be valid.
    """
    if isinstance(value, (bool, ssl.SSLContext)):
        return value
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.exists(path):
            raise ConfigurationError(
                f"verify={path!r} is not a CA bundle file or directory: pass a path that "
                "exists, True, False or an ssl.SSLContext"
            )
        return path
    raise ConfigurationError(
        f"verify={value!r} is invalid: expected True, False, a CA bundle path or an ssl.SSLContext"
    )


def resolve_proxy(value: str | httpx2.URL | None) -> str | None:
    """Check ``proxy=``: ``None``, or an http(s) or socks5 URL with a host.

    Raises:
        ConfigurationError: naming the value (its credentials masked) and what would be valid.
    """
    if value is None:
        return None
    try:
        url = httpx2.URL(value)
    except (httpx2.InvalidURL, TypeError):
        raise ConfigurationError("proxy is not a valid URL") from None
    if not url.host:
        raise ConfigurationError(
            "proxy has no host: expected an http://, https:// or socks5:// URL such as "
            "'http://proxy.internal:3128'"
        )
    if url.scheme not in ("http", "https", "socks5", "socks5h"):
        raise ConfigurationError(
            f"proxy={_proxy_repr(str(url))} is invalid: expected an http://, https:// or "
            "socks5:// URL"
        )
    return str(url)


def _flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name}={value!r} must be True or False")
    return value


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
        url = httpx2.URL(base_url)
    except (httpx2.InvalidURL, TypeError):
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


def as_timeout(timeout: float | httpx2.Timeout) -> httpx2.Timeout:
    """Return ``timeout`` as an ``httpx2.Timeout`` (a number is seconds per operation).

    Raises:
        ConfigurationError: ``timeout`` is neither a positive number nor an ``httpx2.Timeout``.
    """
    if isinstance(timeout, httpx2.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigurationError(f"timeout={timeout!r} must be seconds > 0 or an httpx2.Timeout")
    return httpx2.Timeout(float(timeout), pool=None)


def ssl_context_for(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """``verify`` as httpx2 takes it: a CA bundle path becomes a context (str is deprecated).

    Raises:
        ConfigurationError: the CA bundle cannot be read.
    """
    if not isinstance(verify, str):
        return verify
    try:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"verify={verify!r} is not a readable CA bundle: {exc}") from None
