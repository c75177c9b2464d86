"""The live suite's own rules: where it runs, when it skips, what it may touch, that it cleans up.

Everything here runs on 127.0.0.1: the "account" of the ``--live`` tests is an emulator served
on loopback and named by ``EXOTEL_BASE_URL``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from exotel_trunking import (
    InternalServerError,
    PartialFailureError,
    RateLimit,
    Trunk,
)
from exotel_trunking.emulator import Emulator

from .contract import (
    CLIENT_KINDS,
    DESTINATION,
    EMULATOR_INPUTS,
    FAST_RETRY,
    IP,
    NUMBER,
    OPERATIONS,
    REQUIRED,
    ClientKind,
    Exchange,
    Inputs,
    Outcome,
    Recorder,
    Report,
    Run,
    Target,
    UnownedTrunkError,
    decide,
    new_emulator,
    open_client,
    raw_records,
    record_problems,
    run_against,
    run_contract,
    served,
)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = {"EXOTEL_API_KEY": "k", "EXOTEL_API_TOKEN": "t", "EXOTEL_ACCOUNT_SID": "acme"}
#: Two of the three inputs: the destination's operation is skipped.
ACCOUNT_INPUTS = {NUMBER: "+91 98765 00002", IP: "198.51.100.0/24"}
#: The ``--live`` subprocess runs: without the token and sid, and with a whole account.
CASES = ("no_token", "account")


@pytest.fixture
def emulator() -> Emulator:
    """The suite's emulator, holding a trunk the suite did not create (someone else's)."""
    emulator = new_emulator()
    emulator.state.create_trunk("someone_else")
    return emulator


@pytest.fixture
def target(emulator: Emulator) -> Iterator[Target]:
    with served(emulator) as base_url:
        yield Target.served_emulator(emulator, base_url)


def foreign_sid(emulator: Emulator) -> str:
    [trunk] = [t for t in emulator.state.trunks if t.trunk_name == "someone_else"]
    return trunk.trunk_sid


def assert_only_own_trunk_touched(emulator: Emulator, foreign: str) -> set[str]:
    """Nothing but the foreign trunk is left, no request named it; return the sids used."""
    assert [t.trunk_sid for t in emulator.state.trunks] == [foreign]
    used: set[str] = set()
    for request in emulator.requests:
        assert foreign not in request.path + request.query
        head, _, rest = request.path.partition("/trunks")
        assert head == f"/v2/accounts/{emulator.account_sid}"
        if rest:
            used.add(rest.split("/")[1])
        else:
            assert request.method == "POST" or request.query.startswith("trunk_sid=")
            if request.method == "DELETE":
                used.add(request.query.removeprefix("trunk_sid="))
    return used


# -- where the suite runs, and when it skips -------------------------------------------------


def test_without_live_the_suite_runs_against_the_emulator_even_with_an_account_set() -> None:
    decision = decide(False, {**ACCOUNT, NUMBER: "+919876543210"})
    assert (decision.against, decision.skip, decision.inputs) == ("emulator", None, EMULATOR_INPUTS)


def test_live_with_the_three_variables_runs_against_the_account_with_the_users_inputs() -> None:
    env = {**ACCOUNT, NUMBER: " +91 98765 43210 ", IP: "198.51.100.0/24", DESTINATION: ""}
    decision = decide(True, env)
    assert (decision.against, decision.skip) == ("account", None)
    assert decision.inputs == Inputs(number="+91 98765 43210", ip="198.51.100.0/24")


@pytest.mark.parametrize("missing", [*[[name] for name in REQUIRED], list(REQUIRED)])
@pytest.mark.parametrize("unset", ["absent", "empty"])
def test_live_without_a_variable_skips_naming_exactly_the_missing_ones(
    missing: list[str], unset: str
) -> None:
    env = {k: v for k, v in ACCOUNT.items() if k not in missing}
    if unset == "empty":
        env.update(dict.fromkeys(missing, "  "))
    decision = decide(True, env)
    assert decision.against is None
    assert decision.skip is not None
    assert decision.skip.startswith(f"--live needs {', '.join(missing)} (not set)")
    assert all(name not in decision.skip for name in set(REQUIRED) - set(missing))


def test_a_missing_input_skips_only_the_operations_that_need_it() -> None:
    inputs = Inputs(ip="203.0.113.7")
    reasons = {op: inputs.missing_for(op) for op in OPERATIONS}
    assert {op for op, reason in reasons.items() if reason} == {
        "phone_numbers.map",
        "settings.set_alias",
        "destination_uris.add",
    }
    assert reasons["phone_numbers.map"] == (
        "phone_numbers.map was not run: set EXOTEL_LIVE_NUMBER to a number of your account "
        "(E.164) that no trunk has"
    )
    assert "set EXOTEL_LIVE_DESTINATION" in str(reasons["destination_uris.add"])


def test_the_account_target_keeps_the_default_pacing_and_the_emulator_goes_unpaced(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ACCOUNT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EXOTEL_BASE_URL", "http://127.0.0.1:9")  # nothing is sent
    for kind in CLIENT_KINDS:
        with open_client(Target.account(Inputs()), kind, Recorder("")) as (client, _):
            assert (client.config.rate_limit, client.config.retry.max_retries) == (RateLimit(), 5)
            assert (client.account_sid, client.config.base_url) == ("acme", "http://127.0.0.1:9")
        with open_client(target, kind, Recorder("")) as (client, _):
            assert client.config.rate_limit is None
            assert client.account_sid == "live_suite"


def test_the_emulator_target_never_reaches_the_account_in_the_environment(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Emulator("k", "t", "acme", dialect="live")
    with served(account) as account_url:
        for name, value in {**ACCOUNT, "EXOTEL_BASE_URL": account_url}.items():
            monkeypatch.setenv(name, value)
        run = run_against(target, "async")
    assert run.outcomes["trunks.delete"].error is None
    assert account.requests == []


class ClockedEmulator(Emulator):
    """An emulator that notes when each request arrived (``time.monotonic``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, str, str]] = []

    async def handle(self, request: Any, **options: Any) -> Any:
        self.arrivals.append((time.monotonic(), request.path, request.query))
        return await super().handle(request, **options)


