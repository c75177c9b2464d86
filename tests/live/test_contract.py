"""The ten operations on a trunk of the suite's own, through both clients, against the models.

Each client's run (the ``contract_run`` fixture) creates a uniquely named trunk, runs every
operation on it and deletes it; the tests below check what each operation returned against
what the service sent and what was asked. Fields the models do not read are listed in the
terminal summary, not failed. See ``conftest.py`` for where the suite runs.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from exotel_trunking import (
    Credentials,
    DestinationUri,
    PhoneNumber,
    Trunk,
    TrunkSetting,
    WhitelistedIp,
)
from exotel_trunking._converter import converter

from .contract import Outcome, Run, Target, answered, bare, e164, ids, network, record_problems

pytestmark = pytest.mark.live


def completed(run: Run, operation: str) -> Outcome:
    """The operation's outcome, its records checked; skip if it was not run, fail if it raised."""
    outcome = run.outcomes[operation]
    if outcome.not_run is not None:
        pytest.skip(outcome.not_run)
    if outcome.error is not None:
        hint = ""
        if operation == "trunks.create":
            hint = f" (if it may have been created, delete trunk {run.trunk_name!r} yourself)"
        if operation == "trunks.delete":
            hint = (
                f": trunk {run.trunk_sid} ({run.trunk_name}) may be left; delete it with "
                f"`exotel-trunking trunks delete {run.trunk_sid}`"
            )
        pytest.fail(
            f"{operation} raised {type(outcome.error).__name__}: {outcome.error}{hint}",
            pytrace=False,
        )
    problems = record_problems(outcome)
    assert not problems, "\n".join(problems)
    return outcome


def ran(run: Run, operation: str) -> bool:
    """Whether the operation ran and succeeded (for checks that build on it)."""
    outcome = run.outcomes[operation]
    return outcome.not_run is None and outcome.error is None


def assert_timestamps_aware(*stamps: datetime | None) -> None:
    assert all(stamp is None or stamp.tzinfo is not None for stamp in stamps)


def test_trunks_create_returns_the_named_trunk(contract_run: Run) -> None:
    trunk = completed(contract_run, "trunks.create").value
    assert isinstance(trunk, Trunk)
    assert trunk.trunk_name == contract_run.trunk_name
    assert trunk.trunk_sid == contract_run.trunk_sid
    assert trunk.trunk_sid
    assert_timestamps_aware(trunk.date_created, trunk.date_updated)


def test_phone_numbers_map_returns_the_number_on_this_trunk(contract_run: Run) -> None:
    number = completed(contract_run, "phone_numbers.map").value
    assert isinstance(number, PhoneNumber)
    assert contract_run.inputs.number is not None
    assert number.phone_number == e164(contract_run.inputs.number)
    assert number.trunk_sid == contract_run.trunk_sid
    assert_timestamps_aware(number.date_created, number.date_updated)


def test_phone_numbers_list_holds_the_mapped_number(contract_run: Run) -> None:
    numbers = completed(contract_run, "phone_numbers.list").value
    assert all(isinstance(n, PhoneNumber) for n in numbers)
    assert {n.trunk_sid for n in numbers} <= {contract_run.trunk_sid}
    if ran(contract_run, "phone_numbers.map"):
        assert ids(numbers) == [contract_run.outcomes["phone_numbers.map"].value.id]


def test_whitelisted_ips_add_returns_the_address(contract_run: Run) -> None:
    entry = completed(contract_run, "whitelisted_ips.add").value
    assert isinstance(entry, WhitelistedIp)
    assert contract_run.inputs.ip is not None
    assert (entry.ip, entry.mask) == network(contract_run.inputs.ip)
    assert entry.trunk_sid == contract_run.trunk_sid
    assert_timestamps_aware(entry.date_created)


def test_whitelisted_ips_list_holds_the_address(contract_run: Run) -> None:
    entries = completed(contract_run, "whitelisted_ips.list").value
    assert all(isinstance(e, WhitelistedIp) for e in entries)
    assert {e.trunk_sid for e in entries} <= {contract_run.trunk_sid}
    if ran(contract_run, "whitelisted_ips.add"):
        assert ids(entries) == [contract_run.outcomes["whitelisted_ips.add"].value.id]


def test_destination_uris_add_returns_the_destination(contract_run: Run) -> None:
    added = completed(contract_run, "destination_uris.add").value
    assert contract_run.inputs.destination is not None
    [destination] = added
    assert isinstance(destination, DestinationUri)
    assert bare(destination.destination) == bare(contract_run.inputs.destination)
    assert destination.trunk_sid == contract_run.trunk_sid
    assert_timestamps_aware(destination.date_created)


def test_destination_uris_list_holds_the_destination(contract_run: Run) -> None:
    destinations = completed(contract_run, "destination_uris.list").value
    assert all(isinstance(d, DestinationUri) for d in destinations)
    assert {d.trunk_sid for d in destinations} <= {contract_run.trunk_sid}
    if ran(contract_run, "destination_uris.add"):
        added = contract_run.outcomes["destination_uris.add"].value
        assert ids(destinations) == ids(added)


def test_credentials_get_returns_credentials_or_none(
    contract_run: Run, live_target: Target
) -> None:
    credentials = completed(contract_run, "credentials.get").value
    if live_target.emulator is not None:  # the live dialect, like the service, issues none
        assert credentials is None
    if credentials is not None:
        assert isinstance(credentials, Credentials)
        assert credentials.username
        assert credentials.password
        shown = credentials.password in repr(credentials) + str(credentials)
        assert not shown, "the SIP password shows in the repr of Credentials"  # not the value


def test_settings_set_alias_sets_the_number(contract_run: Run) -> None:
    setting = completed(contract_run, "settings.set_alias").value
    assert isinstance(setting, TrunkSetting)
    number = contract_run.inputs.number
    assert number is not None
    assert (setting.name, setting.value) == ("trunk_external_alias", e164(number))
    assert setting.trunk_sid in (None, contract_run.trunk_sid)


def test_trunks_delete_deletes_the_trunk(contract_run: Run, live_target: Target) -> None:
    outcome = completed(contract_run, "trunks.delete")
    assert outcome.value is None
    # The live service answers with the deleted trunk; the reference with no data.
    for exchange in answered(outcome):
        for record in exchange.records:
            assert converter.structure(record, Trunk).trunk_sid == contract_run.trunk_sid
    if live_target.emulator is not None:
        left = [t.trunk_sid for t in live_target.emulator.state.trunks]
        assert contract_run.trunk_sid not in left


def short(request: tuple[str, str, str]) -> tuple[str, str, str]:
    method, path, query = request
    return method, path.rsplit("/", 1)[-1], query


def test_every_request_named_only_the_trunk_it_created(contract_run: Run) -> None:
    sid = contract_run.trunk_sid
    assert sid is not None
    [create, *middle, delete] = contract_run.sent
    assert short(create) == ("POST", "trunks", "")
    assert short(delete) == ("DELETE", "trunks", f"trunk_sid={sid}")
    for method, path, query in middle:
        assert f"/trunks/{sid}/" in path, (method, path)
        assert "trunk_sid" not in query
