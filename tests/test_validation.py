"""Client-side validation (API.md section 4): bad arguments raise and send nothing.

Every invalid case goes through the public client, wired to a respx router without routes:
a request reaching it raises ``AllMockedAssertionError``, which the SDK does not catch, so
the test fails; valid values are checked against the pure functions of ``_validation``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from exotel_trunking import AsyncTrunkingClient, InvalidParameterError
from exotel_trunking._validation import (
    normalize_destination,
    normalize_phone_number,
    parse_ip,
    validate_password,
    validate_path_segment,
    validate_trunk_name,
    validate_user_name,
)

from . import wire

#: A call given the client and the invalid value; the value is ``Any`` because the tables pass
#: wrong types on purpose (``None``, ints, bytes) where the SDK's signatures say ``str``.
Call = Callable[[AsyncTrunkingClient, Any], Awaitable[Any]]
Param = Any  # what pytest.param returns
SID = wire.TRUNK_SID
NUMBER = "+919876543210"


def case(call: Call, argument: str, value: object, label: str) -> Param:
    return pytest.param(call, argument, value, id=f"{label}:{argument}={value!r}")


def bad_trunk_names() -> Iterator[Param]:
    for name in ["", "a" * 17, "my-trunk", "my trunk", "trünk", "name!", "ab.c", "t\n", None, 7]:
        yield case(lambda c, v: c.trunks.create(v), "trunk_name", name, "create")


def bad_other_create_arguments() -> Iterator[Param]:
    for code in ["", "ANY ANY", None, 5]:
        yield case(lambda c, v: c.trunks.create("t1", nso_code=v), "nso_code", code, "create")
    for domain in ["", "my domain.example.com", 5]:
        yield case(
            lambda c, v: c.trunks.create("t1", domain_name=v),
            "domain_name",
            domain,
            "create",
        )


BAD_PHONE_NUMBERS = [
    "",
    "919876543210",  # no +
    "+0123456789",  # first digit 0
    "+123456",  # 6 digits
    "+1234567890123456",  # 16 digits
    "+91abc4567890",
    "++919876543210",
    "+",
    "+91 98765 4321x",
    "+91\n9876543210",  # a newline is not punctuation
    "+٩١٩٨٧٦٥٤٣٢١٠",  # Arabic-Indic digits
    None,
    919876543210,
]


def bad_phone_numbers() -> Iterator[Param]:
    for number in BAD_PHONE_NUMBERS:
        yield case(lambda c, v: c.phone_numbers.map(SID, v), "phone_number", number, "map")
        yield case(lambda c, v: c.settings.set_alias(SID, v), "phone_number", number, "set_alias")


def bad_modes() -> Iterator[Param]:
    for mode in ["PSTN", "sip", "", 1]:
        yield case(lambda c, v: c.phone_numbers.map(SID, NUMBER, mode=v), "mode", mode, "map")


RESERVED_ADDRESSES = [
    # one at each edge of every reserved range
    "0.0.0.0",
    "0.255.255.255",
    "10.0.0.0",
    "10.255.255.255",
    "100.64.0.0",
    "100.127.255.255",
    "127.0.0.1",
    "127.255.255.255",
    "169.254.0.0",
    "169.254.255.255",
    "172.16.0.0",
    "172.31.255.255",
    "192.168.0.0",
    "192.168.255.255",
    "224.0.0.0",
    "239.255.255.255",
    "240.0.0.0",
    "255.255.255.255",
    # ranges inside reserved ranges
    "10.20.0.0/16",
    "100.100.0.0/16",
    "172.20.0.0/16",
    "192.168.1.0/24",
    "224.0.0.0/16",
]
MALFORMED_ADDRESSES = [
    "",
    " ",
    "203.0.113",
    "203.0.113.256",
    "203.0.113.50.1",
    "203.0.113.050",
    "::1",
    "2001:db8::1",
    "example.com",
    "203.0.113.0/",
    "203.0.113.0/abc",
    "203.0.113.0/24/1",
    "203.0.113.0/ 24",
    "203.0.113.0/0x18",
    "203.0.113.0/-24",
    "203.0.113.0/15",
    "203.0.113.0/33",
    "203.0.113.0/0",
    "203.0.113.50/24",  # host bits set
    "203.0.113.1/31",  # host bits set
    "198.51.100.128/24",  # host bits set
    None,
    3405803826,
]


def bad_ips() -> Iterator[Param]:
    for ip in RESERVED_ADDRESSES + MALFORMED_ADDRESSES:
        yield case(lambda c, v: c.whitelisted_ips.add(SID, v), "ip", ip, "add")
    for mask in [15, 33, 0, -1, "24", True, 24.0]:
        yield case(
            lambda c, v: c.whitelisted_ips.add(SID, "203.0.113.0", mask=v), "mask", mask, "add"
        )
    # a CIDR and a different mask
    for mask in [25, 16, 32]:
        yield case(
            lambda c, v: c.whitelisted_ips.add(SID, "203.0.113.0/24", mask=v),
            "mask",
            mask,
            "add-cidr",
        )
    # host bits set below a mask given apart
    yield case(
        lambda c, _: c.whitelisted_ips.add(SID, "203.0.113.50", mask=24),
        "ip",
        "203.0.113.50",
        "add",
    )


BAD_DESTINATIONS = [
    "",
    "203.0.113.50",
    "203.0.113.50;transport=tls",
    "203.0.113.50:0;transport=tls",
    "203.0.113.50:65536;transport=tls",
    "203.0.113.50:99999;transport=tls",
    "203.0.113.50:0",
    "203.0.113.50:5060;transport=",
    "203.0.113.50:5060;transport=sctp",
    "203.0.113.50:5061;transport=tls;lr",
    "sip.example.com:5061;transport=ws",
    "sips:sip.example.com:5061;transport=tls",
    "-bad.example.com:5061;transport=tls",
    "bad-.example.com:5061;transport=tls",
    "bad_host.example.com:5061;transport=tls",
    "a..b.example.com:5061;transport=tls",
    f"{'a' * 64}.example.com:5061;transport=tls",
    "256.1.1.1:5060;transport=tcp",
    "1.2.3:5060;transport=tcp",
    "[2001:db8::1]:5061;transport=tls",
    "sip:user@sip.example.com:5061;transport=tls",
    None,
    5060,
]


def bad_destinations() -> Iterator[Param]:
    for destination in BAD_DESTINATIONS:
        yield case(
            lambda c, v: c.destination_uris.add(SID, v),
            "destinations",
            destination,
            "add",
        )
    for destination in ["", "203.0.113.50", "x:1;transport=ws", None]:
        yield case(
            lambda c, v: c.destination_uris.remove(SID, v),
            "destination",
            destination,
            "remove",
        )
        yield case(
            lambda c, v: c.destination_uris.update(SID, v, weight=1),
            "destination",
            destination,
            "update",
        )
    # one bad item spoils the whole request
    yield case(
        lambda c, _: c.destination_uris.add(SID, ["sip.example.com:5061;transport=tls", "nope"]),
        "destinations",
        "nope",
        "add-list",
    )
    for container in [[], (), {"sip.example.com:5061;transport=tls"}, b"x:1;transport=tcp"]:
        yield case(
            lambda c, v: c.destination_uris.add(SID, v),
            "destinations",
            container,
            "add",
        )


BAD_PATH_VALUES = [
    "",
    "tr/1",
    "tr?1",
    "tr#1",
    "tr%2F1",
    "tr 1",
    " tr1",
    "tr1\t",
    "tr\n1",
    "tr\u00a01",  # a no-break space is whitespace too
    "..",
    "tr..1",
    "../trunks",
    None,
    42,
    True,
]


async def first(records: AsyncIterator[Any]) -> Any:
    """The first record of a lazy list (``iter``), or ``None``."""
    return await anext(records, None)


TRUNK_SID_CALLS: dict[str, Call] = {
    "trunks.delete": lambda c, sid: c.trunks.delete(sid),
    "phone_numbers.map": lambda c, sid: c.phone_numbers.map(sid, NUMBER),
    "phone_numbers.list": lambda c, sid: c.phone_numbers.list(sid),
    "phone_numbers.iter": lambda c, sid: first(c.phone_numbers.iter(sid)),
    "whitelisted_ips.add": lambda c, sid: c.whitelisted_ips.add(sid, "203.0.113.50"),
    "whitelisted_ips.list": lambda c, sid: c.whitelisted_ips.list(sid),
    "whitelisted_ips.iter": lambda c, sid: first(c.whitelisted_ips.iter(sid)),
    "destination_uris.add": lambda c, sid: c.destination_uris.add(
        sid, "sip.example.com:5061;transport=tls"
    ),
    "destination_uris.list": lambda c, sid: c.destination_uris.list(sid),
    "destination_uris.iter": lambda c, sid: first(c.destination_uris.iter(sid)),
    "credentials.get": lambda c, sid: c.credentials.get(sid),
    "settings.set_alias": lambda c, sid: c.settings.set_alias(sid, NUMBER),
    "trunks.get": lambda c, sid: c.trunks.get(sid),
    "trunks.update": lambda c, sid: c.trunks.update(sid, trunk_name="t2"),
    "phone_numbers.update": lambda c, sid: c.phone_numbers.update(sid, NUMBER, mode="flow"),
    "phone_numbers.remove": lambda c, sid: c.phone_numbers.remove(sid, NUMBER),
    "whitelisted_ips.update": lambda c, sid: c.whitelisted_ips.update(
        sid, "203.0.113.50", "203.0.113.51"
    ),
    "whitelisted_ips.remove": lambda c, sid: c.whitelisted_ips.remove(sid, "203.0.113.50"),
    "destination_uris.update": lambda c, sid: c.destination_uris.update(
        sid, "x.example:5060", weight=2
    ),
    "destination_uris.remove": lambda c, sid: c.destination_uris.remove(sid, "x.example:5060"),
    "credentials.create": lambda c, sid: c.credentials.create(sid, "bot"),
    "credentials.list": lambda c, sid: c.credentials.list(sid),
    "credentials.iter": lambda c, sid: first(c.credentials.iter(sid)),
    "credentials.update": lambda c, sid: c.credentials.update(sid, "1234", friendly_name="x"),
    "credentials.rotate": lambda c, sid: c.credentials.rotate(sid, "1234"),
    "credentials.delete": lambda c, sid: c.credentials.delete(sid, "1234"),
    "settings.list": lambda c, sid: c.settings.list(sid),
    "settings.iter": lambda c, sid: first(c.settings.iter(sid)),
    "settings.delete": lambda c, sid: c.settings.delete(sid, "trunk_external_alias"),
}


def bad_path_values() -> Iterator[Param]:
    for label, operation in TRUNK_SID_CALLS.items():
        for sid in BAD_PATH_VALUES:
            yield case(operation, "trunk_sid", sid, label)


def bad_operation_arguments() -> Iterator[Param]:
    """The further operations' own arguments (live-api-extended.md)."""
    for name in ["", "my-trunk", None]:
        yield case(lambda c, v: c.trunks.find(v), "trunk_name", name, "find")
    for name in ["", "my-trunk", "a" * 17]:
        yield case(lambda c, v: c.trunks.update(SID, trunk_name=v), "trunk_name", name, "update")
    yield case(lambda c, _: c.trunks.update(SID), "trunk_name", None, "update-nothing")
    yield case(
        lambda c, _: c.trunks.update(SID, nso_code="ANY ANY"), "nso_code", "ANY ANY", "update"
    )
    for number in ["", "919876543210", None]:
        yield case(lambda c, v: c.trunk_maps.lookup(v), "phone_number", number, "lookup")
        yield case(lambda c, v: c.phone_numbers.remove(SID, v), "phone_number", number, "remove")
    for mode in [None, "PSTN", ""]:
        yield case(lambda c, v: c.phone_numbers.update(SID, NUMBER, mode=v), "mode", mode, "update")
    for ip in ["", "203.0.113.50/24", "example.com", None]:
        yield case(lambda c, v: c.whitelisted_ips.remove(SID, v), "ip", ip, "remove")
    for new_ip in ["10.0.0.1", "203.0.113.50/24", None]:
        yield case(
            lambda c, v: c.whitelisted_ips.update(SID, "203.0.113.50", v),
            "new_ip",
            new_ip,
            "update",
        )
    for value in [-1, True, "5", 1.5]:
        yield case(
            lambda c, v: c.destination_uris.update(SID, "x.example:5060", priority=v),
            "priority",
            value,
            "update",
        )
        yield case(
            lambda c, v: c.destination_uris.update(SID, "x.example:5060", weight=v),
            "weight",
            value,
            "update",
        )
    yield case(
        lambda c, _: c.destination_uris.update(SID, "x.example:5060"), "priority", None, "update"
    )
    for user_name in ["", "bot@tenant", "two words", "a:b", None, 7]:
        yield case(lambda c, v: c.credentials.create(SID, v), "user_name", user_name, "create")
        if user_name is not None:
            yield case(
                lambda c, v: c.credentials.update(SID, "1234", user_name=v),
                "user_name",
                user_name,
                "update",
            )
    for label in ["", "x" * 33, "tab\there", 5]:
        yield case(
            lambda c, v: c.credentials.create(SID, "bot", friendly_name=v),
            "friendly_name",
            label,
            "create",
        )
    yield case(lambda c, _: c.credentials.update(SID, "1234"), "user_name", None, "update-nothing")
    for name in ["", "a/b", None]:
        yield case(lambda c, v: c.settings.delete(SID, v), "name", name, "delete")
    credential_id_calls: dict[str, Call] = {
        "update": lambda c, v: c.credentials.update(SID, v, friendly_name="x"),
        "rotate": lambda c, v: c.credentials.rotate(SID, v),
        "delete": lambda c, v: c.credentials.delete(SID, v),
    }
    for credential_id in ["", "1/2", None]:
        for label, operation in credential_id_calls.items():
            yield case(operation, "credential_id", credential_id, label)


