"""``client.diagnose``: every finding from a trunk's state, and none on a healthy trunk."""

from __future__ import annotations

import re
import shlex
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import httpx2
import pytest

from exotel_trunking import (
    AsyncTrunkingClient,
    Diagnosis,
    InvalidParameterError,
    NotFoundError,
    explain,
)
from exotel_trunking._diagnosis import (
    CHECKS,
    Destination,
    TrunkSnapshot,
    check_snapshot,
    parse_destination,
)
from exotel_trunking._models import DestinationUri, WhitelistedIp
from exotel_trunking.emulator import Emulator

pytestmark = pytest.mark.anyio

NUMBER = "+919876543210"
RANGE = ("203.0.113.0", 24)
COVERED = "203.0.113.10:5061;transport=tls"
STATE_CODES = {
    "no_numbers",
    "no_destination",
    "no_whitelisted_ip",
    "destination_ip_not_whitelisted",
    "transport_port_mismatch",
    "unreadable_destination",
    "no_credentials",
    "udp_destination",
}

Setup = Callable[[Emulator, str], None]


def _numbers(emulator: Emulator, sid: str) -> None:
    emulator.state.map_phone_number(sid, NUMBER)


def _ips(emulator: Emulator, sid: str) -> None:
    emulator.state.whitelist_ip(sid, *RANGE)


def _destination(destination: str) -> Setup:
    def add(emulator: Emulator, sid: str) -> None:
        emulator.state.add_destination(sid, destination)

    return add


def _udp_destination(emulator: Emulator, sid: str) -> None:
    emulator.state.add_destination(sid, "203.0.113.10:5060", allow_udp=True)


def _credentials(emulator: Emulator, sid: str) -> None:
    emulator.state.issue_credentials(sid)


HEALTHY: tuple[Setup, ...] = (_numbers, _ips, _destination(COVERED), _credentials)


@asynccontextmanager
async def trunk(
    *setups: Setup, dialect: str = "live"
) -> AsyncIterator[tuple[AsyncTrunkingClient, str]]:
    """A client and a trunk put into a state by ``setups`` (credentials only if asked)."""
    emulator = Emulator("k", "t", "acme", dialect=dialect, issue_credentials=False)  # type: ignore[arg-type]
    sid = emulator.state.create_trunk("doctor_test", issue_credentials=False).trunk_sid
    for setup in setups:
        setup(emulator, sid)
    client = AsyncTrunkingClient("k", "t", "acme", transport=emulator.transport(), rate_limit=None)
    async with client:
        yield client, sid


async def diagnosis_of(*setups: Setup, dialect: str = "live") -> Diagnosis:
    async with trunk(*setups, dialect=dialect) as (client, sid):
        return await client.diagnose(sid)


@pytest.mark.parametrize("dialect", ["reference", "live"])
async def test_a_healthy_trunk_has_no_finding(dialect: str) -> None:
    diagnosis = await diagnosis_of(*HEALTHY, dialect=dialect)
    assert diagnosis.findings == ()
    assert diagnosis.ok
    assert diagnosis.probed is False


@pytest.mark.parametrize(
    ("missing", "code"),
    [(_numbers, "no_numbers"), (_ips, "no_whitelisted_ip"), (_credentials, "no_credentials")],
)
async def test_each_missing_part_gives_its_finding_and_only_that(missing: Setup, code: str) -> None:
    diagnosis = await diagnosis_of(*(setup for setup in HEALTHY if setup is not missing))
    assert diagnosis.codes() == [code]


async def test_no_destination_means_no_inbound_calls() -> None:
    diagnosis = await diagnosis_of(_numbers, _ips, _credentials)
    [finding] = diagnosis.findings
    assert (finding.code, finding.severity) == ("no_destination", "error")
    assert "inbound calls" in finding.message
    assert "destination_uris.add" in finding.fix
    assert not diagnosis.ok


async def test_a_bare_trunk_lists_errors_before_warnings() -> None:
    diagnosis = await diagnosis_of()
    assert diagnosis.codes() == [
        "no_numbers",
        "no_destination",
        "no_whitelisted_ip",
        "no_credentials",
    ]
    assert [f.severity for f in diagnosis.findings] == ["error", "error", "error", "warning"]
    assert len(diagnosis.errors) == 3
    assert len(diagnosis.warnings) == 1


async def test_no_whitelisted_ip_with_only_dns_destinations_says_fqdn_is_inbound_only() -> None:
    diagnosis = await diagnosis_of(
        _numbers, _credentials, _destination("sip.acme.example:5061;transport=tls")
    )
    [finding] = diagnosis.findings
    assert finding.code == "no_whitelisted_ip"
    assert "FQDN routing works for inbound calls only" in finding.message
    assert "SIP 403" in finding.message


