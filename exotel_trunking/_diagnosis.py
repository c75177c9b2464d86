"""``client.diagnose``: why calls on a trunk will fail, read off the trunk before a call does.

A diagnosis reads one :class:`TrunkSnapshot` (numbers, whitelisted IPs, destinations, SIP
credentials) and runs :data:`CHECKS` on it: small pure functions, each tied to the row of the
reference's troubleshooting tables it comes from. With ``probe=True`` it also tries the
trunk's destinations from this machine (:mod:`._probes`). Every :class:`Finding` has a stable
``code``, a severity, a message naming the item, and the fix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal

import anyio
import attrs

from ._exceptions import ResponseDecodeError
from ._models import DestinationUri, PhoneNumber, WhitelistedIp
from ._validation import validate_path_segment

if TYPE_CHECKING:
    from ._client import AsyncTrunkingClient

__all__ = [
    "CHECKS",
    "Destination",
    "Diagnosis",
    "Finding",
    "Severity",
    "TrunkSnapshot",
    "check_snapshot",
    "diagnose",
    "parse_destination",
]

Severity = Literal["error", "warning", "info"]
_SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

_DESTINATION = re.compile(
    r"(?:sip:)?(?P<host>[^:;\s]+):(?P<port>\d{1,5})(?P<params>(?:;[^;\s]*)*)", re.IGNORECASE
)
#: The SIP ports by transport (RFC 3261): 5061 is SIP over TLS, 5060 plain SIP.
_SIP_PORT = 5060
_SIPS_PORT = 5061
_MAX_PORT = 65535


@attrs.frozen
class Finding:
    """One thing that will make calls on the trunk fail, or is worth knowing.

    Attributes:
        code: A stable short string (``"no_destination"``); see the README's table.
        severity: ``"error"`` (calls will fail), ``"warning"`` (some calls may fail) or
            ``"info"``.
        message: What is wrong, naming the item.
        fix: The call or command that repairs it.
        item: The number, address or destination it is about, if any.
    """

    code: str
    severity: Severity
    message: str
    fix: str
    item: str | None = None


@attrs.frozen
class Diagnosis:
    """What :meth:`AsyncTrunkingClient.diagnose` found on a trunk.

    Attributes:
        trunk_sid: The trunk.
        findings: Every finding, errors first.
        probed: Whether the destinations were tried from this machine.
    """

    trunk_sid: str
    findings: tuple[Finding, ...]
    probed: bool = False

    @property
    def ok(self) -> bool:
        """No ``"error"`` finding."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        """The ``"error"`` findings."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The ``"warning"`` findings."""
        return [f for f in self.findings if f.severity == "warning"]

    def codes(self) -> list[str]:
        """The findings' codes, in order."""
        return [f.code for f in self.findings]


@attrs.frozen
class Destination:
    """A destination URI as the API lists it, taken apart.

    Attributes:
        uri: The destination as listed (``sip:`` prefix included if the API sent one).
        host: The IPv4 address or DNS name.
        port: The port.
        transport: ``"tcp"``, ``"tls"``, or ``"udp"`` when no ``;transport=`` is given (the
            live service's default).
    """

    uri: str
    host: str
    port: int
    transport: str

    @property
    def ip(self) -> ipaddress.IPv4Address | None:
        """The host as an address, or ``None`` for a DNS name."""
        try:
            return ipaddress.IPv4Address(self.host)
        except ValueError:
            return None


def parse_destination(uri: str) -> Destination | None:
    """Take a listed destination apart, or return ``None`` if it has no ``host:port``."""
    match = _DESTINATION.fullmatch(uri.strip())
    if match is None or not 1 <= int(match["port"]) <= _MAX_PORT:
        return None
    params = dict(part.partition("=")[::2] for part in match["params"].lower().split(";") if part)
    return Destination(
        uri=uri,
        host=match["host"].lower(),
        port=int(match["port"]),
        transport=params.get("transport") or "udp",
    )


@attrs.frozen
class TrunkSnapshot:
    """Everything a diagnosis reads from a trunk, read once.

    Attributes:
        trunk_sid: The trunk.
        numbers: Its phone numbers.
        ips: Its whitelisted addresses and ranges.
        destinations: Its destination URIs.
        has_credentials: Whether SIP credentials were issued for it (their values are
            never kept here).
    """

    trunk_sid: str
    numbers: tuple[PhoneNumber, ...] = ()
    ips: tuple[WhitelistedIp, ...] = ()
    destinations: tuple[DestinationUri, ...] = ()
    has_credentials: bool = False

    def parsed_destinations(self) -> list[Destination]:
        """The destinations that parse; see :func:`check_unreadable_destination`."""
        return [d for d in map(parse_destination, (x.destination for x in self.destinations)) if d]

    def networks(self) -> list[ipaddress.IPv4Network]:
        """The whitelisted ranges."""
        return [ipaddress.IPv4Network(f"{w.ip}/{w.mask}", strict=False) for w in self.ips]


