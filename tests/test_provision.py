"""``TrunkSpec`` and ``client.provision``: dependency order, idempotence, dry runs, failures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest

from exotel_trunking import (
    AsyncTrunkingClient,
    ConflictError,
    InternalServerError,
    InvalidParameterError,
    RetryPolicy,
    Trunk,
)
from exotel_trunking._provision import (
    CredentialSpec,
    NumberSpec,
    ProvisionProgress,
    ProvisionReport,
    TrunkSpec,
)
from exotel_trunking.emulator import Emulator, _dialects

pytestmark = pytest.mark.anyio

NUMBERS = ["+919876543210", "+919876543211", "+919876543212"]


def tenant(**changes: object) -> TrunkSpec:
    fields: dict[str, object] = {
        "name": "tenant_a",
        "numbers": NUMBERS,
        "ips": ["203.0.113.0/28", "198.51.100.7"],
        "destinations": ["203.0.113.5:5061;transport=tls", "pbx.tenant.example:5060;transport=tcp"],
        "alias": NUMBERS[0],
    }
    fields.update(changes)
    return TrunkSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["reference", "live"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    # The live dialect refuses an IP destination that is not whitelisted yet, and pages lists.
    return Emulator("k", "t", "acme", dialect=request.param, seed=0, page_size=2)


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncTrunkingClient]:
    async with AsyncTrunkingClient(
        "k",
        "t",
        "acme",
        transport=emulator.transport(),
        rate_limit=None,
        retry=RetryPolicy(initial_delay=0.001, max_delay=0.01),
    ) as client:
        yield client


def posts(emulator: Emulator, since: int = 0) -> list[str]:
    """The paths (after the account) of the POSTs received since request number ``since``."""
    return [r.path.split("/acme/", 1)[1] for r in emulator.requests[since:] if r.method != "GET"]


# -- applying ---------------------------------------------------------------------------------


async def test_without_a_sid_the_trunk_is_created_and_brought_to_the_spec(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    report = await client.provision(tenant())
    assert report.ok
    assert report.changed
    assert report.trunk_created
    assert report.trunk is not None
    sid = report.trunk_sid
    assert sid == report.trunk.trunk_sid
    assert report.numbers.created == NUMBERS
    assert report.ips.created == ["203.0.113.0/28", "198.51.100.7/32"]
    assert len(report.destinations.created) == 2
    if emulator.dialect == "reference":
        assert report.credentials is not None
        assert report.credentials.username == sid
    else:  # the live service gives a new trunk no SIP credentials
        assert (report.credentials, report.credentials_error) == (None, None)
    state = emulator.state
    assert sorted(n.phone_number for n in state.phone_numbers(sid)) == NUMBERS
    assert len(state.whitelisted_ips(sid)) == 2
    assert len(state.destinations(sid)) == 2
    assert [s.value for s in state.settings(sid)] == [NUMBERS[0]]


async def test_ips_are_whitelisted_before_the_destinations_that_need_them(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    emulator.configure(require_whitelisted_destinations=True)
    report = await client.provision(tenant())
    assert report.destinations.failed == []
    order = posts(emulator)
    last_ip = max(i for i, path in enumerate(order) if path.endswith("/whitelisted-ips"))
    first_destination = order.index(next(p for p in order if p.endswith("/destination-uris")))
    assert last_ip < first_destination
    assert order[-1].endswith("/settings")  # the alias comes last


async def test_applying_twice_changes_nothing_the_second_time(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    first = await client.provision(tenant())
    seen = len(emulator.requests)
    again = await client.provision(tenant(), trunk_sid=first.trunk_sid)
    assert again.ok
    assert not again.changed
    assert not again.trunk_created
    assert again.numbers.existing == NUMBERS
    assert again.ips.existing == ["203.0.113.0/28", "198.51.100.7/32"]
    assert again.destinations.existing == list(tenant().destinations)
    assert (again.numbers.created, again.ips.created, again.destinations.created) == ([], [], [])
    # Only the alias, which the API cannot read back, is sent again.
    assert posts(emulator, seen) == [f"trunks/{first.trunk_sid}/settings"]


async def test_existing_items_on_every_page_are_found(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    many = [f"+9180{40000000 + n:08d}" for n in range(9)]  # five pages of two in live
    first = await client.provision(tenant(numbers=many, alias=None))
    again = await client.provision(
        tenant(numbers=many, alias=None), dry_run=True, trunk_sid=first.trunk_sid
    )
    assert again.numbers.existing == many
    assert not again.changed


async def test_the_spec_trunk_sid_is_used_and_the_argument_overrides_it(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    one = await client.trunks.create("one")
    two = await client.trunks.create("two")
    report = await client.provision(tenant(trunk_sid=one.trunk_sid, numbers=NUMBERS[:1]))
    assert report.trunk_sid == one.trunk_sid
    report = await client.provision(
        tenant(trunk_sid=one.trunk_sid, numbers=NUMBERS[1:2]), trunk_sid=two.trunk_sid
    )
    assert report.trunk_sid == two.trunk_sid
    assert [n.phone_number for n in emulator.state.phone_numbers(two.trunk_sid)] == NUMBERS[1:2]


@pytest.mark.parametrize("emulator", ["reference"], indirect=True)  # it cannot list trunks
async def test_a_taken_name_raises_conflict_error_saying_to_pass_the_sid_if_trunks_are_unlisted(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    await client.trunks.create("tenant_a")
    with pytest.raises(ConflictError, match="pass its sid") as raised:
        await client.provision(tenant())
    assert raised.value.status_code == 409
    assert len(emulator.state.trunks) == 1


async def test_numbers_are_mapped_with_their_mode(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    spec = tenant(numbers=[NUMBERS[0], {"phone_number": NUMBERS[1], "mode": "flow"}], alias=None)
    report = await client.provision(spec)
    modes = {n.phone_number: n.mode for n in emulator.state.phone_numbers(report.trunk_sid or "")}
    assert modes[NUMBERS[1]] == "flow"
    assert modes[NUMBERS[0]] != "flow"


# -- dry runs ---------------------------------------------------------------------------------


async def test_dry_run_without_a_sid_plans_everything_and_only_reads(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    plan = await client.provision(tenant(), dry_run=True)
    assert plan.dry_run
    assert plan.trunk_created
    assert plan.changed
    assert plan.trunk_sid is None
    assert plan.numbers.created == NUMBERS
    assert plan.credentials is None
    # The trunk is looked for by name (the reference dialect answers 405); nothing else.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.requests] == [("GET", "trunks")]


async def test_dry_run_on_an_applied_spec_is_an_empty_plan_and_only_reads(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    applied = await client.provision(tenant())
    seen = len(emulator.requests)
    plan = await client.provision(tenant(), trunk_sid=applied.trunk_sid, dry_run=True)
    assert not plan.changed
    assert plan.ok
    assert posts(emulator, seen) == []


async def test_dry_run_of_a_partly_applied_trunk_lists_only_what_is_missing(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    trunk = await client.trunks.create("tenant_a")
    await client.phone_numbers.map(trunk.trunk_sid, NUMBERS[1])
    await client.whitelisted_ips.add(trunk.trunk_sid, "198.51.100.7")
    await client.destination_uris.add(trunk.trunk_sid, "sip:PBX.Tenant.example:5060;transport=TCP")
    plan = await client.provision(tenant(), trunk_sid=trunk.trunk_sid, dry_run=True)
    assert plan.numbers.created == [NUMBERS[0], NUMBERS[2]]
    assert plan.numbers.existing == [NUMBERS[1]]
    assert plan.ips.created == ["203.0.113.0/28"]
    assert plan.ips.existing == ["198.51.100.7/32"]
    assert plan.destinations.created == ["203.0.113.5:5061;transport=tls"]
    assert plan.destinations.existing == ["pbx.tenant.example:5060;transport=tcp"]
    assert len(emulator.state.phone_numbers(trunk.trunk_sid)) == 1


# -- failures are reported, not raised -----------------------------------------------------------


async def test_a_number_that_fails_is_reported_and_the_rest_is_applied(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    trunk = await client.trunks.create("tenant_a")
    emulator.script("POST", "/trunks/*/phone-numbers", "503")
    report = await client.with_options(max_retries=0).provision(tenant(), trunk_sid=trunk.trunk_sid)
    assert not report.ok
    ((item, error),) = report.numbers.failed
    assert item in NUMBERS
    assert "503" in str(error)
    assert len(report.numbers.created) == 2
    assert len(report.destinations.created) == 2
    retry = await client.provision(tenant(), trunk_sid=trunk.trunk_sid)
    assert retry.ok
    assert retry.numbers.created == [item]


async def test_an_alias_that_fails_is_reported_with_the_credentials_still_read(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    emulator.script("POST", "/trunks/*/settings", "503")
    report = await client.with_options(max_retries=0).provision(tenant())
    assert not report.ok
    assert isinstance(report.alias_error, InternalServerError)
    assert report.alias_error.status_code == 503
    assert report.credentials_error is None
    if emulator.dialect == "reference":  # a live trunk has none to read
        assert report.credentials is not None
        assert report.credentials.username == report.trunk_sid


async def test_credentials_that_cannot_be_read_leave_the_report_and_the_new_sid(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    emulator.script("GET", "/trunks/*/credentials", "503")
    report = await client.with_options(max_retries=0).provision(tenant())
    assert report.ok  # everything was applied
    assert [trunk.trunk_sid for trunk in emulator.state.trunks] == [report.trunk_sid]
    assert report.credentials is None
    assert isinstance(report.credentials_error, InternalServerError)


async def test_a_trunk_without_sip_credentials_reports_none(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    emulator.configure(issue_credentials=False)
    report: ProvisionReport = await client.provision(tenant())
    assert report.ok
    assert report.credentials is None
    assert report.credentials_error is None


# -- the spec ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_on_trunk_created_gets_the_new_trunk_before_anything_else_is_sent(
    client: AsyncTrunkingClient, emulator: Emulator, kind: str
) -> None:
    seen: list[tuple[str, int]] = []

    def record(trunk: Trunk) -> None:
        seen.append((trunk.trunk_sid, len(emulator.requests)))

    async def record_async(trunk: Trunk) -> None:
        record(trunk)

    report = await client.provision(
        tenant(), on_trunk_created=record if kind == "sync" else record_async
    )

    # Only the look-up by name and the create had been sent.
    assert seen == [(report.trunk_sid, 2)]
    assert len(emulator.requests) > 1


async def test_on_trunk_created_is_not_called_for_an_existing_trunk_or_a_plan(
    client: AsyncTrunkingClient,
) -> None:
    calls: list[Trunk] = []
    sid = (await client.provision(tenant())).trunk_sid

    await client.provision(tenant(), trunk_sid=sid, on_trunk_created=calls.append)
    await client.provision(tenant(name="other"), dry_run=True, on_trunk_created=calls.append)

    assert calls == []


async def test_an_error_from_on_trunk_created_stops_provisioning_with_the_trunk_made(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    def refuse(trunk: Trunk) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await client.provision(tenant(), on_trunk_created=refuse)

    assert [r.method for r in emulator.requests] == ["GET", "POST"]  # find, create


async def test_on_progress_reports_each_phase_and_every_item_sent(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    events: list[ProvisionProgress] = []
    first = await client.provision(tenant(numbers=NUMBERS[:1]))
    report = await client.provision(tenant(), trunk_sid=first.trunk_sid, on_progress=events.append)

    phases = [(e.phase, e.event, e.total) for e in events if e.event != "item"]
    assert phases == [
        ("read", "started", None),
        ("read", "finished", None),
        ("numbers", "started", 2),  # the third is in place already: not sent
        ("numbers", "finished", None),
        ("ips", "started", 0),
        ("ips", "finished", None),
        ("destinations", "started", 0),
        ("destinations", "finished", None),
        ("alias", "started", 1),
        ("alias", "finished", None),
        ("credentials", "started", 0),  # no credential to create; the trunk's are read
        ("credentials", "finished", None),
    ]
    items = [e for e in events if e.event == "item"]
    assert {e.phase for e in items} == {"numbers"}
    assert sorted(str(e.outcome.item) for e in items if e.outcome) == NUMBERS[1:]
    finished = {e.phase: e.changes for e in events if e.event == "finished"}
    assert finished["numbers"] is report.numbers
    assert finished["ips"] is report.ips
    assert finished["destinations"] is report.destinations


async def test_on_progress_of_a_new_trunk_starts_with_the_trunk_and_may_be_async(
    client: AsyncTrunkingClient,
) -> None:
    events: list[tuple[str, str]] = []

    async def record(progress: ProvisionProgress) -> None:
        events.append((progress.phase, progress.event))

    await client.provision(tenant(), on_progress=record)

    assert events[:2] == [("trunk", "started"), ("trunk", "finished")]
    assert events.count(("ips", "item")) == 2
    assert events[-1] == ("credentials", "finished")


async def test_a_dry_run_reports_no_progress(client: AsyncTrunkingClient) -> None:
    events: list[ProvisionProgress] = []
    await client.provision(tenant(), dry_run=True, on_progress=events.append)
    assert events == []


def test_spec_normalises_every_item() -> None:
    spec = TrunkSpec(
        "tenant_a",
        numbers=["+91 98765-43210"],
        ips=["198.51.100.7"],
        destinations=["sip:PBX.example.com:5061;transport=TLS"],
        alias="+91 (98765) 43210",
    )
    assert spec.numbers == (NumberSpec("+919876543210"),)
    assert spec.ips == ("198.51.100.7/32",)
    assert spec.destinations == ("pbx.example.com:5061;transport=tls",)
    assert spec.alias == "+919876543210"


def test_spec_collapses_items_listed_twice() -> None:
    spec = TrunkSpec(
        "tenant_a",
        numbers=["+919876543210", "+91 98765 43210", NumberSpec("+919876543211")],
        ips=["198.51.100.7", "198.51.100.7/32"],
        destinations=["a.example:5060;transport=tcp", "sip:A.example:5060;transport=tcp"],
    )
    assert [n.phone_number for n in spec.numbers] == ["+919876543210", "+919876543211"]
    assert spec.ips == ("198.51.100.7/32",)
    assert spec.destinations == ("a.example:5060;transport=tcp",)


def test_spec_refuses_a_number_listed_with_two_modes() -> None:
    with pytest.raises(InvalidParameterError, match=r"numbers\[1\].*another mode"):
        TrunkSpec(
            "tenant_a",
            numbers=["+919876543210", {"phone_number": "+919876543210", "mode": "flow"}],
        )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "t", "numbers": "+919876543210"}, r"numbers.*expected a list"),
        ({"name": "t", "numbers": ["+0"]}, r"numbers\[0\]"),
        ({"name": "t", "ips": ["203.0.113.50/24"]}, r"ips\[0\]"),
        ({"name": "t", "destinations": ["pbx:5060;transport=sctp"]}, r"destinations\[0\]"),
        ({"name": "no spaces"}, "trunk_name"),
        ({"name": "t", "colour": "blue"}, "colour.*not a spec field"),
        ({"numbers": []}, "name"),
        ({"name": "t", "trunk_sid": "../x"}, "trunk_sid"),
    ],
)
def test_spec_from_dict_refuses_bad_input_naming_the_field(
    data: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        TrunkSpec.from_dict(data)


# -- converging: found by name, SIP credentials, prune --------------------------------------------

LIVE = pytest.mark.parametrize("emulator", ["live"], indirect=True)
EXTRA_NUMBER, EXTRA_IP, EXTRA_DESTINATION = "+919876543299", "192.0.2.1/32", "x.example:5060"


@LIVE
async def test_without_a_sid_the_trunk_with_the_specs_name_is_found_and_brought_to_the_spec(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    trunk = await client.trunks.create("tenant_a")
    await client.phone_numbers.map(trunk.trunk_sid, NUMBERS[0])
    events: list[ProvisionProgress] = []

    report = await client.provision(tenant(), on_progress=events.append)

    assert (report.trunk_sid, report.trunk_found, report.trunk_created) == (
        trunk.trunk_sid,
        True,
        False,
    )
    assert report.numbers.existing == NUMBERS[:1]
    assert report.numbers.created == NUMBERS[1:]
    assert [t.trunk_sid for t in emulator.state.trunks] == [trunk.trunk_sid]
    finished = next(e for e in events if (e.phase, e.event) == ("trunk", "finished"))
    assert finished.trunk == report.trunk
    again = await client.provision(tenant())
    assert (again.trunk_sid, again.changed) == (trunk.trunk_sid, False)


@LIVE
async def test_a_trunk_created_between_the_look_up_and_the_create_is_found_again(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    find = client.trunks.find
    looked: list[str] = []

    async def late(name: str) -> Trunk | None:
        looked.append(name)
        if len(looked) == 1:  # another run creates the trunk just after this look-up
            await client.trunks.create(name)
            return None
        return await find(name)

    monkeypatch.setattr(client.trunks, "find", late)
    report = await client.provision(tenant())

    assert looked == ["tenant_a", "tenant_a"]
    assert report.trunk_found
    assert len(emulator.state.trunks) == 1


@LIVE
async def test_the_live_report_lists_the_trunks_digest_credentials_without_a_password(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    emulator.configure(issue_credentials=True)  # the trunk gets one credential of its own
    report = await client.provision(tenant())
    assert (report.credentials, report.credentials_error) == (None, None)
    assert report.trunk_credentials is not None
    (issued,) = report.trunk_credentials
    assert (issued.user_name, issued.password) == (report.trunk_sid, None)


@LIVE
async def test_spec_credentials_are_created_once_and_a_generated_password_is_handed_over(
    client: AsyncTrunkingClient,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="exotel_trunking")
    monkeypatch.setenv("PBX_SIP_PASSWORD", "Pbx-passw0rd-from-env")
    spec = tenant(
        credentials=[
            "agent",
            {"user_name": "pbx", "friendly_name": "Office PBX", "password_env": "PBX_SIP_PASSWORD"},
        ]
    )
    report = await client.provision(spec)

    sid = report.trunk_sid or ""
    stored = {c.user_name: c for c in emulator.state.credentials(sid)}
    assert report.sip_credentials.created == ["agent", "pbx"]
    (generated,) = report.generated_credentials
    assert generated.user_name == "agent"
    assert generated.password == stored["agent"].password  # the one the service took
    assert stored["pbx"].password == "Pbx-passw0rd-from-env"
    assert stored["pbx"].friendly_name == "Office PBX"
    # The caller has the password it gave: the report holds it nowhere.
    assert [c.password for c in report.created_credentials if c.user_name == "pbx"] == [None]
    assert report.trunk_credentials is not None
    listed = {c.user_name: c.password for c in report.trunk_credentials}
    assert listed == {"agent": generated.password, "pbx": None}
    assert generated.password not in repr(report)
    assert caplog.records  # the calls were logged...
    assert generated.password not in caplog.text  # ...without either password
    assert "Pbx-passw0rd-from-env" not in caplog.text

    seen = len(emulator.requests)
    again = await client.provision(spec)
    assert again.sip_credentials.existing == ["agent", "pbx"]
    assert (again.created_credentials, again.changed) == ([], False)
    assert not any(p.endswith("/credentials") for p in posts(emulator, seen))
    assert emulator.state.credentials(sid)[0].password == generated.password  # not rotated
    reads = [r for r in emulator.requests[seen:] if r.path.endswith("/credentials")]
    assert [r.method for r in reads] == ["GET"]  # read once: nothing changed them since
    assert again.trunk_credentials == [
        attrs.evolve(c, password=None) for c in report.trunk_credentials
    ]


async def test_a_password_variable_that_is_unset_stops_the_run_before_anything_is_sent(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_SIP_PASSWORD", raising=False)
    spec = tenant(credentials=[{"user_name": "pbx", "password_env": "NO_SUCH_SIP_PASSWORD"}])
    with pytest.raises(InvalidParameterError, match=r"NO_SUCH_SIP_PASSWORD.*is not set"):
        await client.provision(spec)
    assert emulator.requests == []


async def test_a_password_variable_with_a_weak_password_is_refused_without_showing_it(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEAK_SIP_PASSWORD", "Qz9!")
    spec = tenant(credentials=[{"user_name": "pbx", "password_env": "WEAK_SIP_PASSWORD"}])
    with pytest.raises(InvalidParameterError, match=r"\$WEAK_SIP_PASSWORD") as raised:
        await client.provision(spec)
    assert "Qz9!" not in str(raised.value)
    assert "Qz9!" not in repr(raised.value.value)
    assert emulator.requests == []


async def _extras(client: AsyncTrunkingClient, sid: str) -> None:
    """Put on the trunk one item of each kind that ``tenant()`` does not list."""
    await client.phone_numbers.map(sid, EXTRA_NUMBER)
    await client.whitelisted_ips.add(sid, EXTRA_IP)
    await client.destination_uris.add(sid, EXTRA_DESTINATION)
    await client.credentials.create(sid, "old_agent")


@LIVE
async def test_prune_removes_what_the_spec_does_not_list_after_a_dry_run_lists_exactly_that(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    sid = (await client.provision(tenant(credentials=["agent"]))).trunk_sid or ""
    await _extras(client, sid)
    spec = tenant(credentials=["agent"])

    kept = await client.provision(spec)  # never by default
    assert not kept.changed
    assert kept.numbers.removed == []
    assert len(emulator.state.phone_numbers(sid)) == len(NUMBERS) + 1

    plan = await client.provision(spec, dry_run=True, prune=True)
    removed = (plan.numbers, plan.ips, plan.destinations, plan.sip_credentials)
    assert [part.removed for part in removed] == [
        [EXTRA_NUMBER],
        [EXTRA_IP],
        [EXTRA_DESTINATION],
        ["old_agent"],
    ]
    assert plan.changed
    assert len(emulator.state.phone_numbers(sid)) == len(NUMBERS) + 1  # a plan removes nothing

    events: list[ProvisionProgress] = []
    report = await client.provision(spec, prune=True, on_progress=events.append)
    assert report.ok
    done = (report.numbers, report.ips, report.destinations, report.sip_credentials)
    assert [part.removed for part in done] == [part.removed for part in removed]
    state = emulator.state
    assert sorted(n.phone_number for n in state.phone_numbers(sid)) == NUMBERS
    assert sorted(f"{w.ip}/{w.mask}" for w in state.whitelisted_ips(sid)) == sorted(spec.ips)
    assert len(state.destinations(sid)) == len(spec.destinations)
    assert [c.user_name for c in state.credentials(sid)] == ["agent"]
    prune = [(e.event, e.total) for e in events if e.phase == "prune"]
    assert prune == [("started", 4), ("finished", None)]
    finished = next(e for e in events if (e.phase, e.event) == ("prune", "finished"))
    assert finished.changes is not None
    assert finished.changes.removed[0] == f"destination {EXTRA_DESTINATION}"

    again = await client.provision(spec, prune=True)
    assert not again.changed


@LIVE
async def test_a_removal_that_fails_is_reported_and_the_others_are_made(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    sid = (await client.provision(tenant())).trunk_sid or ""
    await _extras(client, sid)
    emulator.script("DELETE", "/trunks/*/phone-numbers", "503")
    report = await client.with_options(max_retries=0).provision(tenant(), prune=True)
    assert not report.ok
    ((item, error),) = report.numbers.failed
    assert item == EXTRA_NUMBER
    assert "503" in str(error)
    assert report.ips.removed == [EXTRA_IP]


def test_spec_credentials_never_hold_a_password_and_errors_never_show_one() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"credentials\[0\]\.password.*password_env"
    ) as e:
        TrunkSpec("t", credentials=[{"user_name": "pbx", "password": "S3cret-value-123"}])
    assert "S3cret-value-123" not in str(e.value)
    with pytest.raises(InvalidParameterError, match=r"credentials\[0\]\.pasword") as e:
        TrunkSpec("t", credentials=[{"user_name": "pbx", "pasword": "S3cret-value-123"}])
    assert "S3cret-value-123" not in str(e.value)


@pytest.mark.parametrize(
    ("credentials", "match"),
    [
        ("agent", "credentials.*expected a list"),
        (["bad name"], r"credentials\[0\]\.user_name"),
        ([{"friendly_name": "x"}], r"credentials\[0\]\.user_name.*needs a user_name"),
        ([{"user_name": "a", "password_env": "1BAD"}], r"credentials\[0\]\.password_env"),
        ([{"user_name": "a", "friendly_name": "x" * 33}], r"credentials\[0\]\.friendly_name"),
        (["a", {"user_name": "a", "friendly_name": "A"}], r"credentials\[1\].*listed twice"),
        ([7], r"credentials\[0\]=7"),
    ],
)
def test_spec_refuses_bad_credentials_naming_the_item(credentials: object, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        TrunkSpec("t", credentials=credentials)  # type: ignore[arg-type]


def test_spec_credentials_are_user_names_or_specs_and_repeats_collapse() -> None:
    spec = TrunkSpec("t", credentials=["agent", CredentialSpec("agent"), {"user_name": "pbx"}])
    assert spec.credentials == (CredentialSpec("agent"), CredentialSpec("pbx"))
    assert spec.credentials[0].generated


# -- prune reads listed items as the spec names them -----------------------------------------


def _listing_as(
    monkeypatch: pytest.MonkeyPatch, kind: str, field: str, form: Callable[[str], str]
) -> None:
    """Make the live emulator list every ``kind`` record's ``field`` in another ``form``."""
    original = getattr(_dialects.LiveEnvelopes, kind)

    def listed(self: _dialects.LiveEnvelopes, record: Any) -> dict[str, Any]:
        data: dict[str, Any] = original(self, record)
        return {**data, field: form(data[field])}

    monkeypatch.setattr(_dialects.LiveEnvelopes, kind, listed)


