"""Where the SDK (client side) and the emulator (server side) agree on a value, and where not.

The emulator's rules are its own (``exotel_trunking.emulator._rules``), written from the
reference, so that a bug in the SDK's validation is not copied into the fake its tests run
against. This table pins every input both ways: a disagreement that is not listed here as
deliberate is a failing test, not a shared bug.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import exotel_trunking.emulator as emulator_package
from exotel_trunking import InvalidParameterError
from exotel_trunking._validation import (
    normalize_phone_number,
    parse_ip,
    validate_mode,
    validate_path_segment,
    validate_trunk_name,
)
from exotel_trunking.emulator import _rules

SDK = "sdk"
SERVER = "server"
BOTH = (SDK, SERVER)
NEITHER = ()

#: (kind, value, who accepts it, why they differ when they do).
TABLE: list[tuple[str, object, tuple[str, ...], str]] = [
    # phone numbers
    ("phone", "+919876543210", BOTH, ""),
    ("phone", "+14155550100", BOTH, ""),
    ("phone", "+6834002", BOTH, ""),  # 7 digits: Niue's numbers are 4 after +683
    ("phone", "+91 98765 43210", (SDK,), "the SDK strips punctuation before sending"),
    ("phone", "+91-98765-43210", (SDK,), "the SDK strips punctuation before sending"),
    ("phone", "+9198765", (SERVER,), "too short for India: the SDK knows lengths per country"),
    ("phone", "+1415555267", (SERVER,), "too short for the US: the SDK knows lengths per country"),
    ("phone", "+99912345678", (SERVER,), "no country has +999: the SDK knows the codes"),
    ("phone", "919876543210", NEITHER, ""),
    ("phone", "+0919876543210", NEITHER, ""),
    ("phone", "+123456", NEITHER, ""),
    ("phone", "+1234567890123456", NEITHER, ""),
    ("phone", 919876543210, NEITHER, ""),
    ("phone", "", NEITHER, ""),
    # trunk names
    ("trunk_name", "tenant_a", BOTH, ""),
    ("trunk_name", "A" * 16, BOTH, ""),
    ("trunk_name", "0", BOTH, ""),
    ("trunk_name", "A" * 17, NEITHER, ""),
    ("trunk_name", "tenant-a", NEITHER, ""),
    ("trunk_name", "tenant a", NEITHER, ""),
    ("trunk_name", "", NEITHER, ""),
    ("trunk_name", None, NEITHER, ""),
    # modes
    ("mode", None, BOTH, ""),
    ("mode", "pstn", BOTH, ""),
    ("mode", "flow", BOTH, ""),
    ("mode", "PSTN", NEITHER, ""),
    ("mode", "", NEITHER, ""),
    # IPv4 address and mask (the SDK takes "a.b.c.d/nn"; the API takes two fields)
    ("ip", ("203.0.113.5", 32), BOTH, ""),
    ("ip", ("203.0.113.0", 24), BOTH, ""),
    ("ip", ("8.8.0.0", 16), BOTH, ""),
    ("ip", ("203.0.113.5", 24), NEITHER, ""),
    ("ip", ("8.0.0.0", 8), NEITHER, ""),
    ("ip", ("203.0.113.5", 33), NEITHER, ""),
    ("ip", ("10.0.0.1", 32), NEITHER, ""),
    ("ip", ("192.168.1.0", 24), NEITHER, ""),
    ("ip", ("172.16.0.1", 32), NEITHER, ""),
    ("ip", ("100.64.0.1", 32), NEITHER, ""),
    ("ip", ("127.0.0.1", 32), NEITHER, ""),
    ("ip", ("169.254.0.1", 32), NEITHER, ""),
    ("ip", ("224.0.0.1", 32), NEITHER, ""),
    ("ip", ("0.0.0.0", 32), NEITHER, ""),
    ("ip", ("256.0.0.1", 32), NEITHER, ""),
    ("ip", ("203.0.113.5", True), NEITHER, ""),
    # ids in paths and queries
    ("id", "trabc123", BOTH, ""),
    ("id", "pn_1a2b", BOTH, ""),
    ("id", "", NEITHER, ""),
    ("id", "a/b", NEITHER, ""),
    ("id", "a?b", NEITHER, ""),
    ("id", "a b", NEITHER, ""),
    ("id", "..", NEITHER, ""),
    ("id", "%2F", NEITHER, ""),
]


def _sdk_ip(value: object) -> object:
    assert isinstance(value, tuple)
    ip, mask = value
    return parse_ip(ip, mask)


def _server_ip(value: object) -> object:
    assert isinstance(value, tuple)
    ip, mask = value
    return _rules.ipv4_network(ip, mask)


CHECKS: dict[str, tuple[Callable[[object], object], Callable[[object], object]]] = {
    "phone": (normalize_phone_number, _rules.phone_number),
    "trunk_name": (validate_trunk_name, _rules.trunk_name),
    "mode": (validate_mode, _rules.mode),
    "ip": (_sdk_ip, _server_ip),
    "id": (
        lambda value: validate_path_segment(value, "trunk_sid"),
        lambda value: _rules.path_segment(value, "trunk_sid"),
    ),
}


def _accepts(check: Callable[[object], object], value: object) -> bool:
    try:
        check(value)
    except (InvalidParameterError, _rules.RefusedError):
        return False
    return True


@pytest.mark.parametrize(
    ("kind", "value", "accepted_by", "why"),
    TABLE,
    ids=[f"{kind}:{value!r}" for kind, value, _, _ in TABLE],
)
def test_the_sdk_and_the_emulator_accept_exactly_what_the_table_says(
    kind: str, value: object, accepted_by: tuple[str, ...], why: str
) -> None:
    sdk_check, server_check = CHECKS[kind]
    accepted = tuple(
        side for side, check in ((SDK, sdk_check), (SERVER, server_check)) if _accepts(check, value)
    )
    assert accepted == accepted_by
    assert bool(why) == (accepted not in (BOTH, NEITHER))  # every disagreement says why


def test_no_module_of_the_emulator_imports_the_sdks_validation() -> None:
    folder = Path(emulator_package.__file__).parent
    imports = re.compile(r"^\s*(from|import) .*_validation", re.MULTILINE)
    importing = [
        path.name for path in sorted(folder.glob("*.py")) if imports.search(path.read_text("utf-8"))
    ]
    assert importing == []