INVALID = [
    *bad_operation_arguments(),
    *bad_trunk_names(),
    *bad_other_create_arguments(),
    *bad_phone_numbers(),
    *bad_modes(),
    *bad_ips(),
    *bad_destinations(),
    *bad_path_values(),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("call", "argument", "value"), INVALID)
async def test_an_invalid_argument_raises_invalid_parameter_error_naming_it_and_sends_nothing(
    call: Call, argument: str, value: object
) -> None:
    with wire.mock_exotel() as exotel:  # no route: a request raises AllMockedAssertionError
        async with wire.make_client(exotel) as client:
            with pytest.raises(InvalidParameterError) as caught:
                await call(client, value)

    error = caught.value
    assert isinstance(error, ValueError)
    assert error.argument == argument
    assert error.value == value
    assert type(error.value) is type(value)
    assert f"{argument}={value!r}" in str(error)


def test_every_operation_that_takes_a_trunk_sid_is_in_the_table() -> None:
    client = wire.make_client(wire.mock_exotel())
    operations = {
        f"{resource}.{name}"
        for resource in (
            "trunks",
            "phone_numbers",
            "whitelisted_ips",
            "destination_uris",
            "credentials",
            "settings",
        )
        for name in dir(getattr(client, resource))
        if not name.startswith("_")
    }

    assert operations - set(TRUNK_SID_CALLS) == {
        "trunks.create",
        "trunks.list",
        "trunks.iter",
        "trunks.find",
    }


