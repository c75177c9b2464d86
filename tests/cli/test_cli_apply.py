"""``apply SPEC [--dry-run]`` against the served emulator."""

from __future__ import annotations

import io
import json
import re
import stat
from pathlib import Path

import pytest
from rich.console import Console

from exotel_trunking import NotFoundError, ProvisionReport, TrunkSpec
from exotel_trunking._cli._apply import print_report
from exotel_trunking._cli._state import ApplyState

from .runner import Cli, Served

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
    # Only the look-up of the trunk by name: a new trunk has nothing more to read.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in served.emulator.requests] == [
        ("GET", "trunks")
    ]


def test_apply_creates_the_trunk_then_says_how_to_keep_its_sid(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    result = run_cli("apply", str(spec))
    assert result.exit_code == 0, result.output
    (trunk,) = served.emulator.state.trunks
    assert f'trunk_sid = "{trunk.trunk_sid}"' in result.stdout
    # The live PBX section: the digest credential's user name, and how to get a password
    # (the service never returns one).
    (issued,) = served.emulator.state.credentials(trunk.trunk_sid)
    pbx = " ".join(result.stdout.split())
    assert f"{issued.user_name}, id {issued.id}" in pbx
    assert f"exotel-trunking credentials rotate {trunk.trunk_sid} {issued.id}" in pbx
    assert "could not read the SIP credentials" not in result.output
    assert trunk.credentials is not None
    assert trunk.credentials.password not in result.output
    assert len(served.emulator.state.destinations(trunk.trunk_sid)) == 2


def test_apply_with_json_prints_a_line_per_phase_on_stderr_and_only_json_on_stdout(
    run_cli: Cli, spec: Path
) -> None:
    result = run_cli("--json", "apply", str(spec))  # CliRunner: no terminal
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changed"] is True
    phases = [line.partition(":")[0] for line in result.stderr.splitlines()]
    assert {"numbers", "ips", "destinations"} <= set(phases), result.stderr


def test_applied_spec_gives_an_empty_plan_and_a_second_apply_changes_nothing(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    report = run_cli.json("apply", str(spec))
    assert report["trunk_created"] is True
    assert report["changed"] is True
    # The live dialect's digest credentials, read without error and never with a password.
    assert (report["credentials"], report["credentials_error"]) == (None, None)
    sid = report["trunk_sid"]
    assert [(c["user_name"], c["password"]) for c in report["trunk_credentials"]] == [(sid, None)]
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


def test_without_a_known_sid_apply_finds_the_trunk_by_name_and_creates_nothing(
    run_cli: Cli, served: Served, spec: Path, tmp_path: Path
) -> None:
    # A trunk of that name made earlier, holding one of the spec's numbers; no state file.
    sid = run_cli.trunk("tenant_a")
    assert run_cli("numbers", "map", sid, "+919876543210").exit_code == 0
    state = tmp_path / "fresh.state.json"
    before = len(served.emulator.requests)

    first = run_cli.json("apply", str(spec), "--state", str(state))
    assert (first["trunk_sid"], first["trunk_found"], first["trunk_created"]) == (sid, True, False)
    assert first["numbers"] == {
        "created": ["+919876543211"],
        "existing": ["+919876543210"],
        "removed": [],
        "updated": [],
        "unreadable": [],
        "failed": [],
    }
    assert json.loads(state.read_text(encoding="utf-8"))["trunk_sid"] == sid

    again = run_cli("apply", str(spec), "--state", str(tmp_path / "another.state.json"))
    assert again.exit_code == 0, again.output
    assert f"trunk_sid: {sid} (trunk tenant_a found by name" in again.stdout
    assert [t.trunk_sid for t in served.emulator.state.trunks] == [sid]  # created nothing
    posts = [r for r in served.emulator.requests[before:] if r.method == "POST"]
    assert posts  # the missing number was mapped...
    assert not any(r.path.endswith("/trunks") for r in posts)  # ...and no trunk created


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


# -- converging: --prune, SIP credentials ----------------------------------------------------

EXTRAS = {
    "numbers": "+919876543299",
    "ips": "192.0.2.1/32",
    "destinations": "x.example:5060",
    "credentials": "old_agent",
}


def _put_extras(run_cli: Cli, sid: str) -> None:
    """One item of each kind on the trunk that the spec does not list."""
    for command in (
        ["numbers", "map", sid, EXTRAS["numbers"]],
        ["ips", "add", sid, EXTRAS["ips"]],
        ["destinations", "add", sid, EXTRAS["destinations"]],
        ["credentials", "create", sid, EXTRAS["credentials"], "--show-password"],
    ):
        assert run_cli(*command).exit_code == 0, command


def test_apply_prune_dry_run_lists_exactly_the_extra_items_and_prune_removes_them(
    run_cli: Cli, served: Served, spec: Path, tmp_path: Path
) -> None:
    spec.write_text(SPEC + 'credentials = ["agent"]\n', encoding="utf-8")
    passwords = tmp_path / "passwords"
    sid = run_cli.json("apply", str(spec), "--password-file", str(passwords))["trunk_sid"]
    _put_extras(run_cli, sid)
    state = served.emulator.state
    # The credential the emulator issues with each trunk (user name = the sid) is not in
    # the spec either.
    extra_credentials = [sid, EXTRAS["credentials"]]

    plan = run_cli("apply", str(spec), "--dry-run", "--prune")
    assert plan.exit_code == 0, plan.output
    removals = [line.strip() for line in plan.stdout.splitlines() if line.strip()[:2] == "- "]
    assert removals[:3] == [
        f"- number {EXTRAS['numbers']}",
        f"- ip {EXTRAS['ips']}",
        f"- destination {EXTRAS['destinations']}",
    ]
    assert sorted(removals[3:]) == sorted(f"- credential {name}" for name in extra_credentials)
    assert "+ " not in plan.stdout
    planned = run_cli.json("apply", str(spec), "--dry-run", "--prune")
    assert [planned[part]["removed"] for part in ("numbers", "ips", "destinations")] == [
        [EXTRAS["numbers"]],
        [EXTRAS["ips"]],
        [EXTRAS["destinations"]],
    ]
    assert sorted(planned["sip_credentials"]["removed"]) == sorted(extra_credentials)
    assert len(state.phone_numbers(sid)) == 3  # a plan removes nothing

    assert run_cli.json("apply", str(spec))["changed"] is False  # never without --prune
    pruned = run_cli.json("apply", str(spec), "--prune")
    assert pruned["ok"] is True
    assert pruned["ips"]["removed"] == [EXTRAS["ips"]]
    assert sorted(n.phone_number for n in state.phone_numbers(sid)) == [
        "+919876543210",
        "+919876543211",
    ]
    assert [f"{w.ip}/{w.mask}" for w in state.whitelisted_ips(sid)] == ["203.0.113.0/28"]
    assert len(state.destinations(sid)) == 2
    assert [c.user_name for c in state.credentials(sid)] == ["agent"]
    assert run_cli.json("apply", str(spec), "--prune")["changed"] is False


def test_dry_run_warns_that_a_password_env_is_unset_and_still_plans(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    spec.write_text(
        SPEC + 'credentials = [{ user_name = "pbx", password_env = "PBX_PASSWORD" }]\n',
        encoding="utf-8",
    )
    unset = run_cli("apply", str(spec), "--dry-run", PBX_PASSWORD=None)
    planned = run_cli("--json", "apply", str(spec), "--dry-run", PBX_PASSWORD=None)
    given = run_cli("apply", str(spec), "--dry-run", PBX_PASSWORD="Pbx-passw0rd-from-env")

    assert unset.exit_code == 0
    warning = " ".join(unset.stderr.split())
    assert "PBX_PASSWORD" in warning
    assert "without --dry-run stops here (exit 2)" in warning
    assert "pbx" in unset.stdout  # the plan is still shown
    assert planned.exit_code == 0
    assert json.loads(planned.stdout)["dry_run"] is True  # JSON on stdout, the warning on stderr
    assert "PBX_PASSWORD" in planned.stderr
    assert (given.exit_code, "warning" in given.stderr) == (0, False)
    assert served.emulator.state.trunks == []


def test_apply_hands_a_generated_password_over_once_and_never_in_json_or_state(
    run_cli: Cli, served: Served, spec: Path, tmp_path: Path
) -> None:
    spec.write_text(
        SPEC + 'credentials = ["agent", { user_name = "pbx", password_env = "PBX_PASSWORD" }]\n',
        encoding="utf-8",
    )
    given = "Pbx-passw0rd-from-env"
    refused = run_cli("apply", str(spec), PBX_PASSWORD=given)  # nowhere to hand it over
    assert refused.exit_code == 2
    assert "--password-file PATH" in " ".join(refused.stderr.split())
    unset = run_cli("apply", str(spec), "--show-password", PBX_PASSWORD=None)
    assert unset.exit_code == 2
    assert "PBX_PASSWORD" in unset.stderr
    assert served.emulator.state.trunks == []
    assert {r.method for r in served.emulator.requests} <= {"GET"}  # looked, changed nothing

    file = tmp_path / "tenant.passwords"
    result = run_cli("--json", "apply", str(spec), "--password-file", str(file), PBX_PASSWORD=given)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    sid = report["trunk_sid"]
    stored = {c.user_name: c.password for c in served.emulator.state.credentials(sid)}
    assert stored["pbx"] == given
    assert file.read_text(encoding="utf-8") == f"agent:{stored['agent']}\n"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert report["sip_credentials"]["created"] == ["agent", "pbx"]
    created = [(c["user_name"], c["password"]) for c in report["created_credentials"]]
    assert created == [("agent", "********"), ("pbx", None)]
    assert report["password_file"] == str(file)
    state_text = spec.with_name("tenant.state.json").read_text(encoding="utf-8")
    for secret in (stored["agent"], given):
        assert secret not in result.output
        assert secret not in state_text

    # Both are on the trunk now: nothing would be generated, so no flag is needed.
    again = run_cli("apply", str(spec), PBX_PASSWORD=given)
    assert again.exit_code == 0, again.output
    assert "New password" not in again.stdout  # left as they are: nothing generated
    assert stored["agent"] not in again.output
    assert {c.user_name: c.password for c in served.emulator.state.credentials(sid)} == stored


def test_apply_show_password_prints_a_new_password_once(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    spec = tmp_path / "bot.toml"
    spec.write_text('name = "bot"\ncredentials = ["agent"]\n', encoding="utf-8")
    result = run_cli("apply", str(spec), "--show-password")
    assert result.exit_code == 0, result.output
    (trunk,) = served.emulator.state.trunks
    (password,) = [
        c.password
        for c in served.emulator.state.credentials(trunk.trunk_sid)
        if c.user_name == "agent"
    ]
    assert result.output.count(str(password)) == 1
    assert f"New password of agent (shown once: keep it now): {password}" in result.stdout
    assert "agent, id" in " ".join(result.stdout.split())  # the PBX section names it


def test_the_readmes_voice_ai_spec_applies_end_to_end_with_no_ip_whitelist(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    marker = readme.index("<!-- voice-ai-apply -->")
    block = re.search(r"```toml\n(.*?)^```", readme[marker:], re.DOTALL | re.MULTILINE)
    assert block is not None, "no ```toml block after <!-- voice-ai-apply -->"
    spec = tmp_path / "tenant_42.toml"
    spec.write_text(block.group(1), encoding="utf-8")
    password_file = tmp_path / "tenant_42.password"

    plan = run_cli("apply", str(spec), "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "+ credential tenant_42_agent" in plan.stdout
    applied = run_cli("apply", str(spec), "--password-file", str(password_file))
    assert applied.exit_code == 0, applied.output

    (trunk,) = served.emulator.state.trunks
    sid = trunk.trunk_sid
    assert served.emulator.state.whitelisted_ips(sid) == []
    (agent,) = [c for c in served.emulator.state.credentials(sid) if c.user_name != sid]
    assert (agent.user_name, agent.friendly_name) == ("tenant_42_agent", "voice agent")
    assert password_file.read_text(encoding="utf-8") == f"tenant_42_agent:{agent.password}\n"
    assert str(agent.password) not in applied.output
    again = run_cli.json("apply", str(spec))
    assert again["changed"] is False


def test_apply_with_one_more_credential_keeps_the_earlier_passwords_in_the_password_file(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    spec = tmp_path / "tenant.toml"
    passwords = tmp_path / "passwords.txt"
    spec.write_text('name = "tenant_a"\ncredentials = ["agent"]\n', encoding="utf-8")
    assert run_cli("apply", str(spec), "--password-file", str(passwords)).exit_code == 0
    # A second credential is added to the spec; the same command is run again.
    spec.write_text('name = "tenant_a"\ncredentials = ["agent", "pbx"]\n', encoding="utf-8")
    again = run_cli("apply", str(spec), "--password-file", str(passwords))
    assert again.exit_code == 0, again.output

    (trunk,) = served.emulator.state.trunks
    stored = {c.user_name: c.password for c in served.emulator.state.credentials(trunk.trunk_sid)}
    assert passwords.read_text(encoding="utf-8") == (
        f"agent:{stored['agent']}\npbx:{stored['pbx']}\n"
    )
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_state_file_recording_a_trunk_of_another_name_exits_2_before_anything_is_sent(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    spec = tmp_path / "tenant.toml"
    spec.write_text('name = "tenant_a"\nnumbers = ["+919876543210"]\n', encoding="utf-8")
    sid_a = run_cli.json("apply", str(spec))["trunk_sid"]
    # The file is reused as a template for another tenant: only the name and numbers change.
    spec.write_text('name = "tenant_b"\nnumbers = ["+919876543212"]\n', encoding="utf-8")
    sent = len(served.emulator.requests)

    for flags in ((), ("--prune",), ("--dry-run", "--prune")):
        refused = run_cli("apply", str(spec), *flags)
        assert refused.exit_code == 2, (flags, refused.output)
        message = " ".join(refused.stderr.split())
        assert '"tenant_a"' in message
        assert '"tenant_b"' in message
        assert sid_a in message
        assert "--state PATH" in message
    assert served.emulator.requests[sent:] == []
    assert served.numbers(sid_a) == ["+919876543210"]

    fresh = run_cli.json("apply", str(spec), "--state", str(tmp_path / "b.state.json"))
    assert fresh["trunk_sid"] != sid_a
    assert served.numbers(sid_a) == ["+919876543210"]


def test_apply_prune_refuses_a_trunk_sid_of_a_trunk_named_otherwise(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    other = run_cli.trunk("tenant_b")
    assert run_cli("numbers", "map", other, "+919876543299").exit_code == 0
    sent = len(served.emulator.requests)

    refused = run_cli("apply", str(spec), "--trunk-sid", other, "--prune")

    assert refused.exit_code == 2, refused.output
    assert "'tenant_b', not the spec's 'tenant_a'" in " ".join(refused.stderr.split())
    assert [r.method for r in served.emulator.requests[sent:]] == ["GET"]
    assert served.numbers(other) == ["+919876543299"]


def test_apply_brings_a_numbers_mode_to_the_specs_and_the_plan_shows_it(
    run_cli: Cli, served: Served, spec: Path
) -> None:
    sid = run_cli.json("apply", str(spec))["trunk_sid"]
    spec.write_text(SPEC.replace('mode = "flow"', 'mode = "pstn"'), encoding="utf-8")

    plan = run_cli("apply", str(spec), "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "~ number +919876543211" in plan.stdout
    applied = run_cli.json("apply", str(spec))
    assert applied["numbers"]["updated"] == ["+919876543211"]
    assert applied["changed"] is True
    modes = {r.phone_number: r.mode for r in served.emulator.state.phone_numbers(sid)}
    assert modes["+919876543211"] == "pstn"
    assert run_cli.json("apply", str(spec))["changed"] is False
