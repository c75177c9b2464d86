"""``diagnose(probe=True)``: try a trunk's destinations from this machine, each step bounded.

For every destination: resolve a DNS name, connect over TCP to host:port, and for
``transport=tls`` complete a TLS handshake that validates the certificate (with the client's
``verify`` settings), its host name and its expiry date. UDP cannot be tried by connecting, so
a UDP destination gets an ``info`` finding instead. A destination stops at its first failing
step, so it has at most one finding; a healthy one has none.

The expiry date is read from the verified certificate. With ``verify=False`` the handshake
checks nothing and Python's ``ssl`` then shows no certificate fields, so neither is the expiry
checked (the SDK parses no certificates of its own).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import anyio
import anyio.abc
import anyio.from_thread
import httpx2
from anyio.lowlevel import current_token
from anyio.streams.tls import TLSAttribute, TLSStream

from ._config import ssl_context_for
from ._diagnosis import Destination, Finding, Severity

__all__ = [
    "DEFAULT_PER_CHECK_SECONDS",
    "EXPIRY_WARNING",
    "look_up",
    "probe_destinations",
]

#: How long each step (DNS, TCP connect, TLS handshake) of one destination may take.
DEFAULT_PER_CHECK_SECONDS = 5.0
#: A certificate expiring within this long of now is a warning.
EXPIRY_WARNING = timedelta(days=30)
#: Destinations tried at once.
_CONCURRENCY = 10

# OpenSSL's verification results (X509_V_ERR_*) that get a finding of their own.
_CERT_HAS_EXPIRED = 10
_HOSTNAME_MISMATCH = 62
_IP_ADDRESS_MISMATCH = 64

_FIREWALL_FIX = (
    "make sure the PBX listens on port {port} and that its firewall admits TCP to it from "
    "Exotel's signalling addresses (5060 for SIP over TCP, 5061 for SIP over TLS); a firewall "
    "that admits only Exotel also refuses this probe, so run it from an admitted address"
)
_TLS_FIX = (
    "install a certificate on the PBX from a CA that Exotel trusts, with the full chain "
    "(intermediates included), and make sure port {port} speaks TLS"
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def probe_destinations(
    destinations: Sequence[Destination],
    *,
    verify: bool | str | ssl.SSLContext = True,
    per_check_seconds: float = DEFAULT_PER_CHECK_SECONDS,
    now: Callable[[], datetime] = _utc_now,
) -> list[Finding]:
    """Try every destination from this machine; return a finding for each that fails.

    Up to ten destinations are tried at once. Codes: ``dns_unresolved``,
    ``tcp_unreachable``, ``tls_handshake_failed``, ``tls_wrong_host``,
    ``tls_certificate_expired`` (errors), ``tls_certificate_expiring`` (a warning under 30
    days), ``udp_not_probed`` (info).

    Args:
        destinations: The destinations, as :meth:`TrunkSnapshot.parsed_destinations` gives
            them.
        verify: How TLS certificates are checked, as the client's ``verify=``: ``True``
            (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else the system's CAs, as the SDK's
            own HTTP client), a CA bundle path, an ``ssl.SSLContext``, or ``False`` (nothing
            is checked, the expiry date included: ``ssl`` then shows no certificate fields).
        per_check_seconds: How long each step of a destination (DNS lookup, TCP connect, TLS
            handshake) may take; 5 s by default. A step that takes longer is a finding.
        now: Returns the current time (timezone-aware), for the expiry date check.

    Returns:
        The findings, in the order of ``destinations``; at most one per destination, and
        none for a destination that works.

    Raises:
        ConfigurationError: ``verify`` names a CA bundle that cannot be read.
    """
    context = _tls_context(verify) if any(d.transport == "tls" for d in destinations) else None
    found: list[Finding | None] = [None] * len(destinations)
    limiter = anyio.CapacityLimiter(_CONCURRENCY)

    async def run(index: int, destination: Destination) -> None:
        async with limiter:
            found[index] = await _probe(destination, context, per_check_seconds, now)

    async with anyio.create_task_group() as group:
        for index, destination in enumerate(destinations):
            group.start_soon(run, index, destination)
    return [finding for finding in found if finding is not None]


def _tls_context(verify: bool | str | ssl.SSLContext) -> ssl.SSLContext:
    """The context a handshake validates with: the one the SDK's own HTTP client would use."""
    resolved = ssl_context_for(verify)  # a CA bundle path becomes a context
    if isinstance(resolved, ssl.SSLContext):
        return resolved
    if resolved:
        return httpx2.create_ssl_context(verify=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _probe(
    destination: Destination,
    context: ssl.SSLContext | None,
    seconds: float,
    now: Callable[[], datetime],
) -> Finding | None:
    """Try one destination step by step; the first step that fails gives its finding."""
    if destination.transport == "udp":
        return _finding(
            destination,
            "udp_not_probed",
            "info",
            f"destination {destination.uri} uses UDP, which cannot be tried by connecting: "
            "it was not probed",
            f"add {destination.host}:5061;transport=tls (or ;transport=tcp) to have it "
            "probed, or check UDP from the PBX's side with a SIP OPTIONS ping",
        )
    if destination.ip is None:
        resolved = await _resolve(destination, seconds)
        if isinstance(resolved, Finding):
            return resolved
        addresses = resolved
    else:
        addresses = [destination.host]
    try:
        with anyio.fail_after(seconds):
            stream = await _connect(addresses, destination.port)
    except TimeoutError:
        return _unreachable(destination, f"got no answer within {seconds:g} s")
    except OSError as exc:
        return _unreachable(destination, _connect_failure(exc))
    async with stream:
        if destination.transport != "tls" or context is None:
            return None
        return await _handshake(stream, destination, context, seconds, now)


async def _connect(addresses: Sequence[str], port: int) -> anyio.abc.SocketStream:
    """Connect to the first of ``addresses`` that answers (the name is not looked up again).

    Raises:
        OSError: none of them could be connected to (the last one's error).
    """
    error: OSError | None = None
    for address in addresses:
        try:
            return await anyio.connect_tcp(address, port)
        except OSError as exc:
            error = exc
    assert error is not None  # getaddrinfo never answers with no address
    raise error


async def _resolve(destination: Destination, seconds: float) -> list[str] | Finding:
    """The addresses of the destination's host name, or a finding if it has none in time."""
    try:
        with anyio.fail_after(seconds):
            return await look_up(destination.host, destination.port)
    except TimeoutError:
        reason = f"no answer within {seconds:g} s"
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return _finding(
        destination,
        "dns_unresolved",
        "error",
        f"destination {destination.uri}: the host name {destination.host} does not resolve "
        f"({reason})",
        f"publish an A record for {destination.host} pointing at the PBX's public address, "
        "or add the destination by that address instead and remove this one",
    )


async def look_up(host: str, port: int) -> list[str]:
    """The addresses of ``host``, from the system's resolver in a daemon thread of its own.

    A look-up that hangs is left behind when the caller's time is up: unlike a worker of the
    event loop's thread pool, a daemon thread holds up neither the loop's end nor the
    program's.

    Raises:
        OSError: the name does not resolve (``socket.gaierror``).
    """
    token = current_token()
    done = anyio.Event()
    outcome: list[list[str] | BaseException] = []

    def resolve() -> None:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(list(dict.fromkeys(str(entry[4][0]) for entry in found)))
        except BaseException as exc:
            outcome.append(exc)
        with suppress(RuntimeError):  # the event loop is gone: nobody waits any more
            anyio.from_thread.run_sync(done.set, token=token)

    threading.Thread(target=resolve, name=f"exotel-trunking look-up {host}", daemon=True).start()
    await done.wait()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _connect_failure(exc: OSError) -> str:
    """Why a TCP connect failed, from anyio's error and the per-address errors behind it."""
    causes: list[BaseException] = []
    cause: BaseException | None = exc.__cause__ or exc
    if isinstance(cause, BaseExceptionGroup):
        causes.extend(cause.exceptions)
    elif cause is not None:
        causes.append(cause)
    if causes and all(isinstance(c, ConnectionRefusedError) for c in causes):
        return "was refused (nothing listens there, or a firewall rejects it)"
    if any(isinstance(c, TimeoutError) for c in causes):
        return "got no answer (a firewall may be dropping it)"
    reason = next((c.strerror for c in causes if isinstance(c, OSError) and c.strerror), None)
    return f"failed ({reason or exc})"


def _unreachable(destination: Destination, what: str) -> Finding:
    return _finding(
        destination,
        "tcp_unreachable",
        "error",
        f"destination {destination.uri}: the TCP connection to "
        f"{destination.host}:{destination.port} {what}",
        _FIREWALL_FIX.format(port=destination.port),
    )


async def _handshake(
    stream: anyio.abc.SocketStream,
    destination: Destination,
    context: ssl.SSLContext,
    seconds: float,
    now: Callable[[], datetime],
) -> Finding | None:
    """Complete a TLS handshake over ``stream``; check the certificate it gets.

    Closing ``stream`` afterwards is the caller's: the TLS layer holds no socket of its own.
    """
    try:
        with anyio.fail_after(seconds):
            tls = await TLSStream.wrap(
                stream, hostname=destination.host, ssl_context=context, standard_compatible=False
            )
    except TimeoutError:
        return _handshake_failed(destination, f"it did not finish within {seconds:g} s")
    except ssl.SSLCertVerificationError as exc:
        return _verification_failed(destination, exc)
    except ssl.SSLError as exc:
        return _handshake_failed(destination, exc.reason or str(exc))
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        return _handshake_failed(destination, "the server closed the connection during it")
    certificate = tls.extra(TLSAttribute.peer_certificate, None)  # noqa: S610 - anyio's
    expiry = (certificate or {}).get("notAfter")  # absent when verification is off
    if not isinstance(expiry, str):
        return None
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(expiry), tz=UTC)
    return _expiry(destination, not_after, now())