@attrs.frozen
class SuiteRun:
    """``pytest tests/live/test_contract.py`` run in a subprocess, and the account it had."""

    done: subprocess.CompletedProcess[str]
    account: ClockedEmulator
    base_url: str
    foreign: str


#: The contract tests alone (this file would start itself again), quiet, reasons shown.
SUITE = ("tests/live/test_contract.py", "-q", "-rs", "-p", "no:cacheprovider")


def start_suite(base_url: str, *options: str, **env: str) -> subprocess.Popen[str]:
    """Start the contract tests in a subprocess, with no EXOTEL_* variable but ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EXOTEL_")}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *SUITE, *options],
        cwd=ROOT,
        env={**environ, "EXOTEL_BASE_URL": base_url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def suite_runs() -> dict[str, SuiteRun]:
    """Two ``--live`` runs in parallel subprocesses, each with a loopback "account" holding a
    trunk of someone else's: one without the token and sid, one with the account and two of
    the three inputs.
    """
    accounts = {case: ClockedEmulator(*ACCOUNT.values(), dialect="live") for case in CASES}
    for account in accounts.values():
        account.state.create_trunk("someone_else")
    with served(accounts["no_token"]) as no_token_url, served(accounts["account"]) as url:
        running = {
            "no_token": (no_token_url, start_suite(no_token_url, "--live", EXOTEL_API_KEY="k")),
            "account": (url, start_suite(url, "--live", **ACCOUNT, **ACCOUNT_INPUTS)),
        }
        results = {}
        try:
            for case, (base_url, process) in running.items():
                stdout, stderr = process.communicate(timeout=120)
                done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
                foreign = foreign_sid(accounts[case])
                results[case] = SuiteRun(done, accounts[case], base_url, foreign)
        finally:
            for _, process in running.values():
                if process.poll() is None:  # timed out: end it, not leave it running
                    process.kill()
                    process.communicate()
    return results


@pytest.mark.slow  # the suite in subprocesses, at the default pace
def test_live_without_the_token_and_sid_skips_every_test_and_sends_nothing(
    suite_runs: dict[str, SuiteRun],
) -> None:
    done, account = suite_runs["no_token"].done, suite_runs["no_token"].account
    assert done.returncode == 0, done.stdout + done.stderr
    assert "22 skipped" in done.stdout
    reason = "--live needs EXOTEL_API_TOKEN, EXOTEL_ACCOUNT_SID (not set)"
    assert done.stdout.count(reason) == 11  # one summary line per test, both clients in it
    assert "passed" not in done.stdout
    assert "live contract" not in done.stdout  # no run, no report
    assert account.requests == []


@pytest.mark.slow  # the suite in subprocesses, at the default pace
def test_live_with_an_account_runs_the_suite_there_and_leaves_only_what_was_there(
    suite_runs: dict[str, SuiteRun],
) -> None:
    run = suite_runs["account"]
    done = run.done
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 passed, 2 skipped" in done.stdout
    assert "destination_uris.add was not run: set EXOTEL_LIVE_DESTINATION" in done.stdout
    assert f"against account acme at {run.base_url}" in done.stdout
    assert "  Trunk: auth_type, " in done.stdout  # the report of fields the models skip
    assert len(assert_only_own_trunk_touched(run.account, run.foreign)) == 2  # one per client


@pytest.mark.slow  # the suite in subprocesses, at the default pace
def test_live_with_an_account_keeps_to_the_default_pace(suite_runs: dict[str, SuiteRun]) -> None:
    account = suite_runs["account"].account
    assert set(account.counters.by_status) == {200}  # no 429
    # Each client's run: 9 requests (no destination), the first 5 a burst, then one every
    # 60/200 s (and 2%); the sync run starts a new client, with a burst of its own.
    runs: dict[str, list[float]] = {}
    for arrived, path, query in account.arrivals:
        rest = path.partition("/trunks")[2]
        key = rest.split("/")[1] if rest else query.removeprefix("trunk_sid=") or "create"
        runs.setdefault(key, []).append(arrived)
    creates = runs.pop("create")
    assert len(creates) == len(runs) == 2
    for create, arrivals in zip(sorted(creates), sorted(runs.values()), strict=True):
        span = max(arrivals) - create
        assert len(arrivals) == 8
        assert span >= (1 + len(arrivals) - RateLimit().burst) * RateLimit().interval * 0.95


# -- what the suite may touch, and its clean-up ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "allowed"),
    [
        ("POST", "/v2/accounts/acme/trunks", "", False),  # a second create
        ("DELETE", "/v2/accounts/acme/trunks", "trunk_sid=tr_own", True),
        ("DELETE", "/v2/accounts/acme/trunks", "trunk_sid=tr_other", False),
        ("DELETE", "/v2/accounts/acme/trunks", "trunk_sid=tr_own&trunk_sid=tr_other", False),
        ("GET", "/v2/accounts/acme/trunks", "", False),  # listing the account's trunks
        ("GET", "/v2/accounts/acme/trunks/tr_own/phone-numbers", "", True),
        ("POST", "/v2/accounts/acme/trunks/tr_own/settings", "", True),
        ("GET", "/v2/accounts/acme/trunks/tr_other/phone-numbers", "", False),
        ("GET", "/v2/accounts/acme/trunks/tr_own_2/phone-numbers", "", False),
        ("GET", "/v2/accounts/other/trunks/tr_own/phone-numbers", "", False),
        ("GET", "/v2/accounts/acme/trunk-maps", "exophone=%2B919876543210", False),
    ],
)
def test_the_recorder_allows_only_requests_on_the_runs_own_trunk(
    method: str, path: str, query: str, allowed: bool
) -> None:
    recorder = Recorder("acme")
    recorder.check("POST", "/v2/accounts/acme/trunks", "")  # before the trunk exists
    recorder.trunk_sid = "tr_own"
    if allowed:
        recorder.check(method, path, query)
    else:
        with pytest.raises(UnownedTrunkError, match="refused"):
            recorder.check(method, path, query)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_a_request_for_another_trunk_is_refused_before_it_is_sent(
    kind: ClientKind, target: Target, emulator: Emulator
) -> None:
    foreign = foreign_sid(emulator)
    recorder = Recorder("")
    with open_client(target, kind, recorder) as (client, call):
        sid = call(client.trunks.create, "mine").trunk_sid
        recorder.trunk_sid = sid
        with pytest.raises(UnownedTrunkError):
            call(client.phone_numbers.list, foreign)
        with pytest.raises(UnownedTrunkError):
            call(client.trunks.delete, foreign)
        call(client.trunks.delete, sid)
    assert assert_only_own_trunk_touched(emulator, foreign) == {sid}


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_a_failed_operation_mid_run_is_reported_and_the_trunk_still_deleted(
    kind: ClientKind, target: Target, emulator: Emulator
) -> None:
    foreign = foreign_sid(emulator)
    emulator.script("POST", "/trunks/*/whitelisted-ips", "503", times=FAST_RETRY.max_retries + 1)
    run = run_against(target, kind)
    failed = {op: type(o.error) for op, o in run.outcomes.items() if o.error is not None}
    # The destination then fails too: its IP was never whitelisted. The run went on.
    assert failed == {
        "whitelisted_ips.add": InternalServerError,
        "destination_uris.add": PartialFailureError,
    }
    assert run.outcomes["settings.set_alias"].value is not None
    assert run.outcomes["trunks.delete"].error is None
    assert assert_only_own_trunk_touched(emulator, foreign) == {run.trunk_sid}
    last = emulator.requests[-1]
    assert (last.method, last.query, last.status) == ("DELETE", f"trunk_sid={run.trunk_sid}", 200)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_an_exception_mid_run_ends_it_after_deleting_the_trunk(
    kind: ClientKind, target: Target, emulator: Emulator
) -> None:
    foreign = foreign_sid(emulator)
    recorder = Recorder("")
    with open_client(target, kind, recorder) as (client, call):

        def failing(operation: Any, *args: Any) -> Any:
            if operation == client.phone_numbers.list:
                raise RuntimeError("injected: a bug, or an interrupt")
            return call(operation, *args)

        with pytest.raises(RuntimeError, match="injected"):
            run_contract(client, failing, recorder, EMULATOR_INPUTS, kind=kind, name="aborted")
    [sid] = assert_only_own_trunk_touched(emulator, foreign)
    assert [(r.method, r.path.rsplit("/", 1)[-1], r.query) for r in emulator.requests] == [
        ("POST", "trunks", ""),
        ("POST", "phone-numbers", ""),
        ("DELETE", "trunks", f"trunk_sid={sid}"),  # nothing after the failure but the delete
    ]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
def test_a_failed_create_runs_nothing_else(
    kind: ClientKind, target: Target, emulator: Emulator
) -> None:
    emulator.script("POST", "/trunks", "503", times=FAST_RETRY.max_retries + 1)
    run = run_against(target, kind)
    assert isinstance(run.outcomes["trunks.create"].error, InternalServerError)
    assert {o.not_run for op, o in run.outcomes.items() if op != "trunks.create"} == {
        "not run: trunks.create failed"
    }
    assert {r.path.rsplit("/", 1)[-1] for r in emulator.requests} == {"trunks"}
    assert [t.trunk_name for t in emulator.state.trunks] == ["someone_else"]


# -- the raw records against the models ----------------------------------------------------


def trunk_record(**changes: Any) -> dict[str, Any]:
    return {"trunk_sid": "tr_own", "trunk_name": "mine", **changes}


def outcome_of(value: Any, *records: dict[str, Any]) -> Outcome:
    exchange = Exchange("POST", "/v2/accounts/acme/trunks", "", 200, records)
    return Outcome("trunks.create", value=value, exchanges=[exchange])


def test_unknown_fields_are_reported_by_name_not_failed() -> None:
    outcome = outcome_of(Trunk("tr_own", "mine"), trunk_record(auth_type="IP-WHITELIST"))
    assert record_problems(outcome) == []
    run = Run("async", "mine", Inputs(), against="the test")
    run.outcomes[outcome.operation] = outcome
    report = Report()
    report.add(run)
    assert report.lines() == [
        "against the test",
        "fields the models do not read (ignored by the SDK, not a failure):",
        "  Trunk: auth_type  [trunks.create]",
        "model fields the service never sent (left None):",
        "  Trunk: date_created, date_updated, domain_name, nso_code, status",
    ]  # names only: the value IP-WHITELIST is nowhere


@pytest.mark.parametrize(
    ("value", "record", "problem"),
    [
        (Trunk("tr_own", "mine"), {"trunk_sid": "tr_own"}, "lacks trunk_name"),
        (Trunk("tr_own", "mine"), trunk_record(date_created=17), "does not structure into"),
        (Trunk("tr_own", "yours"), trunk_record(), "is not what the service sent"),
    ],
)
def test_a_record_that_disagrees_with_the_model_is_a_failure(
    value: Trunk, record: dict[str, Any], problem: str
) -> None:
    [found] = record_problems(outcome_of(value, record))
    assert problem in found
    assert "tr_own" not in found.replace("/v2/accounts/acme/trunks", "")  # no values shown


def test_raw_records_come_from_both_envelope_shapes() -> None:
    one = {"response": {"code": 200, "data": {"id": "1"}}}
    array = {"response": {"code": 200, "data": [{"id": "1"}, {"id": "2"}]}}
    items = {"response": [{"data": {"id": "1"}}, {"data": None}, {"data": {"id": "2"}}]}
    assert raw_records(one) == ({"id": "1"},)
    assert raw_records(array) == raw_records(items) == ({"id": "1"}, {"id": "2"})
    assert raw_records({"response": []}) == raw_records("<html>") == ()


def test_a_run_makes_every_operation_once_in_order(target: Target, emulator: Emulator) -> None:
    run = run_against(target, "async")
    assert list(run.outcomes) == list(OPERATIONS)
    assert all(o.error is None and o.not_run is None for o in run.outcomes.values())
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in run.sent] == [
        ("POST", "trunks"),
        ("POST", "phone-numbers"),
        ("GET", "phone-numbers"),
        ("POST", "whitelisted-ips"),
        ("GET", "whitelisted-ips"),
        ("POST", "destination-uris"),
        ("GET", "destination-uris"),
        ("GET", "credentials"),
        ("POST", "settings"),
        ("DELETE", "trunks"),
    ]
    assert len(run.trunk_name) <= 16
    assert run.trunk_name.startswith("sdk_live_")
