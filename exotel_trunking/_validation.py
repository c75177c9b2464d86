"""Client-side validation: every argument is checked here before any request is built.

Each function returns the normalised value or raises :class:`InvalidParameterError` naming the
argument, the refused value and what would be valid (a password is never shown). The emulator
uses most of these rules too; destinations and SIP credentials it checks its own way, per
dialect (the reference takes no UDP destination).
"""

from __future__ import annotations

import ipaddress
import re

import phonenumbers
from phonenumbers import PhoneMetadata, ValidationResult

from ._exceptions import InvalidParameterError

__all__ = [
    "DOCUMENTATION_NETWORKS",
    "MODES",
    "RESERVED_NETWORKS",
    "destination_host",
    "is_ip_host",
    "normalize_destination",
    "normalize_phone_number",
    "parse_ip",
    "validate_friendly_name",
    "validate_mode",
    "validate_password",
    "validate_path_segment",
    "validate_trunk_name",
    "validate_user_name",
]

_TRUNK_NAME = re.compile(r"[A-Za-z0-9_]{1,16}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()\t")
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_DESTINATION = re.compile(
    r"(?P<host>[^:;]+):(?P<port>[0-9]{1,5})(?:;transport=(?P<transport>[A-Za-z]+))?"
)
#: What a SIP user part carries without escaping (no ``:``, ``@``, spaces).
_USER_NAME = re.compile(r"[A-Za-z0-9._~+-]+")
#: Printable ASCII without spaces: what every PBX config, shell and SIP stack takes as is.
_PASSWORD = re.compile(r"[!-~]+")
MIN_PASSWORD_LENGTH = 12
MAX_FRIENDLY_NAME = 32
_FORBIDDEN_IN_PATH = re.compile(r"[/?#%\s]")

#: Networks that can never be a customer's public SIP server.
RESERVED_NETWORKS = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
#: RFC 5737 ranges, accepted because the API's own examples use them.
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.IPv4Network(net) for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
MODES = ("pstn", "flow")


def _require_str(argument: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(argument, value, f"expected a str, got {type(value).__name__}")
    return value


def validate_trunk_name(value: object, argument: str = "trunk_name") -> str:
    """Return ``value`` if it is 1-16 characters of letters, digits and underscores."""
    name = _require_str(argument, value)
    if not _TRUNK_NAME.fullmatch(name):
        raise InvalidParameterError(
            argument, value, "expected 1-16 characters of A-Z, a-z, 0-9 and _"
        )
    return name


def normalize_phone_number(
    value: object, argument: str = "phone_number", *, possible: bool = True
) -> str:
    """Return ``value`` in E.164 form, after stripping spaces, dashes, dots and parentheses.

    ``"+91 98765-43210"`` becomes ``"+919876543210"``.

    The number must also be *possible* for its country: its length fits the country's
    numbering plan, as libphonenumber's metadata (the ``phonenumbers`` package) has it. That
    is a length check, not the stricter check of assigned ranges, which goes stale as
    countries open new ones. ``possible=False`` leaves it out, to name a number that exists
    already (mapped before, by the dashboard or an older SDK).
    """
    number = _require_str(argument, value).translate(_PHONE_PUNCTUATION)
    if not _E164.fullmatch(number):
        raise InvalidParameterError(
            argument, value, "expected E.164: '+' then 7-15 digits, the first not 0"
        )
    problem = _impossible_for_country(number) if possible else None
    if problem is not None:
        raise InvalidParameterError(argument, value, problem)
    return number


_TOO_SHORT_OR_LONG = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short (a local number, without its area code)",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "of a length no number has",
}