@LIVE
async def test_prune_keeps_a_spec_number_the_service_lists_without_its_plus(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TrunkSpec("tenant_a", numbers=[NUMBERS[0]])
    sid = (await client.provision(spec)).trunk_sid or ""
    _listing_as(monkeypatch, "phone_number", "phone_number", lambda n: n.lstrip("+"))

    plan = await client.provision(spec, prune=True, dry_run=True)
    report = await client.provision(spec, prune=True)

    for done in (plan, report):
        assert (done.numbers.existing, done.numbers.removed) == ([NUMBERS[0]], [])
        assert not done.changed
    assert [n.phone_number for n in emulator.state.phone_numbers(sid)] == [NUMBERS[0]]


@LIVE
async def test_prune_keeps_a_udp_destination_the_service_lists_with_its_transport(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TrunkSpec("tenant_a", destinations=["pbx.example.com:5060"])
    sid = (await client.provision(spec)).trunk_sid or ""
    _listing_as(monkeypatch, "destination", "destination", lambda d: f"{d};transport=udp")

    report = await client.provision(spec, prune=True)

    assert report.destinations.existing == ["pbx.example.com:5060"]
    assert report.destinations.removed == []
    assert len(emulator.state.destinations(sid)) == 1


@LIVE
async def test_prune_never_removes_a_listed_number_it_cannot_read_and_reports_it(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TrunkSpec("tenant_a", numbers=[NUMBERS[0]])
    sid = (await client.provision(spec)).trunk_sid or ""
    await client.phone_numbers.map(sid, EXTRA_NUMBER)
    # Without "+", a number the spec does not list cannot be told apart from a national form.
    _listing_as(monkeypatch, "phone_number", "phone_number", lambda n: n.lstrip("+"))

    plan = await client.provision(spec, prune=True, dry_run=True)
    report = await client.provision(spec, prune=True)

    for done in (plan, report):
        assert done.numbers.unreadable == [EXTRA_NUMBER.lstrip("+")]
        assert done.numbers.removed == []
    assert report.ok
    assert len(emulator.state.phone_numbers(sid)) == 2


async def test_prune_with_the_spec_naming_the_same_items_in_other_forms_removes_nothing(
    client: AsyncTrunkingClient,
) -> None:
    first = TrunkSpec(
        "tenant_a",
        numbers=["+919876543210"],
        ips=["203.0.113.5/32", "198.51.100.0/24"],
        destinations=["sip:PBX.Example.com:5061;transport=TLS", "203.0.113.5:5061;transport=tls"],
    )
    sid = (await client.provision(first)).trunk_sid
    second = TrunkSpec(
        "tenant_a",
        numbers=["+91 98765-43210"],
        ips=["203.0.113.5", "198.51.100.0/24"],
        destinations=["pbx.example.com:5061;transport=tls", "SIP:203.0.113.5:5061;transport=TLS"],
        trunk_sid=sid,
    )

    plan = await client.provision(second, prune=True, dry_run=True)
    report = await client.provision(second, prune=True)

    assert not plan.changed
    for part in (report.numbers, report.ips, report.destinations):
        assert part.removed == []
    assert report.ok
    assert not report.changed


@LIVE
async def test_prune_refuses_a_trunk_named_otherwise_than_the_spec_before_sending_anything(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    other = await client.trunks.create("tenant_b")
    await client.phone_numbers.map(other.trunk_sid, EXTRA_NUMBER)
    sent = len(emulator.requests)

    for dry_run in (True, False):
        with pytest.raises(InvalidParameterError, match="'tenant_b', not the spec's 'tenant_a'"):
            await client.provision(tenant(), trunk_sid=other.trunk_sid, prune=True, dry_run=dry_run)

    assert posts(emulator, sent) == []
    assert [n.phone_number for n in emulator.state.phone_numbers(other.trunk_sid)] == [EXTRA_NUMBER]


# -- modes, names, secrets --------------------------------------------------------------------


@LIVE
async def test_a_number_mapped_in_another_mode_is_updated_to_the_specs_mode(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    pstn = TrunkSpec("tenant_a", numbers=[NumberSpec(NUMBERS[0], "pstn")])
    sid = (await client.provision(pstn)).trunk_sid or ""
    flow = TrunkSpec("tenant_a", numbers=[NumberSpec(NUMBERS[0], "flow")])

    plan = await client.provision(flow, dry_run=True)
    assert (plan.numbers.updated, plan.changed) == ([NUMBERS[0]], True)
    assert emulator.state.phone_numbers(sid)[0].mode == "pstn"  # a plan changes nothing

    report = await client.provision(flow)
    assert report.ok
    assert (report.numbers.updated, report.numbers.existing) == ([NUMBERS[0]], [NUMBERS[0]])
    assert report.changed
    assert [n.mode for n in await client.phone_numbers.list(sid)] == ["flow"]
    assert not (await client.provision(flow)).changed
    # A spec that gives no mode leaves the mapping's as it is.
    assert not (await client.provision(TrunkSpec("tenant_a", numbers=[NUMBERS[0]]))).changed


@LIVE
async def test_two_trunks_of_the_specs_name_stop_provision_naming_both_sids(
    client: AsyncTrunkingClient, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await client.trunks.create("tenant_a")
    second = await client.trunks.create("tenant_b")
    # The listing names both "tenant_a" (a name the service should keep unique).
    _listing_as(monkeypatch, "trunk", "trunk_name", lambda _: "tenant_a")
    sent = len(emulator.requests)

    with pytest.raises(ConflictError, match="pass the sid") as raised:
        await client.provision(tenant())

    assert first.trunk_sid in str(raised.value)
    assert second.trunk_sid in str(raised.value)
    assert posts(emulator, sent) == []


async def test_a_dry_run_says_a_new_trunks_name_is_unchecked_where_trunks_cannot_be_listed(
    client: AsyncTrunkingClient, emulator: Emulator
) -> None:
    plan = await client.provision(tenant(), dry_run=True)
    assert plan.trunk_created
    assert plan.trunk_name_unchecked == (emulator.dialect == "reference")


def test_a_password_typed_into_password_env_is_never_shown() -> None:
    secret = "S3cret-value-123"
    with pytest.raises(InvalidParameterError, match="password_env=<redacted>") as raised:
        TrunkSpec("t", credentials=[{"user_name": "pbx", "password_env": secret}])
    assert secret not in str(raised.value)

    # A password that happens to look like a variable's name: the variable is unset.
    looks_like_a_name = "MySecretPassw0rd"
    credential = CredentialSpec("pbx", password_env=looks_like_a_name)
    with pytest.raises(InvalidParameterError, match="is not set") as unset:
        credential.password({})
    assert looks_like_a_name not in str(unset.value)
    assert "<redacted>" in str(unset.value)