Check = Callable[[TrunkSnapshot], Iterable[Finding]]


def check_no_numbers(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """No number is mapped: nobody can call in, and outbound calls have no caller ID."""
    if not snapshot.numbers:
        yield Finding(
            "no_numbers",
            "error",
            "no phone number is mapped to the trunk: it can receive no calls, and outbound "
            "calls have no number to present",
            f"client.phone_numbers.map({snapshot.trunk_sid!r}, '+91...') or "
            f"exotel-trunking numbers map {snapshot.trunk_sid} +91...",
        )


def check_no_destination(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """Troubleshooting, "No inbound calls received": missing destination URI."""
    if not snapshot.destinations:
        yield Finding(
            "no_destination",
            "error",
            "the trunk has no destination URI: inbound calls have nowhere to go",
            f"client.destination_uris.add({snapshot.trunk_sid!r}, 'host:5061;transport=tls') "
            f"or exotel-trunking destinations add {snapshot.trunk_sid} 'host:5061;transport=tls'",
        )


def check_no_whitelisted_ip(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """SIP 403 on outbound calls: IP not whitelisted; outbound needs static IP whitelisting."""
    if snapshot.ips:
        return
    destinations = snapshot.parsed_destinations()
    fqdn_only = bool(destinations) and all(d.ip is None for d in destinations)
    note = (
        " (its destinations are all DNS names: FQDN routing works for inbound calls only)"
        if fqdn_only
        else ""
    )
    # The reference requires a static IP for outbound calls; the live service also takes SIP
    # digest credentials, so with credentials this is a warning, not a certain failure.
    severity: Severity = "warning" if snapshot.has_credentials else "error"
    yield Finding(
        "no_whitelisted_ip",
        severity,
        "no IP is whitelisted on the trunk: outbound calls from an address are refused with "
        f"SIP 403, since outbound (termination) needs a static whitelisted IP{note}"
        + (
            ", unless the PBX authenticates with the trunk's SIP credentials"
            if snapshot.has_credentials
            else ""
        ),
        f"client.whitelisted_ips.add({snapshot.trunk_sid!r}, 'your.pbx.public.ip') or "
        f"exotel-trunking ips add {snapshot.trunk_sid} your.pbx.public.ip",
    )


def check_destination_not_whitelisted(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """An IP destination that no whitelisted range covers (SIP 403 from that address)."""
    networks = snapshot.networks()
    if not networks:
        return  # check_no_whitelisted_ip says it once for the whole trunk
    for destination in snapshot.parsed_destinations():
        ip = destination.ip
        if ip is not None and not any(ip in network for network in networks):
            yield Finding(
                "destination_ip_not_whitelisted",
                "warning",
                f"destination {destination.uri} is at {ip}, which no whitelisted range of the "
                "trunk covers: calls the PBX places from there are refused with SIP 403",
                f"client.whitelisted_ips.add({snapshot.trunk_sid!r}, {str(ip)!r}) or "
                f"exotel-trunking ips add {snapshot.trunk_sid} {ip}",
                item=destination.uri,
            )


def check_transport_port(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """Troubleshooting, "Registration timeout": ports 5060/5061 with the wrong transport."""
    for destination in snapshot.parsed_destinations():
        tls, port = destination.transport == "tls", destination.port
        if tls and port == _SIP_PORT:
            expected = f"TLS on port {_SIP_PORT}, where SIP servers speak plain SIP"
        elif not tls and port == _SIPS_PORT:
            expected = (
                f"{destination.transport.upper()} on port {_SIPS_PORT}, the SIP-over-TLS port"
            )
        else:
            continue
        fixed = f"{destination.host}:{_SIPS_PORT};transport=tls"
        yield Finding(
            "transport_port_mismatch",
            "warning",
            f"destination {destination.uri} uses {expected}: inbound calls sent there are "
            "likely to time out in the handshake or go unanswered",
            f"add {fixed} instead (exotel-trunking destinations add {snapshot.trunk_sid} "
            f"'{fixed}') and remove {destination.uri}",
            item=destination.uri,
        )


def check_udp_destination(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """A destination without ``;transport=``: UDP on the live service (no TLS, no TCP)."""
    for destination in snapshot.parsed_destinations():
        if destination.transport == "udp":
            yield Finding(
                "udp_destination",
                "info",
                f"destination {destination.uri} names no transport, which the live service "
                "takes as UDP: signalling is unencrypted and large INVITEs may be fragmented",
                f"add {destination.host}:{_SIPS_PORT};transport=tls if the PBX speaks TLS",
                item=destination.uri,
            )


def check_unreadable_destination(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """A destination the SDK cannot take apart into host and port."""
    for record in snapshot.destinations:
        if parse_destination(record.destination) is None:
            yield Finding(
                "unreadable_destination",
                "warning",
                f"destination {record.destination!r} has no host:port the SDK can read",
                "check it in Exotel's dashboard, and add it again as host:port;transport=tls",
                item=record.destination,
            )


def check_no_credentials(snapshot: TrunkSnapshot) -> Iterator[Finding]:
    """SIP 401 on registration: wrong credentials; none were issued for the trunk yet."""
    if snapshot.has_credentials:
        return
    # With a whitelisted IP the trunk authenticates calls by address: credentials are optional.
    severity: Severity = "info" if snapshot.ips else "warning"
    yield Finding(
        "no_credentials",
        severity,
        "the trunk has no SIP credentials: a PBX that registers or authenticates with a user "
        "name and password is refused with SIP 401"
        + (" (calls from its whitelisted IPs need none)" if snapshot.ips else ""),
        "create a SIP credential for the trunk with "
        f"exotel-trunking credentials create {snapshot.trunk_sid} USER_NAME (live API), or ask "
        "Exotel to issue the trunk's credentials",
    )


#: Every state check, in the order their findings are listed within a severity.
CHECKS: tuple[Check, ...] = (
    check_no_numbers,
    check_no_destination,
    check_no_whitelisted_ip,
    check_destination_not_whitelisted,
    check_transport_port,
    check_unreadable_destination,
    check_no_credentials,
    check_udp_destination,
)


def check_snapshot(snapshot: TrunkSnapshot) -> list[Finding]:
    """Run :data:`CHECKS` on ``snapshot``; return the findings, errors first."""
    return sort_findings(finding for check in CHECKS for finding in check(snapshot))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Order findings by severity (errors first), keeping the checks' order within one."""
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])


async def read_snapshot(client: AsyncTrunkingClient, trunk_sid: str) -> TrunkSnapshot:
    """Read everything a diagnosis needs from the trunk, the four reads at once."""
    numbers: list[PhoneNumber] = []
    ips: list[WhitelistedIp] = []
    destinations: list[DestinationUri] = []
    has_credentials: list[bool] = []

    async def read_numbers() -> None:
        numbers.extend(await client.phone_numbers.list(trunk_sid))

    async def read_ips() -> None:
        ips.extend(await client.whitelisted_ips.list(trunk_sid))

    async def read_destinations() -> None:
        destinations.extend(await client.destination_uris.list(trunk_sid))

    async def read_credentials() -> None:
        try:
            has_credentials.append(await client.credentials.get(trunk_sid) is not None)
        except ResponseDecodeError:
            # Listed, in a shape this version does not read (the live service's digest
            # credentials carry a user_name and no password): they exist.
            has_credentials.append(True)

    try:
        async with anyio.create_task_group() as group:
            for read in (read_numbers, read_ips, read_destinations, read_credentials):
                group.start_soon(read)
    except ExceptionGroup as errors:
        # The reads fail together (an unknown trunk, a refused token): the first says why.
        raise errors.exceptions[0] from None
    return TrunkSnapshot(
        trunk_sid, tuple(numbers), tuple(ips), tuple(destinations), has_credentials[0]
    )


async def diagnose(
    client: AsyncTrunkingClient, trunk_sid: str, *, probe: bool = False
) -> Diagnosis:
    """Read the trunk, run every check, and with ``probe`` try its destinations.

    Raises:
        InvalidParameterError: a bad ``trunk_sid``, before anything is sent.
        NotFoundError: the trunk does not exist.
    """
    validate_path_segment(trunk_sid, "trunk_sid")
    snapshot = await read_snapshot(client, trunk_sid)
    findings = check_snapshot(snapshot)
    if probe:
        from ._probes import probe_destinations  # noqa: PLC0415 - network code only when asked

        findings.extend(
            await probe_destinations(snapshot.parsed_destinations(), verify=client.config.verify)
        )
    return Diagnosis(trunk_sid, tuple(sort_findings(findings)), probed=probe)