def _impossible_for_country(number: str) -> str | None:
    """Why an E.164 ``number`` cannot exist in its country's numbering plan, or ``None``."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return f"no country has the calling code at the start of {number}"
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason == ValidationResult.IS_POSSIBLE:
        return None
    code = parsed.country_code
    if code is None or reason == ValidationResult.INVALID_COUNTRY_CODE:
        return f"no country has the calling code +{code}"
    region = phonenumbers.region_code_for_country_code(code)
    metadata = (
        PhoneMetadata.metadata_for_nongeo_region(code)
        if region in (phonenumbers.UNKNOWN_REGION, "001")
        else PhoneMetadata.metadata_for_region(region)
    )
    place = f"+{code}" if region in (phonenumbers.UNKNOWN_REGION, "001") else f"{region} (+{code})"
    digits = len(number) - 1 - len(str(code))
    general = metadata.general_desc if metadata is not None else None
    lengths = general.possible_length if general is not None else ()
    expected = f", where numbers have {_lengths(lengths)}" if lengths else ""
    what = _TOO_SHORT_OR_LONG.get(reason, "not possible")
    return f"{what} for {place}: {digits} digits after the country code{expected}"


def _lengths(lengths: tuple[int, ...]) -> str:
    ordered = sorted(lengths)
    if len(ordered) == 1:
        return str(ordered[0])
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]} to {ordered[-1]}"
    return ", ".join(map(str, ordered[:-1])) + f" or {ordered[-1]}"


def validate_mode(value: object, argument: str = "mode") -> str | None:
    """Return ``value`` if it is ``None``, ``"pstn"`` or ``"flow"``."""
    if value is None or value in MODES:
        return value
    raise InvalidParameterError(argument, value, "expected None, 'pstn' or 'flow'")


def parse_ip(
    ip: object, mask: object = None, argument: str = "ip", *, public: bool = True
) -> tuple[str, int]:
    """Return ``(address, mask)`` for a public IPv4 address or CIDR range.

    ``ip`` is ``"a.b.c.d"`` or ``"a.b.c.d/nn"``; ``mask`` defaults to 32 for a plain address.
    Giving a CIDR and a different ``mask`` is an error, as are host bits set below the mask.
    ``public=False`` accepts private and reserved ranges too (to name an entry that exists).
    """
    text = _require_str(argument, ip).strip()
    if mask is not None and (isinstance(mask, bool) or not isinstance(mask, int)):
        raise InvalidParameterError("mask", mask, "expected an int from 16 to 32")
    address_text, slash, prefix_text = text.partition("/")
    try:
        address = ipaddress.IPv4Address(address_text)
    except ValueError:
        raise InvalidParameterError(
            argument, ip, "expected an IPv4 address 'a.b.c.d' or range 'a.b.c.d/nn'"
        ) from None
    if slash:
        if not prefix_text.isdigit():
            raise InvalidParameterError(argument, ip, "expected a CIDR suffix '/16' to '/32'")
        prefix = int(prefix_text)
        if mask is not None and mask != prefix:
            raise InvalidParameterError(
                "mask", mask, f"conflicts with the /{prefix} in ip={text!r}; give one or the other"
            )
    else:
        prefix = 32 if mask is None else mask
    if not 16 <= prefix <= 32:
        name, bad = ("mask", mask) if mask is not None else (argument, ip)
        raise InvalidParameterError(name, bad, "the mask must be from 16 to 32")
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    if network.network_address != address:
        raise InvalidParameterError(
            argument,
            ip,
            f"host bits are set below the /{prefix} mask; did you mean {network.with_prefixlen}?",
        )
    if public:
        _require_public(argument, ip, network)
    return str(address), prefix


def _require_public(argument: str, value: object, network: ipaddress.IPv4Network) -> None:
    if any(network.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS):
        return
    for reserved in RESERVED_NETWORKS:
        if network.overlaps(reserved):
            raise InvalidParameterError(
                argument,
                value,
                f"{reserved} is not a public address range; a SIP server needs a public IPv4",
            )


def normalize_destination(value: object, argument: str = "destinations") -> str:
    """Return a destination as ``host:port`` (UDP) or ``host:port;transport=tcp|tls``.

    A leading ``sip:`` is stripped. The live service takes a destination without
    ``;transport=`` as UDP, so ``;transport=udp`` is sent in that form: ``host:port``.
    """
    text = _require_str(argument, value).strip()
    if text[:4].lower() == "sip:":
        text = text[4:]
    expected = (
        "expected 'host:port' (UDP), 'host:port;transport=tcp' or ';transport=tls', "
        "with port 1-65535"
    )
    match = _DESTINATION.fullmatch(text)
    if match is None:
        raise InvalidParameterError(argument, value, expected)
    host, port, transport = match["host"], int(match["port"]), match["transport"]
    transport = "udp" if transport is None else transport.lower()
    if not 1 <= port <= 65535 or transport not in ("udp", "tcp", "tls"):
        raise InvalidParameterError(argument, value, expected)
    if not _is_host(host):
        raise InvalidParameterError(argument, value, "the host must be an IPv4 address or DNS name")
    if transport == "udp":
        return f"{host.lower()}:{port}"
    return f"{host.lower()}:{port};transport={transport}"


def destination_host(destination: str) -> str:
    """Return the host part of a normalised destination."""
    return destination.partition(":")[0]


def is_ip_host(host: str) -> bool:
    """Whether ``host`` is an IPv4 address (as opposed to a DNS name)."""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _is_host(host: str) -> bool:
    if is_ip_host(host):
        return True
    if host.replace(".", "").isdigit():
        return False  # looks like an address but is not a valid one
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in labels)


def validate_path_segment(value: object, argument: str) -> str:
    """Return ``value`` if it is safe as one URL path segment or query value."""
    text = _require_str(argument, value)
    if not text or _FORBIDDEN_IN_PATH.search(text) or ".." in text:
        raise InvalidParameterError(
            argument, value, "expected a non-empty id without '/', '?', '#', '%', spaces or '..'"
        )
    return text


def validate_user_name(value: object, argument: str = "user_name") -> str:
    """Return ``value`` if it is a SIP digest user name: letters, digits and ``. _ ~ + -``."""
    name = _require_str(argument, value)
    if not _USER_NAME.fullmatch(name):
        raise InvalidParameterError(
            argument,
            value,
            "expected letters, digits and . _ ~ + - (what a SIP user part carries unescaped)",
        )
    return name


class _Redacted:
    """Stands for a refused password in an error: the value itself is never shown."""

    def __repr__(self) -> str:
        return "<redacted>"


def validate_password(value: object, argument: str = "password") -> str:
    """Return ``value`` if it is a usable SIP password; the error never shows the value.

    At least :data:`MIN_PASSWORD_LENGTH` characters of printable ASCII without spaces: a SIP
    password guards calls that cost money, and must survive PBX configs and shells unquoted.
    """
    if not isinstance(value, str):
        expected = f"expected a str, got {type(value).__name__}"
        raise InvalidParameterError(argument, _Redacted(), expected)
    if len(value) < MIN_PASSWORD_LENGTH or not _PASSWORD.fullmatch(value):
        raise InvalidParameterError(
            argument,
            _Redacted(),
            f"expected at least {MIN_PASSWORD_LENGTH} printable ASCII characters without "
            "spaces; leave it out to have a strong one generated",
        )
    return value


def validate_friendly_name(value: object, argument: str = "friendly_name") -> str | None:
    """Return ``value`` if it is ``None`` or a label of 1-32 characters."""
    if value is None:
        return None
    label = _require_str(argument, value)
    if not 1 <= len(label) <= MAX_FRIENDLY_NAME or not label.isprintable():
        raise InvalidParameterError(
            argument, value, f"expected 1-{MAX_FRIENDLY_NAME} printable characters, or None"
        )
    return label
