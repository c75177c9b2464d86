"""What the emulated API accepts: the server's own rules, written from the reference.

These are deliberately not the SDK's client-side validation (``exotel_trunking._validation``):
the SDK's tests run against this emulator, and a mistake copied from the SDK into its fake
could never be caught by them. Where the two differ on purpose (the SDK forgives punctuation
in a number and knows each country's number lengths; the server takes E.164 as written),
``tests/emulator/test_rules_agreement.py`` says so, input by input.

Each rule returns the accepted value or raises :class:`RefusedError`, which the state turns into
the API's 400 answer.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "MODES",
    "RefusedError",
    "ipv4_network",
    "mode",
    "path_segment",
    "phone_number",
    "trunk_name",
]

#: The reference: "Phone number in E.164 format. Must include country code with + prefix."
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: The reference: "Maximum 16 characters. Only alphanumeric characters and underscores."
_TRUNK_NAME = re.compile(r"[A-Za-z0-9_]{1,16}")
#: What a path segment or query value taken as one id may not hold.
_NOT_IN_ID = re.compile(r"[/?#%\s]")
MODES = ("pstn", "flow")
#: The reference: "Subnet mask in CIDR notation (16-32). Use 32 for a single IP address."
_MASKS = range(16, 33)
#: The examples in the reference use these (RFC 5737): accepted like public addresses.
_EXAMPLE_RANGES = tuple(
    ipaddress.IPv4Network(net) for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
#: Shared address space (RFC 6598): private to a carrier, never a customer's SIP server.
_SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")


class RefusedError(ValueError):
    """A value the emulated server refuses, with what it expected.

    Attributes:
        argument: The field or parameter.
        value: The value refused.
        expected: What would be accepted.
    """

    def __init__(self, argument: str, value: object, expected: str) -> None:
        self.argument = argument
        self.value = value
        self.expected = expected
        super().__init__(f"{argument}={value!r} is invalid: {expected}")


def phone_number(value: object, argument: str = "phone_number") -> str:
    """An E.164 number as written: ``+``, then 7-15 digits, the first not 0; no punctuation.

    The server checks the form only; how long a number may be in its country is the SDK's
    concern (it refuses an impossible number before sending it).
    """
    if not isinstance(value, str) or not _E164.fullmatch(value):
        expected = "expected E.164 exactly: '+' then 7-15 digits, no punctuation"
        raise RefusedError(argument, value, expected)
    return value


def trunk_name(value: object, argument: str = "trunk_name") -> str:
    """1-16 letters, digits and underscores."""
    if not isinstance(value, str) or not _TRUNK_NAME.fullmatch(value):
        raise RefusedError(argument, value, "expected 1-16 characters of A-Z, a-z, 0-9 and _")
    return value


def mode(value: object, argument: str = "mode") -> str | None:
    """Absent, ``"pstn"`` or ``"flow"``."""
    if value is None or value in MODES:
        return value
    raise RefusedError(argument, value, "expected 'pstn' or 'flow'")


def ipv4_network(ip: object, mask: object) -> tuple[str, int]:
    """A public IPv4 address (``ip``) and a mask from 16 to 32, as two fields.

    The address is the network's own (no host bits below the mask). Private, loopback,
    link-local, shared, multicast and reserved addresses are refused: no customer's SIP server
    sends from them.
    """
    if isinstance(mask, bool) or not isinstance(mask, int) or mask not in _MASKS:
        raise RefusedError("mask", mask, "expected an int from 16 to 32")
    if not isinstance(ip, str) or "/" in ip:
        expected = "expected a plain IPv4 address; give the prefix length as mask"
        raise RefusedError("ip", ip, expected)
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        raise RefusedError("ip", ip, "expected an IPv4 address 'a.b.c.d'") from None
    network = ipaddress.IPv4Network(f"{address}/{mask}", strict=False)
    if network.network_address != address:
        raise RefusedError("ip", ip, f"host bits are set below the /{mask} mask")
    if not _is_public(network):
        raise RefusedError("ip", ip, "expected a public IPv4 address")
    return str(address), mask


def _is_public(network: ipaddress.IPv4Network) -> bool:
    if any(network.subnet_of(example) for example in _EXAMPLE_RANGES):
        return True
    first, last = network.network_address, network.broadcast_address
    return not any(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _SHARED_SPACE
        for address in (first, last)
    )


def path_segment(value: object, argument: str) -> str:
    """A non-empty id taken from the path or the query, without ``/ ? # %``, spaces or ``..``."""
    if not isinstance(value, str) or not value or _NOT_IN_ID.search(value) or ".." in value:
        raise RefusedError(
            argument, value, "expected a non-empty id without '/', '?', '#', '%', spaces or '..'"
        )
    return value