SECRET = "Zq7-distinctive-secret"  # a password that must never be shown


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "password",
    [
        pytest.param("Zq7short", id="under-12"),
        pytest.param("Zq7 has a space", id="space"),
        pytest.param("Zq7-distinctive-sécret", id="not-ascii"),
        pytest.param("", id="empty"),
    ],
)
@pytest.mark.parametrize("operation", ["create", "update"])
async def test_a_refused_password_is_never_shown_and_nothing_is_sent(
    password: str, operation: str
) -> None:
    with wire.mock_exotel() as exotel:  # no route: a request raises AllMockedAssertionError
        async with wire.make_client(exotel) as client:
            call = (
                client.credentials.create(SID, "bot", password)
                if operation == "create"
                else client.credentials.update(SID, "1234", password=password)
            )
            with pytest.raises(InvalidParameterError) as caught:
                await call

    assert caught.value.argument == "password"
    assert caught.value.value != password
    assert "password=<redacted> is invalid: expected at least 12" in str(caught.value)
    if password:
        assert password not in str(caught.value)
        assert password not in repr(caught.value)


def test_a_password_that_is_not_a_string_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_password(12345678901234)

    assert "12345678901234" not in str(caught.value)
    assert "expected a str, got int" in str(caught.value)


# -- what is accepted, and how it is normalised -----------------------------------------------


