"""``apply SPEC [--dry-run]`` against the served emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Cli, Served

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


def test_applying_a_new_spec_twice_exits_1_with_a_hint_to_record_the_sid(
    run_cli: Cli, spec: Path
) -> None:
    run_cli.json("apply", str(spec))
    result = run_cli("apply", str(spec))
    assert result.exit_code == 1
    assert "ConflictError" in result.stderr
    assert "add its trunk_sid" in result.stderr


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
        ("name = \n", "Invalid value"),
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