async def test_a_destination_ip_no_range_covers_is_named() -> None:
    outside = "198.51.100.5:5061;transport=tls"
    diagnosis = await diagnosis_of(*HEALTHY, _destination(outside))
    [finding] = diagnosis.findings
    assert finding.code == "destination_ip_not_whitelisted"
    assert finding.severity == "warning"
    assert finding.item is not None
    assert outside in finding.item
    assert "198.51.100.5" in finding.message
    assert "whitelisted_ips.add('" in finding.fix


async def test_a_dns_destination_needs_no_whitelisting() -> None:
    diagnosis = await diagnosis_of(*HEALTHY, _destination("sip.acme.example:5061;transport=tls"))
    assert diagnosis.findings == ()


@pytest.mark.parametrize(
    "destination", ["203.0.113.10:5060;transport=tls", "203.0.113.10:5061;transport=tcp"]
)
async def test_the_wrong_transport_for_the_sip_port_is_a_warning(destination: str) -> None:
    diagnosis = await diagnosis_of(*HEALTHY, _destination(destination))
    [finding] = diagnosis.findings
    assert (finding.code, finding.severity) == ("transport_port_mismatch", "warning")
    assert "203.0.113.10:5061;transport=tls" in finding.fix


async def test_diagnose_refuses_a_bad_trunk_sid_before_sending() -> None:
    emulator = Emulator("k", "t", "acme")
    async with AsyncTrunkingClient("k", "t", "acme", transport=emulator.transport()) as client:
        with pytest.raises(InvalidParameterError, match="trunk_sid"):
            await client.diagnose("../x")
    assert emulator.requests == []


async def test_diagnose_of_an_unknown_trunk_raises_not_found() -> None:
    emulator = Emulator("k", "t", "acme")
    async with AsyncTrunkingClient(
        "k", "t", "acme", transport=emulator.transport(), rate_limit=None
    ) as client:
        with pytest.raises(NotFoundError):
            await client.diagnose("trnope")


async def test_a_destination_naming_no_transport_is_udp_and_worth_knowing() -> None:
    diagnosis = await diagnosis_of(*HEALTHY, _udp_destination)
    [finding] = diagnosis.findings
    assert (finding.code, finding.severity) == ("udp_destination", "info")
    assert finding.item == "sip:203.0.113.10:5060"
    assert diagnosis.ok


# -- pure checks: what no service would list (text without host:port) -----------------------


def _snapshot(*destinations: str) -> TrunkSnapshot:
    records = tuple(
        DestinationUri(id=str(i), destination=d, trunk_sid="tr1")
        for i, d in enumerate(destinations)
    )
    return TrunkSnapshot("tr1", destinations=records)


def test_a_destination_without_host_and_port_is_unreadable() -> None:
    findings = check_snapshot(_snapshot("sip:just-a-name"))
    assert [(f.code, f.severity) for f in findings if f.item] == [
        ("unreadable_destination", "warning")
    ]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:203.0.113.10:5061;transport=tls", ("203.0.113.10", 5061, "tls")),
        ("SIP:Host.Example:5060;Transport=TCP", ("host.example", 5060, "tcp")),
        ("203.0.113.10:5060", ("203.0.113.10", 5060, "udp")),
        ("203.0.113.10:5060;lr;transport=tls", ("203.0.113.10", 5060, "tls")),
    ],
)
def test_listed_destinations_are_taken_apart(uri: str, expected: tuple[str, int, str]) -> None:
    parsed = parse_destination(uri)
    assert isinstance(parsed, Destination)
    assert (parsed.host, parsed.port, parsed.transport) == expected


def test_the_state_checks_produce_exactly_the_documented_codes() -> None:
    troubled = attrs.evolve(
        _snapshot(
            "198.51.100.5:5061;transport=tls",  # no range covers it
            "203.0.113.10:5060;transport=tls",  # TLS on the plain SIP port
            "203.0.113.10:5060",  # UDP
            "nonsense",  # unreadable
        ),
        ips=(WhitelistedIp(id="1", ip="203.0.113.0", mask=24, trunk_sid="tr1"),),
    )
    produced = {f.code for f in check_snapshot(TrunkSnapshot("tr1"))}
    produced |= {f.code for f in check_snapshot(troubled)}
    assert produced == STATE_CODES
    assert len(CHECKS) == len(STATE_CODES)  # one code per check


# -- the reference's tables: each row is a check, or explain() describes it -----------------

REFERENCE = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "exotel-voice-trunking-api.md"
)
#: Troubleshooting rows, by their "Issue" cell: the check or the explain() topic covering it.
TROUBLESHOOTING = {
    "401 on SIP registration": ("no_credentials", "401"),
    "403 on outbound calls": ("no_whitelisted_ip", "403"),
    "404 on outbound calls": (None, "404"),
    "No inbound calls received": ("no_destination", None),
    "One-way audio": (None, "one_way_audio"),
    "TLS handshake failed": ("tls_handshake_failed", "tls_handshake_failed"),
    "Registration timeout": ("transport_port_mismatch", "registration_timeout"),
}
PROBE_CODES = {"tls_handshake_failed"}


