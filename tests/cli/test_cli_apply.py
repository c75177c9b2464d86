"""``apply SPEC [--dry-run]`` against the served emulator."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import Cli, Served
from rich.console import Console

from exotel_trunking import NotFoundError, ProvisionReport, TrunkSpec
from exotel_trunking._cli._apply import print_report
from exotel_trunking._cli._state import ApplyState

SPEC = """\
name = "tenant_a"
numbers = ["+919876543210", { phone_number = "+919876543211", mode = "flow" }]
ips = ["203.0.113.0/28"]
destinations = ["203.0.113.5:5061;transport=tls", "sip.tenant.example:5061;transport=tls"]
alias = "+919876543210"
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tenant.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_dry_run_of_a_new_spec_lists_everything_and_changes_nothing(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    result = run_cli("apply", str(spec), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Plan for a new trunk (tenant_a)" in result.stdout
    assert "+ destination 203.0.113.5:5061;transport=tls" in result.stdout
    assert "run without --dry-run" in result.stdout
    assert served.emulator.state.trunks == []
    assert served.emulator.requests == []  # a new trunk: nothing to read, nothing sent


def test_apply_creates_the_trunk_then_says_how_to_keep_its_sid(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    result = run_cli("apply", str(spec))
    assert result.exit_code == 0, result.output
    (trunk,) = served.emulator.state.trunks
    assert f'trunk_sid = "{trunk.trunk_sid}"' in result.stdout
    assert f"exotel-trunking credentials {trunk.trunk_sid} --show-password" in result.stdout
    assert trunk.credentials is not None
    assert trunk.credentials.password not in result.output
    assert len(served.emulator.state.destinations(trunk.trunk_sid)) == 2


def test_applied_spec_gives_an_empty_plan_and_a_second_apply_changes_nothing(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    report = run_cli.json("apply", str(spec))
    assert report["trunk_created"] is True
    assert report["changed"] is True
    assert report["credentials"]["password"] == "********"
    sid = report["trunk_sid"]
    spec.write_text(f'trunk_sid = "{sid}"\n' + SPEC, encoding="utf-8")

    plan = run_cli("apply", str(spec), "--dry-run")
    assert plan.exit_code == 0
    assert "nothing to change" in plan.stdout
    assert "+ " not in plan.stdout

    requests = len(served.emulator.requests)
    again = run_cli.json("apply", str(spec))
    assert again["changed"] is False
    assert again["numbers"]["existing"] == ["+919876543210", "+919876543211"]
    new = served.emulator.requests[requests:]
    # Only reads, the alias (which cannot be read back) and nothing else was sent.
    assert {(r.method, r.path.rsplit("/", 1)[-1]) for r in new if r.method != "GET"} == {
        ("POST", "settings")
    }


def test_a_taken_name_without_a_known_sid_exits_4_with_a_hint_to_add_the_sid(
    run_cli: Cli, spec: Path, tmp_path: Path
) -> None:
    run_cli.json("apply", str(spec))
    result = run_cli("apply", str(spec), "--state", str(tmp_path / "elsewhere.json"))
    assert result.exit_code == 4
    assert "ConflictError" in result.stderr
    assert "add that trunk's trunk_sid" in " ".join(result.stderr.split())


def test_trunk_sid_option_overrides_the_spec(run_cli: Cli, served: Served, spec: Path) -> None:
    sid = run_cli.trunk("elsewhere")
    report = run_cli.json("apply", str(spec), "--trunk-sid", sid)
    assert report["trunk_created"] is False
    assert report["trunk_sid"] == sid
    assert len(served.emulator.state.phone_numbers(sid)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "t"\nbogus = 1\n', "bogus"),
        ('numbers = ["+919876543210"]\n', "name"),
        ('name = "t"\nnumbers = ["12"]\n', "numbers[0]"),
        ('name = "t"\nnumbers = "+919876543210"\n', "expected a list"),
        ('name = "t"\nips = ["10.0.0.0/8"]\n', "ips[0]"),
        ("name = \n", "TOML syntax error at line 1, column 8: Invalid value"),
        (
            'name = "t"\nnumbers = [{ mode = "flow" }]\n',
            "line 2: numbers[0]: phone_number is missing",
        ),
        (
            '[[numbers]]\nphone_number = "+919876543210"\n[[numbers]]\nphone_number = "12"\n',
            "line 3: numbers[1]={'phone_number': '12'} is invalid",
        ),
        ('name = "t"\n[extra]\nx = 1\n', "line 2: unknown key 'extra'"),
        (
            'name = "t"\nalias = 919876543210\n',
            "alias = 919876543210 is invalid: expected a string, got an integer",
        ),
    ],
)
def test_an_invalid_spec_exits_2_naming_the_problem(
    run_cli: Cli, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("apply", str(path))
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_missing_spec_file_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    result = run_cli("apply", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_apply_records_the_trunk_in_the_state_file_as_json_says(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    report = run_cli.json("apply", str(spec))
    state_path = spec.with_name("tenant.state.json")
    assert report["state_file"] == str(state_path)
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert state["trunk_sid"] == report["trunk_sid"]
    assert state["trunk_name"] == "tenant_a"
    assert state["counts"]["numbers"]["created"] == 2
    assert set(state) == {
        "about",
        "version",
        "spec",
        "trunk_name",
        "account_sid",
        "trunk_sid",
        "status",
        "phase",
        "counts",
        "updated_at",
    }


def test_state_option_keeps_the_state_where_it_is_asked(
    run_cli: Cli, spec: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "states" / "a.json"
    elsewhere.parent.mkdir()
    first = run_cli.json("apply", str(spec), "--state", str(elsewhere))
    assert not spec.with_name("tenant.state.json").exists()
    again = run_cli.json("apply", str(spec), "--state", str(elsewhere))
    assert (again["trunk_sid"], again["trunk_created"]) == (first["trunk_sid"], False)


def test_dry_run_plans_for_the_state_files_trunk_and_writes_no_state(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    assert run_cli("apply", str(spec), "--dry-run").exit_code == 0
    state_path = spec.with_name("tenant.state.json")
    assert not state_path.exists()
    sid = run_cli.json("apply", str(spec))["trunk_sid"]
    before = state_path.read_text(encoding="utf-8")
    plan = run_cli("apply", str(spec), "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert f"Plan for trunk {sid}" in plan.stdout
    assert state_path.read_text(encoding="utf-8") == before


def test_trunk_sid_option_that_disagrees_with_the_state_file_exits_2(
    run_cli: Cli, spec: Path
) -> None:
    sid = run_cli.json("apply", str(spec))["trunk_sid"]
    other = run_cli.trunk("other")
    result = run_cli("apply", str(spec), "--trunk-sid", other)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"--trunk-sid {other}, but the state file" in message
    assert f"records trunk {sid}" in message


def test_a_state_file_that_is_not_one_exits_2_and_is_left_as_it_was(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    state_path = spec.with_name("tenant.state.json")
    state_path.write_text('{"trunk_sid": "tr1"', encoding="utf-8")
    result = run_cli("apply", str(spec))
    assert result.exit_code == 2
    assert "is not a state file that exotel-trunking apply can read" in result.stderr
    assert state_path.read_text(encoding="utf-8") == '{"trunk_sid": "tr1"'
    assert served.emulator.requests == []


def test_a_state_file_of_another_account_exits_2_before_sending_anything(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    state_path = spec.with_name("tenant.state.json")
    ApplyState("tenant.toml", "tenant_a", account_sid="other", trunk_sid="tr1").write(state_path)
    result = run_cli("apply", str(spec))
    assert result.exit_code == 2
    assert "records trunk tr1 of account other, but this run is for account acme" in " ".join(
        result.stderr.split()
    )
    assert served.emulator.requests == []


def test_a_number_on_another_trunk_is_failed_in_json_and_named_so(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    other = run_cli.trunk("other")
    assert run_cli("numbers", "map", other, "+919876543211").exit_code == 0
    report = run_cli.json("apply", str(spec), expect=1)
    assert report["numbers"]["created"] == ["+919876543210"]
    (failed,) = report["numbers"]["failed"]
    assert failed["item"] == "+919876543211"
    assert failed["on_another_trunk"] is True
    assert failed["held_by"] == other  # the live service names the trunk that holds it
    assert f"is mapped to trunk {other}" in failed["error"]


def test_items_failed_with_one_shared_error_are_one_line_of_the_report() -> None:
    fatal = NotFoundError("trunk not found", status_code=404)
    report = ProvisionReport(spec=TrunkSpec(name="t"), dry_run=False, trunk_sid="tr1")
    report.numbers.created = ["+919876543200"]
    report.numbers.failed = [(f"+9198765432{i:02d}", fatal) for i in range(1, 100)]
    console = Console(file=io.StringIO(), width=200)
    print_report(console, report, sip_server="acme.pstn.exotel.com")
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    lines = [line for line in printed.splitlines() if "trunk not found" in line]
    assert lines == ["failed 99 numbers, all with the same error: 404: trunk not found"]


def test_a_state_files_trunk_that_is_gone_exits_4_saying_to_delete_the_state_file(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    sid = run_cli.json("apply", str(spec))["trunk_sid"]
    served.call(served.emulator.state.delete_trunk, sid)
    result = run_cli("apply", str(spec))
    assert result.exit_code == 4
    message = " ".join(result.stderr.split())
    assert f"records trunk {sid}, which this account does not have" in message
    assert "tenant.state.json and apply again to create a new trunk" in message