@pytest.mark.parametrize("password", [SECRET, "x" * 12, "!#$%&()*+,-./:;<=>?@[]^_`{|}~0"])
def test_passwords_of_12_printable_ascii_characters_or_more_are_accepted(password: str) -> None:
    assert validate_password(password) == password


@pytest.mark.parametrize("user_name", ["voicebot", "tenant_42", "a.b-c~d+e", "0"])
def test_sip_user_names_of_unreserved_characters_are_accepted(user_name: str) -> None:
    assert validate_user_name(user_name) == user_name


@pytest.mark.parametrize("name", ["a", "A" * 16, "My_Trunk_01", "_", "0"])
def test_trunk_names_of_1_to_16_word_characters_are_accepted(name: str) -> None:
    assert validate_trunk_name(name) == name


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("+919876543210", "+919876543210"),
        ("+91 98765-43210", "+919876543210"),
        ("+1 (415) 555.0100", "+14155550100"),
        ("+6834002", "+6834002"),  # 7 digits: Niue's numbers have 4 after +683
        ("+491234567890123", "+491234567890123"),  # 15 digits: Germany allows 13 after +49
    ],
)
def test_phone_numbers_are_accepted_in_e164_after_stripping_punctuation(
    given: str, normalised: str
) -> None:
    assert normalize_phone_number(given) == normalised