def _table(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


@pytest.fixture(scope="module")
def reference() -> str:
    if not REFERENCE.is_file():
        pytest.skip(f"the reference is not beside the checkout ({REFERENCE})")
    return REFERENCE.read_text(encoding="utf-8")


@pytest.mark.parametrize("heading", ["## Success Codes", "## Client Error Codes (4xx)"])
def test_every_sip_code_of_the_reference_is_explained(reference: str, heading: str) -> None:
    for code, message, *_ in _table(reference, heading):
        explanation = explain(int(code))
        assert explanation is not None, code
        assert explanation.kind == "sip"
        assert message.split()[0] in explanation.title


def test_every_sip_server_error_and_exotel_error_code_is_explained(reference: str) -> None:
    for code, *_ in _table(reference, "## Server Error Codes (5xx)"):
        assert explain(code) is not None, code
    for code, *_ in _table(reference, "# Error Codes"):
        explanation = explain(code)
        assert explanation is not None, code
        assert explanation.kind == "exotel"


def test_every_troubleshooting_row_is_covered_by_a_check_or_explain(reference: str) -> None:
    rows = _table(reference, "# Troubleshooting")
    assert [row[0] for row in rows] == list(TROUBLESHOOTING)
    for issue, (check, explained) in TROUBLESHOOTING.items():
        assert check is None or check in STATE_CODES | PROBE_CODES, issue
        assert explained is None or explain(explained) is not None, issue
        assert (check, explained) != (None, None)


def test_the_fqdn_note_is_both_a_check_and_an_explanation(reference: str) -> None:
    assert re.search(r"FQDN/DNS routing is supported only for Inbound", reference)
    assert explain("fqdn_outbound") is not None


@pytest.mark.parametrize("code", [999, "99999", "nonsense", True, ""])
def test_explain_returns_none_for_what_the_reference_does_not_describe(code: object) -> None:
    assert explain(code) is None  # type: ignore[arg-type]


def test_explain_gives_the_live_meaning_where_it_differs() -> None:
    explanation = explain(1002)
    assert explanation is not None
    assert explanation.live is not None
    assert "Invalid parameter" in explanation.title
    assert explain("1002") == explanation
    assert explain(" One-Way Audio ") == explain("one_way_audio")


async def test_with_whitelisted_ips_missing_credentials_is_only_worth_knowing() -> None:
    diagnosis = await diagnosis_of(_numbers, _ips, _destination(COVERED))
    [finding] = diagnosis.findings
    assert (finding.code, finding.severity) == ("no_credentials", "info")
    assert diagnosis.ok


async def test_with_sip_credentials_a_missing_whitelisted_ip_is_a_warning() -> None:
    diagnosis = await diagnosis_of(_numbers, _credentials, _destination(COVERED))
    [finding] = diagnosis.findings
    assert (finding.code, finding.severity) == ("no_whitelisted_ip", "warning")
    assert "SIP credentials" in finding.message
    assert diagnosis.ok


async def test_credentials_listed_in_a_shape_this_version_does_not_read_count_as_issued() -> None:
    # The live service's digest credentials: a user_name and no password (live-api-extended).
    emulator = Emulator("k", "t", "acme", dialect="live", issue_credentials=False)
    sid = emulator.state.create_trunk("doctor_test", issue_credentials=False).trunk_sid
    for setup in HEALTHY[:3]:
        setup(emulator, sid)
    live_credentials = {
        "request_id": "r",
        "method": "GET",
        "http_code": 200,
        "response": [
            {
                "code": 200,
                "status": "success",
                "error_data": None,
                "data": {"id": "7", "trunk_sid": sid, "user_name": "pbx", "friendly_name": "x"},
            }
        ],
    }
    inner = emulator.transport()

    async def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/credentials"):
            return httpx2.Response(200, json=live_credentials)
        return await inner.handle_async_request(request)

    transport = httpx2.MockTransport(answer)
    async with AsyncTrunkingClient("k", "t", "acme", transport=transport, rate_limit=None) as c:
        diagnosis = await c.diagnose(sid)
    assert diagnosis.findings == ()


def test_a_destination_with_a_port_past_65535_is_unreadable_not_probed() -> None:
    assert parse_destination("127.0.0.1:99999;transport=tcp") is None
    findings = check_snapshot(_snapshot("127.0.0.1:99999;transport=tcp"))
    assert [f.code for f in findings if f.item] == ["unreadable_destination"]


def test_the_no_destination_fix_can_be_pasted_into_a_shell() -> None:
    [finding] = [f for f in check_snapshot(TrunkSnapshot("tr1")) if f.code == "no_destination"]
    command = shlex.split(finding.fix.split(" or ", 1)[1])
    assert command == [
        "exotel-trunking",
        "destinations",
        "add",
        "tr1",
        "host:5061;transport=tls",
    ]
