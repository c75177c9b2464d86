"""The state layer on its own: domain rules, validation, duplicates, ids, snapshots."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from exotel_trunking.emulator import AccountState, EmulatedError, ErrorKind
from exotel_trunking.emulator._ids import LiveIds, ReferenceIds
from exotel_trunking.emulator._state import format_timestamp

from .emulator_helpers import FIXED_NOW


class Ticker:
    """A wall clock that moves one minute per call, to tell timestamps apart."""

    def __init__(self) -> None:
        self.moment = FIXED_NOW

    def __call__(self) -> datetime:
        self.moment += timedelta(minutes=1)
        return self.moment


@pytest.fixture
def state() -> AccountState:
    return AccountState("acme", ids=ReferenceIds(random.Random(0)), now=lambda: FIXED_NOW)


def error_of(excinfo: pytest.ExceptionInfo[EmulatedError]) -> tuple[int, int, ErrorKind]:
    return excinfo.value.status, excinfo.value.code, excinfo.value.kind


def test_create_trunk_defaults_domain_to_the_account_and_issues_credentials(
    state: AccountState,
) -> None:
    trunk = state.create_trunk("my_trunk")
    assert trunk.domain_name == "acme.pstn.exotel.com"
    assert trunk.nso_code == "ANY-ANY"
    assert trunk.date_created == trunk.date_updated == FIXED_NOW
    assert re.fullmatch(r"trind[0-9a-f]{22}", trunk.trunk_sid)
    assert trunk.credentials is not None
    assert trunk.credentials.username == trunk.trunk_sid
    assert len(trunk.credentials.password) == 14


def test_create_trunk_without_credentials_then_issue_them_later(state: AccountState) -> None:
    trunk = state.create_trunk("bare", issue_credentials=False)
    assert state.get_credentials(trunk.trunk_sid) is None
    issued = state.issue_credentials(trunk.trunk_sid)
    assert state.get_credentials(trunk.trunk_sid) == issued
    assert issued.username == trunk.trunk_sid


@pytest.mark.parametrize(
    ("name", "nso", "domain"),
    [
        ("has space", "ANY-ANY", None),
        ("x" * 17, "ANY-ANY", None),
        ("", "ANY-ANY", None),
        (42, "ANY-ANY", None),
        ("ok", "ANY ANY", None),
        ("ok", "", None),
        ("ok", "ANY-ANY", "acme.example.com"),
        ("ok", "ANY-ANY", "pstn.exotel.com"),
        ("ok", "ANY-ANY", "bad..pstn.exotel.com"),
    ],
)
def test_create_trunk_refuses_invalid_values_with_1001(
    state: AccountState, name: object, nso: object, domain: object
) -> None:
    with pytest.raises(EmulatedError) as excinfo:
        state.create_trunk(name, nso, domain)
    assert error_of(excinfo) == (400, 1001, ErrorKind.INVALID_PARAMETER)
    assert state.trunks == []


def test_trunk_names_are_unique_in_the_account(state: AccountState) -> None:
    state.create_trunk("dup")
    with pytest.raises(EmulatedError) as excinfo:
        state.create_trunk("dup")
    assert error_of(excinfo) == (409, 1002, ErrorKind.DUPLICATE)
    assert "dup" in excinfo.value.description


def test_unknown_trunk_is_404_1003_everywhere(state: AccountState) -> None:
    calls: list[Callable[[], object]] = [
        lambda: state.get_trunk("nope"),
        lambda: state.delete_trunk("nope"),
        lambda: state.map_phone_number("nope", "+919876543210"),
        lambda: state.whitelist_ip("nope", "203.0.113.50", 32),
        lambda: state.add_destination("nope", "sip.example.com:5061;transport=tls"),
        lambda: state.set_setting("nope", "trunk_external_alias", "+919876543210"),
        lambda: state.get_credentials("nope"),
        lambda: state.phone_numbers("nope"),
    ]
    for call in calls:
        with pytest.raises(EmulatedError) as excinfo:
            call()
        assert error_of(excinfo) == (404, 1003, ErrorKind.NOT_FOUND)


def test_a_phone_number_is_mapped_once_in_the_whole_account(state: AccountState) -> None:
    first = state.create_trunk("first").trunk_sid
    second = state.create_trunk("second").trunk_sid
    record = state.map_phone_number(first, "+919876543210", "flow")
    assert (record.phone_number, record.mode, record.trunk_sid) == ("+919876543210", "flow", first)
    assert re.fullmatch(r"pn_[a-z0-9]{12}", record.id)
    for trunk in (first, second):
        with pytest.raises(EmulatedError) as excinfo:
            state.map_phone_number(trunk, "+919876543210")
        assert excinfo.value.kind is ErrorKind.DUPLICATE


def test_deleting_a_trunk_frees_its_numbers(state: AccountState) -> None:
    sid = state.create_trunk("gone").trunk_sid
    state.map_phone_number(sid, "+919876543210")
    deleted = state.delete_trunk(sid)
    assert deleted.trunk_sid == sid
    other = state.create_trunk("other").trunk_sid
    assert state.map_phone_number(other, "+919876543210").trunk_sid == other


@pytest.mark.parametrize(
    "number", ["+91 98765 43210", "+91-9876543210", "919876543210", "+0123456789", "+12", None]
)
def test_the_server_requires_strict_e164_without_punctuation(
    state: AccountState, number: object
) -> None:
    sid = state.create_trunk("t").trunk_sid
    with pytest.raises(EmulatedError) as excinfo:
        state.map_phone_number(sid, number)
    assert error_of(excinfo) == (400, 1001, ErrorKind.INVALID_PARAMETER)
    assert "phone_number" in excinfo.value.description


def test_mode_must_be_pstn_or_flow(state: AccountState) -> None:
    sid = state.create_trunk("t").trunk_sid
    assert state.map_phone_number(sid, "+919876543210").mode is None
    with pytest.raises(EmulatedError, match="mode"):
        state.map_phone_number(sid, "+919876543211", "PSTN")


def test_whitelist_ip_rules(state: AccountState) -> None:
    sid = state.create_trunk("t").trunk_sid
    record = state.whitelist_ip(sid, "203.0.113.50", 32)
    assert (record.ip, record.mask) == ("203.0.113.50", 32)
    assert re.fullmatch(r"wl_[a-z0-9]{12}", record.id)
    assert state.whitelist_ip(sid, "203.0.113.0", 24).mask == 24
    refused: list[tuple[object, object]] = [
        ("10.0.0.1", 32),  # private
        ("203.0.113.50", 33),
        ("203.0.113.50", 8),
        ("203.0.113.50", "32"),  # the mask is an integer
        ("203.0.113.50", True),
        ("203.0.113.50/32", 32),  # the API takes the prefix in mask
        ("203.0.113.50", 24),  # host bits below the mask
        ("256.1.2.3", 32),
        ("203.0.113.50", None),
    ]
    for ip, mask in refused:
        with pytest.raises(EmulatedError) as excinfo:
            state.whitelist_ip(sid, ip, mask)
        assert error_of(excinfo) == (400, 1001, ErrorKind.INVALID_PARAMETER), (ip, mask)


def test_an_ip_and_mask_is_whitelisted_once_per_trunk(state: AccountState) -> None:
    first = state.create_trunk("first").trunk_sid
    second = state.create_trunk("second").trunk_sid
    state.whitelist_ip(first, "203.0.113.50", 32)
    with pytest.raises(EmulatedError) as excinfo:
        state.whitelist_ip(first, "203.0.113.50", 32)
    assert excinfo.value.kind is ErrorKind.DUPLICATE
    assert state.whitelist_ip(second, "203.0.113.50", 32).trunk_sid == second


def test_destinations_are_normalised_and_unique_per_trunk(state: AccountState) -> None:
    sid = state.create_trunk("t").trunk_sid
    record = state.add_destination(sid, "sip:SIP.Example.com:5061;transport=TLS")
    assert record.destination == "sip.example.com:5061;transport=tls"
    assert record.uri == "sip:sip.example.com:5061;transport=tls"
    assert re.fullmatch(r"du_[a-z0-9]{12}", record.id)
    with pytest.raises(EmulatedError) as excinfo:
        state.add_destination(sid, "sip.example.com:5061;transport=tls")
    assert excinfo.value.kind is ErrorKind.DUPLICATE
    with pytest.raises(EmulatedError) as excinfo:
        state.add_destination(sid, "sip.example.com:5061;transport=udp")
    assert error_of(excinfo) == (400, 1001, ErrorKind.INVALID_DESTINATION)


def test_ip_destinations_need_a_covering_whitelist_only_when_required(
    state: AccountState,
) -> None:
    sid = state.create_trunk("t").trunk_sid
    with pytest.raises(EmulatedError) as excinfo:
        state.add_destination(sid, "198.51.100.7:5061;transport=tls", require_whitelisted=True)
    assert error_of(excinfo) == (400, 1002, ErrorKind.NOT_WHITELISTED)
    assert excinfo.value.description == "Destination not whitelisted"
    state.whitelist_ip(sid, "198.51.100.0", 24)  # a range covers the host
    state.add_destination(sid, "198.51.100.7:5061;transport=tls", require_whitelisted=True)
    # FQDNs never need whitelisting; without the rule nothing does.
    state.add_destination(sid, "sip.example.com:5060;transport=tcp", require_whitelisted=True)
    state.add_destination(sid, "203.0.113.9:5060;transport=tcp")
    assert len(state.destinations(sid)) == 3


def test_settings_accept_only_the_alias_and_replacing_it_keeps_date_created() -> None:
    state = AccountState("acme", ids=ReferenceIds(random.Random(0)), now=Ticker())
    sid = state.create_trunk("t").trunk_sid
    first = state.set_setting(sid, "trunk_external_alias", "+919876543210")
    second = state.set_setting(sid, "trunk_external_alias", "+919876543211")
    assert second.value == "+919876543211"
    assert second.date_created == first.date_created < second.date_updated
    assert state.settings(sid) == [second]
    with pytest.raises(EmulatedError, match="trunk_external_alias"):
        state.set_setting(sid, "ringtone", "+919876543210")
    with pytest.raises(EmulatedError, match="value"):
        state.set_setting(sid, "trunk_external_alias", "+91 98765 43210")


def test_snapshot_is_json_and_leaves_passwords_out(state: AccountState) -> None:
    sid = state.create_trunk("t").trunk_sid
    password = state.get_credentials(sid).password  # type: ignore[union-attr]
    state.map_phone_number(sid, "+919876543210", "pstn")
    state.whitelist_ip(sid, "203.0.113.50", 32)
    state.add_destination(sid, "sip.example.com:5061;transport=tls")
    state.set_setting(sid, "trunk_external_alias", "+919876543210")
    snapshot = state.snapshot()
    text = json.dumps(snapshot)
    assert password not in text
    assert password not in repr(state.get_credentials(sid))
    (trunk,) = snapshot["trunks"]
    assert trunk["credentials"] == {"username": sid}
    assert trunk["phone_numbers"][0]["phone_number"] == "+919876543210"
    assert trunk["whitelisted_ips"][0]["mask"] == 32
    assert trunk["destination_uris"][0]["destination"] == "sip:sip.example.com:5061;transport=tls"
    assert trunk["settings"][0]["value"] == "+919876543210"
    assert trunk["date_created"] == "2025-01-22T10:30:00Z"


def test_clear_forgets_every_trunk_and_number(state: AccountState) -> None:
    sid = state.create_trunk("t").trunk_sid
    state.map_phone_number(sid, "+919876543210")
    state.clear()
    assert state.trunks == []
    again = state.create_trunk("t").trunk_sid
    state.map_phone_number(again, "+919876543210")


def test_ids_are_deterministic_under_a_seed_in_both_flavours() -> None:
    def draw(factory: type[ReferenceIds] | type[LiveIds]) -> list[str]:
        ids = factory(random.Random(7))
        return [ids.request_id(), ids.trunk_sid(), ids.phone_number_id(), ids.password()]

    assert draw(ReferenceIds) == draw(ReferenceIds)
    assert draw(LiveIds) == draw(LiveIds)
    reference = ReferenceIds(random.Random(0))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        reference.request_id(),
    )
    live = LiveIds(random.Random(0))
    assert re.fullmatch(r"[0-9a-f]{32}", live.request_id())
    assert re.fullmatch(r"trmum[0-9a-f]{19}1a1n", live.trunk_sid())
    first, second = live.phone_number_id(), live.phone_number_id()
    assert first.isdigit()
    assert int(second) == int(first) + 1
    assert live.whitelisted_ip_id().isdigit()
    assert live.destination_id().isdigit()
    assert re.fullmatch(r"[A-Za-z0-9]{16}", live.password())


def test_timestamps_render_as_utc_with_z() -> None:
    assert format_timestamp(datetime(2025, 1, 22, 10, 30, tzinfo=UTC)) == "2025-01-22T10:30:00Z"
    india = timezone(timedelta(hours=5, minutes=30))
    assert format_timestamp(datetime(2025, 1, 22, 16, 0, tzinfo=india)) == "2025-01-22T10:30:00Z"