@pytest.mark.parametrize(
    ("given", "why"),
    [
        (
            "+91-98765-",
            "too short for IN (+91): 5 digits after the country code, where numbers have 8 to 13",
        ),
        ("+9112345678901234", "expected E.164"),
        (
            "+1415555267",
            "too short for US (+1): 9 digits after the country code, where numbers have 10",
        ),
        ("+141555526712", "too long for US (+1): 11 digits"),
        ("+4412345", "a local number, without its area code) for GB (+44)"),
        ("+99912345678", "no country has the calling code at the start of +99912345678"),
    ],
)
def test_a_number_impossible_for_its_country_is_refused_saying_why(given: str, why: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        normalize_phone_number(given)
    assert why in str(caught.value)
    assert caught.value.argument == "phone_number"


def test_possible_false_names_an_existing_number_without_the_length_check() -> None:
    assert normalize_phone_number("+44 20123", possible=False) == "+4420123"
    with pytest.raises(InvalidParameterError, match=r"expected E\.164"):
        normalize_phone_number("4420123", possible=False)


@pytest.mark.parametrize(
    ("ip", "mask", "parsed"),
    [
        ("192.0.2.1", None, ("192.0.2.1", 32)),
        ("198.51.100.7", None, ("198.51.100.7", 32)),
        ("203.0.113.50", None, ("203.0.113.50", 32)),
        ("192.0.2.0/24", None, ("192.0.2.0", 24)),
        ("198.51.100.0/24", 24, ("198.51.100.0", 24)),
        ("203.0.113.0", 24, ("203.0.113.0", 24)),
        ("203.0.113.0/32", None, ("203.0.113.0", 32)),
        ("8.8.0.0/16", None, ("8.8.0.0", 16)),
        ("8.8.8.8", 32, ("8.8.8.8", 32)),
        # the public addresses right next to each reserved range
        ("1.0.0.0", None, ("1.0.0.0", 32)),
        ("9.255.255.255", None, ("9.255.255.255", 32)),
        ("11.0.0.0", None, ("11.0.0.0", 32)),
        ("100.63.255.255", None, ("100.63.255.255", 32)),
        ("100.128.0.0", None, ("100.128.0.0", 32)),
        ("126.255.255.255", None, ("126.255.255.255", 32)),
        ("128.0.0.0", None, ("128.0.0.0", 32)),
        ("169.253.255.255", None, ("169.253.255.255", 32)),
        ("169.255.0.0", None, ("169.255.0.0", 32)),
        ("172.15.255.255", None, ("172.15.255.255", 32)),
        ("172.32.0.0", None, ("172.32.0.0", 32)),
        ("192.167.255.255", None, ("192.167.255.255", 32)),
        ("192.169.0.0", None, ("192.169.0.0", 32)),
        ("223.255.255.255", None, ("223.255.255.255", 32)),
    ],
)
def test_public_and_documentation_addresses_are_accepted(
    ip: str, mask: int | None, parsed: tuple[str, int]
) -> None:
    assert parse_ip(ip, mask) == parsed


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("203.0.113.50:5061;transport=tls", "203.0.113.50:5061;transport=tls"),
        ("sip:203.0.113.50:5061;transport=tls", "203.0.113.50:5061;transport=tls"),
        ("SIP:Sip.Example.COM:5060;transport=TCP", "sip.example.com:5060;transport=tcp"),
        (" sip:pbx.example.com:1;transport=tcp ", "pbx.example.com:1;transport=tcp"),
        ("pbx.example.com:65535;transport=tls", "pbx.example.com:65535;transport=tls"),
        ("localhost:5060;transport=tcp", "localhost:5060;transport=tcp"),
        ("a-b.example.com.:5060;transport=tcp", "a-b.example.com.:5060;transport=tcp"),
        # no transport is UDP on the live service; ;transport=udp is sent that way
        ("203.0.113.50:5060", "203.0.113.50:5060"),
        ("sip:PBX.example.com:5080", "pbx.example.com:5080"),
        ("203.0.113.50:5060;transport=UDP", "203.0.113.50:5060"),
    ],
)
def test_destinations_are_accepted_without_sip_prefix_in_lower_case(
    given: str, normalised: str
) -> None:
    assert normalize_destination(given) == normalised


@pytest.mark.parametrize("value", ["trind1a2b3c4d5e6f7890abcdef", "tr:1@x+y", "a.b", "ü", "41512"])
def test_path_values_without_forbidden_characters_are_accepted(value: str) -> None:
    assert validate_path_segment(value, "trunk_sid") == value