def _verification_failed(destination: Destination, exc: ssl.SSLCertVerificationError) -> Finding:
    """Tell a wrong host name and an expired certificate from other verification failures."""
    code = getattr(exc, "verify_code", None)
    detail = getattr(exc, "verify_message", None) or exc.reason or str(exc)
    lowered = detail.lower()
    where = f"{destination.host}:{destination.port}"
    if code in (_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH) or "mismatch" in lowered:
        kind = "IP address" if destination.ip is not None else "host name"
        return _finding(
            destination,
            "tls_wrong_host",
            "error",
            f"destination {destination.uri}: the certificate at {where} is not valid for "
            f"{destination.host} ({detail})",
            f"install a certificate on the PBX whose subject alternative names include the "
            f"{kind} {destination.host}, or add the destination under a name its "
            "certificate covers",
        )
    if code == _CERT_HAS_EXPIRED or "expired" in lowered:
        return _expired(destination, None)
    return _handshake_failed(destination, f"certificate issue: {detail}")


def _handshake_failed(destination: Destination, why: str) -> Finding:
    return _finding(
        destination,
        "tls_handshake_failed",
        "error",
        f"destination {destination.uri}: the TLS handshake with "
        f"{destination.host}:{destination.port} failed: {why}",
        _TLS_FIX.format(port=destination.port),
    )


def _expiry(destination: Destination, not_after: datetime, moment: datetime) -> Finding | None:
    """A finding for a certificate expired at ``moment``, or expiring within 30 days of it."""
    if not_after <= moment:
        return _expired(destination, not_after)
    left = not_after - moment
    if left >= EXPIRY_WARNING:
        return None
    return _finding(
        destination,
        "tls_certificate_expiring",
        "warning",
        f"destination {destination.uri}: the certificate at "
        f"{destination.host}:{destination.port} expires on {_date(not_after)} "
        f"({left.days} days left)",
        f"renew the PBX's TLS certificate before {_date(not_after)} and reload it",
    )


def _expired(destination: Destination, not_after: datetime | None) -> Finding:
    when = "" if not_after is None else f" on {_date(not_after)}"
    return _finding(
        destination,
        "tls_certificate_expired",
        "error",
        f"destination {destination.uri}: the certificate at "
        f"{destination.host}:{destination.port} expired{when}: TLS connections to it fail",
        "renew the PBX's TLS certificate and reload it",
    )


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _finding(
    destination: Destination, code: str, severity: Severity, message: str, fix: str
) -> Finding:
    return Finding(code, severity, message, fix, item=destination.uri)
