"""Each subcommand through ``cli``, against an emulator served on 127.0.0.1."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from exotel_trunking._cli._app import Settings, parse_rate_limit
from exotel_trunking._cli._commands import cli
from exotel_trunking._transport import RateLimit
from exotel_trunking.emulator import Emulator

from .runner import KEY, SID, TOKEN, Cli, Served, lines_of

SUBCOMMANDS = [
    ["trunks", "create"],
    ["trunks", "delete"],
    ["numbers", "map"],
    ["numbers", "list"],
    ["numbers", "import"],
    ["ips", "add"],
    ["ips", "list"],
    ["ips", "import"],
    ["destinations", "add"],
    ["destinations", "list"],
    ["credentials"],
    ["trunks", "list"],
    ["trunks", "find"],
    ["numbers", "remove"],
    ["numbers", "where"],
    ["ips", "remove"],
    ["destinations", "remove"],
    ["credentials", "show"],
    ["credentials", "list"],
    ["credentials", "create"],
    ["credentials", "rotate"],
    ["credentials", "delete"],
    ["alias", "set"],
    ["apply"],
    ["demo"],
]


# -- help ---------------------------------------------------------------------------------


def test_top_level_help_names_every_command_the_configuration_and_the_exit_codes(
    run_cli: Cli,
) -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    for name in ("trunks", "numbers", "ips", "destinations", "credentials", "alias", "apply"):
        assert f"  {name} " in result.stdout
    assert "EXOTEL_API_TOKEN" in result.stdout
    assert "3 authentication" in result.stdout
    # No command's one-line summary is cut off with "..." at 80 columns.
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands


GROUPS = [[], ["trunks"], ["numbers"], ["ips"], ["destinations"], ["credentials"], ["alias"]]


@pytest.mark.parametrize("path", GROUPS, ids=lambda path: " ".join(path) or "top")
def test_no_group_help_line_is_cut_or_wider_than_80_columns(run_cli: Cli, path: list[str]) -> None:
    result = run_cli(*path, "--help")
    assert result.exit_code == 0, result.output
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands  # click's cut of a long summary
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(command, click.Group):
        return [
            leaf for name, sub in command.commands.items() for leaf in _leaves(sub, (*path, name))
        ]
    return [path]


@pytest.mark.parametrize("path", _leaves(cli), ids=" ".join)
def test_every_subcommand_takes_the_global_options_after_it(path: tuple[str, ...]) -> None:
    with cli.make_context("exotel-trunking", ["--help"], resilient_parsing=True) as ctx:
        args = [*path, "ARG", "--json", "--base-url", "http://127.0.0.1:9"]
        hoisted = cli._hoist(ctx, args)
    assert hoisted == ["--json", "--base-url", "http://127.0.0.1:9", *path, "ARG"]


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help_that_fits_80_columns(run_cli: Cli, path: list[str]) -> None:
    result = run_cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: cli {' '.join(path)} ")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_version_names_the_package(run_cli: Cli) -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("exotel-trunking, version ")


def test_emulator_help_is_the_emulators_own_with_how_to_use_it(run_cli: Cli) -> None:
    result = run_cli("emulator", "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: cli emulator [OPTIONS]")  # in process: "cli"
    assert "--port PORT" in result.stdout
    assert "[default: emulator-key]" in result.stdout
    assert "exotel-trunking numbers import <trunk_sid> numbers.csv" in result.stdout


def test_a_missing_argument_is_a_usage_error_with_exit_code_2(run_cli: Cli) -> None:
    result = run_cli("numbers", "map", "trsid")
    assert result.exit_code == 2
    assert "Missing argument 'PHONE_NUMBER'" in result.stderr


# -- trunks -------------------------------------------------------------------------------


def test_trunks_create_shows_the_whole_sid_at_80_columns(run_cli: Cli, served: Served) -> None:
    result = run_cli("trunks", "create", "acme_main")
    assert result.exit_code == 0, result.output
    (trunk,) = served.emulator.state.trunks
    assert trunk.trunk_sid in result.stdout  # not cut with an ellipsis
    assert "acme_main" in result.stdout


def test_trunks_create_json_is_the_trunk_record_alone_on_stdout(run_cli: Cli) -> None:
    data = run_cli.json("trunks", "create", "acme_main", "--nso-code", "ANY-ANY")
    assert data["trunk_name"] == "acme_main"
    assert data["domain_name"] == "acme.pstn.exotel.com"
    assert data["trunk_sid"].startswith("tr")
    assert data["date_created"].endswith("+00:00")


def test_trunks_create_with_a_taken_name_exits_4(run_cli: Cli) -> None:
    run_cli.trunk("acme_main")
    result = run_cli("trunks", "create", "acme_main")
    assert result.exit_code == 4  # the trunk itself is in conflict
    assert "ConflictError" in result.stderr
    assert result.stdout == ""


def test_trunks_create_with_an_invalid_name_exits_2_without_a_request(
    run_cli: Cli, served: Served
) -> None:
    result = run_cli("trunks", "create", "no spaces allowed")
    assert result.exit_code == 2
    assert "trunk_name" in result.stderr
    assert served.emulator.counters.total == 0


def test_trunks_delete_with_yes_deletes_the_trunk(run_cli: Cli, served: Served) -> None:
    sid = run_cli.trunk()
    assert run_cli.json("trunks", "delete", sid, "--yes") == {"deleted": sid}
    assert served.emulator.state.trunks == []


def test_trunks_delete_asks_first_and_keeps_the_trunk_when_refused(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    result = run_cli("trunks", "delete", sid, input="n\n")
    assert result.exit_code == 130  # cancelled by the user: not "some items failed"
    assert f"Delete trunk {sid}" in result.stderr
    assert len(served.emulator.state.trunks) == 1
    result = run_cli("trunks", "delete", sid, input="y\n")
    assert result.exit_code == 0
    assert f"Deleted trunk {sid}." in result.stdout


def test_ctrl_c_in_any_command_exits_130_not_1(
    run_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("exotel_trunking._cli._commands.run", interrupted)
    result = run_cli("numbers", "list", "trsid")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert "Aborted!" not in result.stderr


# -- numbers, IPs, destinations --------------------------------------------------------------


def test_numbers_map_then_list_shows_the_number(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    mapped = run_cli.json("numbers", "map", sid, "+91 98765-43210", "--mode", "flow")
    assert mapped["phone_number"] == "+919876543210"
    listed = run_cli.json("numbers", "list", sid)
    assert [n["phone_number"] for n in listed] == ["+919876543210"]
    human = run_cli("numbers", "list", sid)
    assert human.exit_code == 0
    assert f"Numbers on {sid}: 1" in human.stdout
    assert "+919876543210" in human.stdout


def test_numbers_map_refuses_a_bad_number_with_exit_2_before_any_request(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    started = served.emulator.clock()
    result = run_cli("numbers", "map", sid, "12345")
    assert result.exit_code == 2
    assert "E.164" in result.stderr
    assert served.arrived_since(started) == []


def test_ips_add_accepts_a_cidr_and_list_shows_it(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    added = run_cli.json("ips", "add", sid, "203.0.113.0/28")
    assert (added["ip"], added["mask"]) == ("203.0.113.0", 28)
    listed = run_cli.json("ips", "list", sid)
    assert [(i["ip"], i["mask"]) for i in listed] == [("203.0.113.0", 28)]


def test_ips_add_refuses_a_private_address_with_exit_2(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    result = run_cli("ips", "add", sid, "10.0.0.1")
    assert result.exit_code == 2
    assert "public" in result.stderr


def test_destinations_add_reports_each_as_created_then_as_existing(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    wanted = ["sip:PBX.acme.example:5061;transport=tls", "pbx2.acme.example:5060;transport=tcp"]
    first = run_cli.json("destinations", "add", sid, *wanted)
    assert [(r["destination"], r["status"]) for r in first] == [
        ("pbx.acme.example:5061;transport=tls", "created"),
        ("pbx2.acme.example:5060;transport=tcp", "created"),
    ]
    assert all(r["id"] for r in first)
    again = run_cli("destinations", "add", sid, *wanted)
    assert again.exit_code == 0, again.output
    assert again.stdout.count("exists") == 2
    listed = run_cli.json("destinations", "list", sid)
    assert len(listed) == 2


def test_destinations_add_exits_1_for_an_ip_that_is_not_whitelisted(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    rows = run_cli.json(
        "destinations",
        "add",
        sid,
        "pbx.acme.example:5061;transport=tls",
        "203.0.113.5:5061;transport=tls",
        expect=1,
    )
    assert [r["status"] for r in rows] == ["created", "failed"]
    assert rows[1]["error"]


def test_destinations_add_refuses_a_malformed_destination_with_exit_2(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    result = run_cli("destinations", "add", sid, "203.0.113.5:5061;transport=sctp")
    assert result.exit_code == 2
    assert "transport" in result.stderr


# -- credentials and alias ----------------------------------------------------------------------


def test_credentials_show_lists_the_live_digest_credentials_and_never_a_password(
    run_cli: Cli, served: Served
) -> None:
    # The live service never returns a digest credential's password, so --show-password
    # cannot show one (the reference's pair, which it does show: the test of masking below).
    sid = run_cli.trunk()
    password = served.emulator.state.get_credentials(sid).password  # type: ignore[union-attr]
    shown = run_cli("credentials", "show", sid, "--show-password")
    assert shown.exit_code == 0, shown.output
    assert sid in shown.stdout  # the issued credential's user name is the trunk sid
    assert password not in shown.output
    assert f"credentials rotate {sid} CREDENTIAL_ID" in " ".join(shown.stderr.split())
    listed = run_cli.json("credentials", "show", sid, "--show-password")
    assert [(c["user_name"], c["password"]) for c in listed] == [(sid, None)]
    # The form from before 'show' existed still works, and says what it is now.
    old = run_cli("credentials", sid)
    assert old.exit_code == 0
    assert sid in old.stdout
    assert f"'credentials {sid}' is now 'credentials show {sid}'" in old.stderr
    # A mistyped subcommand followed by a sid is named as such, not taken for the old form.
    typo = run_cli("credentials", "lst", sid)
    assert typo.exit_code == 2
    assert "No such command 'lst'" in typo.stderr
    assert "is now" not in typo.stderr


def test_alias_set_sets_the_trunks_caller_id(run_cli: Cli, served: Served) -> None:
    sid = run_cli.trunk()
    data = run_cli.json("alias", "set", sid, "+919876543210")
    assert data["value"] == "+919876543210"
    (setting,) = served.emulator.state.settings(sid)
    assert setting.value == "+919876543210"


# -- configuration, authentication and errors -----------------------------------------------------


def test_missing_credentials_exit_2_with_a_hint_naming_the_variables(run_cli: Cli) -> None:
    result = run_cli("numbers", "list", "trsid", EXOTEL_API_TOKEN=None)
    assert result.exit_code == 2
    assert "api_token is missing" in result.stderr
    assert "EXOTEL_API_TOKEN" in result.stderr
    assert "exotel-trunking emulator" in result.stderr


def test_plain_http_to_a_remote_host_exits_2(run_cli: Cli) -> None:
    result = run_cli("--base-url", "http://api.example.com", "numbers", "list", "trsid")
    assert result.exit_code == 2
    assert "https://" in result.stderr


def test_flags_override_the_environment(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    # A wrong key in a flag beats the right one in the environment...
    refused = run_cli("--api-key", "wrong-key", "numbers", "list", sid)
    assert refused.exit_code == 3
    assert "AuthenticationError" in refused.stderr
    # ...and the right key in a flag beats a wrong one in the environment.
    listed = run_cli("--api-key", KEY, "numbers", "list", sid, EXOTEL_API_KEY="wrong-key")
    assert listed.exit_code == 0, listed.output


def test_a_wrong_token_exits_3_and_the_token_is_never_echoed(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    result = run_cli("numbers", "list", sid, EXOTEL_API_TOKEN="wrong-token-s3cret")
    assert result.exit_code == 3
    assert "AuthenticationError" in result.stderr
    assert "EXOTEL_API_TOKEN" in result.stderr  # the hint
    assert "s3cret" not in result.output
    assert TOKEN not in result.output


def test_json_errors_are_one_json_object_on_stdout(run_cli: Cli) -> None:
    result = run_cli("--json", "numbers", "list", "trsid", EXOTEL_API_TOKEN="wrong")
    assert result.exit_code == 3
    error = json.loads(result.stdout)
    assert error["error"] == "AuthenticationError"
    assert error["exit_code"] == 3
    assert "hint" in error
    assert KEY not in result.stdout  # the key is not echoed either


def test_an_unknown_trunk_exits_4_with_a_hint(run_cli: Cli) -> None:
    result = run_cli("numbers", "list", "trnosuch")
    assert result.exit_code == 4
    assert "NotFoundError" in result.stderr
    assert "hint: no such trunk on this account" in result.stderr


def test_error_messages_are_printed_verbatim_not_as_rich_markup(run_cli: Cli) -> None:
    result = run_cli("numbers", "list", "trnosuch")
    # The API path is written in square brackets, which rich would take for a style.
    assert "[GET /v2/accounts/acme/trunks/trnosuch/phone-numbers]" in result.stderr


# -- rate limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("off", False),
        ("OFF", False),
        ("200/60", RateLimit(200, 60.0)),
        ("10/1/3", RateLimit(10, 1.0, 3)),
        ("5/0.5", RateLimit(5, 0.5)),
    ],
)
def test_rate_limit_option_parses_calls_per_seconds_or_off(
    text: str | None, expected: object
) -> None:
    assert parse_rate_limit(None, None, text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["fast", "200", "0/60", "200/0", "2.5/1", "1/2/3/4"])
def test_rate_limit_option_refuses_anything_else_with_exit_2(run_cli: Cli, text: str) -> None:
    result = run_cli("--rate-limit", text, "numbers", "list", "trsid")
    assert result.exit_code == 2
    assert "CALLS/SECONDS" in result.stderr


def test_pacing_defaults_to_exotels_limit_but_is_off_for_a_loopback_emulator() -> None:
    assert Settings(base_url=None).pacing() is True  # the SDK's default, 200/60
    assert Settings(base_url="https://api.in.exotel.com").pacing() is True
    assert Settings(base_url="http://127.0.0.1:4010").pacing() is None
    assert Settings(base_url="http://localhost:4010").pacing() is None
    assert Settings(base_url="http://127.0.0.1:4010", rate_limit=RateLimit(5, 1.0)).pacing() == (
        RateLimit(5, 1.0)
    )
    assert Settings(base_url="https://api.in.exotel.com", rate_limit=False).pacing() is None


def test_output_lines_fit_80_columns(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    run_cli.json(
        "destinations",
        "add",
        sid,
        "a-rather-long-pbx-host-name.tenant.example.com:5061;transport=tls",
    )
    result = run_cli("destinations", "list", sid)
    assert max(len(line) for line in lines_of(result.stdout)) <= 80
    assert "a-rather-long-pbx-host-name" in result.stdout


# -- trunks list|find, numbers where, removals ------------------------------------------------


def test_trunks_list_names_every_trunk_and_find_exits_4_for_a_name_no_trunk_has(
    run_cli: Cli,
) -> None:
    alpha, beta = run_cli.trunk("alpha"), run_cli.trunk("beta")
    listed = run_cli.json("trunks", "list")
    assert sorted((t["trunk_name"], t["trunk_sid"]) for t in listed) == [
        ("alpha", alpha),
        ("beta", beta),
    ]
    assert run_cli.json("trunks", "find", "beta")["trunk_sid"] == beta
    assert beta in run_cli("trunks", "find", "beta").stdout
    missing = run_cli("trunks", "find", "gamma")
    assert missing.exit_code == 4
    assert "no trunk of this account is called 'gamma'" in missing.stderr
    assert "trunks list" in missing.stderr
    assert run_cli("trunks", "find", "no spaces").exit_code == 2


def test_numbers_where_names_the_trunk_that_holds_a_number_or_none(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    assert run_cli("numbers", "map", sid, "+919876543210").exit_code == 0
    held = run_cli.json("numbers", "where", "+91 98765 43210")
    assert (held["phone_number"], held["trunk_sid"]) == ("+919876543210", sid)
    assert f"+919876543210 is on trunk {sid}" in run_cli("numbers", "where", "+919876543210").stdout
    free = run_cli.json("numbers", "where", "+919876543211")
    assert free == {"phone_number": "+919876543211", "trunk_sid": None}
    assert run_cli("numbers", "where", "12").exit_code == 2


def test_numbers_ips_and_destinations_remove_take_the_item_off_the_trunk(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    run_cli.json("numbers", "map", sid, "+919876543210")
    run_cli.json("ips", "add", sid, "203.0.113.0/28")
    run_cli.json("destinations", "add", sid, "sip.tenant.example:5061;transport=tls")

    number = run_cli.json("numbers", "remove", sid, "+91 98765 43210")
    entry = run_cli.json("ips", "remove", sid, "203.0.113.0/28")
    destination = run_cli("destinations", "remove", sid, "sip.tenant.example:5061;transport=tls")

    assert number["phone_number"] == "+919876543210"
    assert (entry["ip"], entry["mask"]) == ("203.0.113.0", 28)
    assert destination.exit_code == 0, destination.output
    assert "Destination removed" in destination.stdout
    state = served.emulator.state
    assert (state.phone_numbers(sid), state.whitelisted_ips(sid), state.destinations(sid)) == (
        [],
        [],
        [],
    )


@pytest.mark.parametrize(
    "command",
    [
        ["numbers", "remove", "{sid}", "+919876543210"],
        ["ips", "remove", "{sid}", "203.0.113.5"],
        ["destinations", "remove", "{sid}", "x.example:5060"],
        ["credentials", "delete", "{sid}", "999", "--yes"],
        ["credentials", "rotate", "{sid}", "999", "--show-password"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_an_item_the_trunk_does_not_hold_exits_1_and_an_unknown_trunk_exits_4(
    run_cli: Cli, command: list[str]
) -> None:
    sid = run_cli.trunk()
    absent = run_cli(*(word.format(sid=sid) for word in command))
    assert absent.exit_code == 1, absent.output
    assert "NotOnTrunkError" in absent.stderr
    unknown = run_cli(*(word.format(sid="trnosuchtrunk") for word in command))
    assert unknown.exit_code == 4, unknown.output
    assert "NotFoundError" in unknown.stderr


# -- credentials: a new password once, where asked, and nowhere else -------------------------


def _stored(served: Served, sid: str, user_name: str) -> str:
    """The password the emulator keeps for ``user_name`` (the service never returns it)."""
    (found,) = [c for c in served.emulator.state.credentials(sid) if c.user_name == user_name]
    return str(found.password)


def test_credentials_create_refuses_a_generated_password_it_could_not_hand_over(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    before = len(served.emulator.requests)
    refused = run_cli("credentials", "create", sid, "agent")
    assert refused.exit_code == 2
    assert "--password-file PATH" in " ".join(refused.stderr.split())
    assert served.emulator.requests[before:] == []  # nothing was sent


def test_credentials_create_shows_a_generated_password_once_only_when_asked(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    shown = run_cli("credentials", "create", sid, "agent", "--show-password")
    assert shown.exit_code == 0, shown.output
    password = _stored(served, sid, "agent")
    assert f"password: {password}" in shown.stdout
    data = run_cli.json("credentials", "create", sid, "bot", "--show-password")
    assert data["password"] == _stored(served, sid, "bot")
    listed = run_cli("--json", "credentials", "list", sid)
    assert {c["user_name"] for c in json.loads(listed.stdout)} == {sid, "agent", "bot"}
    assert password not in listed.output
    assert password not in run_cli("credentials", "list", sid).output


def test_a_password_file_is_readable_by_its_owner_only_and_json_never_holds_the_password(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    path = tmp_path / "agent.password"
    data = run_cli.json("credentials", "create", sid, "agent", "--password-file", str(path))
    password = _stored(served, sid, "agent")
    assert (data["password"], data["password_file"]) == ("********", str(path))
    assert password not in json.dumps(data)
    assert path.read_text(encoding="utf-8") == f"agent:{password}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    rotated = run_cli("credentials", "rotate", sid, data["id"], "--password-file", str(path))
    assert rotated.exit_code == 0, rotated.output
    new = _stored(served, sid, "agent")
    assert new != password
    assert new not in rotated.output
    assert f"written to {path}" in " ".join(rotated.stdout.split())
    assert path.read_text(encoding="utf-8") == f"agent:{new}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_password_file_that_cannot_be_written_exits_2_before_anything_is_sent(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    before = len(served.emulator.requests)
    nowhere = tmp_path / "no" / "such" / "folder" / "pw"
    refused = run_cli("credentials", "create", sid, "agent", "--password-file", str(nowhere))
    assert refused.exit_code == 2
    assert "cannot write a file there" in refused.stderr
    assert served.emulator.requests[before:] == []


def test_credentials_create_takes_a_password_from_a_variable_and_never_echoes_it(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    given = "Pbx-passw0rd-from-env"
    result = run_cli(
        "--json",
        "credentials",
        "create",
        sid,
        "pbx",
        "--friendly-name",
        "Office PBX",
        "--password-env",
        "PBX_SIP_PASSWORD",
        "--show-password",
        PBX_SIP_PASSWORD=given,
    )
    assert result.exit_code == 0, result.output
    assert _stored(served, sid, "pbx") == given
    assert given not in result.output
    assert json.loads(result.stdout)["friendly_name"] == "Office PBX"
    unset = run_cli("credentials", "create", sid, "pbx2", "--password-env", "NO_SUCH_VARIABLE")
    assert unset.exit_code == 2
    assert "NO_SUCH_VARIABLE" in unset.stderr


def test_credentials_rotate_needs_somewhere_to_hand_the_password_and_delete_asks_first(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    created = run_cli.json("credentials", "create", sid, "agent", "--show-password")
    assert run_cli("credentials", "rotate", sid, created["id"]).exit_code == 2
    assert _stored(served, sid, "agent") == created["password"]  # not rotated

    declined = run_cli("credentials", "delete", sid, created["id"], input="n\n")
    assert declined.exit_code == 130
    deleted = run_cli.json("credentials", "delete", sid, created["id"], "--yes")
    assert (deleted["user_name"], deleted["password"]) == ("agent", None)
    assert [c.user_name for c in served.emulator.state.credentials(sid)] == [sid]


# -- the reference dialect: the {username, password} pair, and no trunk listing ---------------


@pytest.fixture(scope="module")
def _reference_served(_served: Served) -> Iterator[Served]:
    emulator = Emulator(KEY, TOKEN, SID, dialect="reference", seed=0)
    with _served.portal.wrap_async_context_manager(emulator.serve()) as url:
        yield Served(emulator, url, _served.portal)


@pytest.fixture
def reference_cli(_reference_served: Served, run_cli: Cli) -> Cli:
    """``run_cli``, against an emulator of the reference dialect (emptied for the test)."""
    _reference_served.call(_reference_served.emulator.reset)
    return Cli(_reference_served, {**run_cli.env, "EXOTEL_BASE_URL": _reference_served.url})


def test_the_reference_pairs_password_is_masked_unless_asked(reference_cli: Cli) -> None:
    sid = reference_cli.trunk()
    pair = reference_cli.served.emulator.state.get_credentials(sid)
    assert pair is not None
    masked = reference_cli("credentials", "show", sid)
    assert masked.exit_code == 0
    assert f"username: {sid}" in masked.stdout
    assert pair.password not in masked.output
    assert "--show-password" in masked.stderr
    assert reference_cli.json("credentials", "show", sid) == {
        "username": sid,
        "password": "********",
    }
    shown = reference_cli.json("credentials", sid, "--show-password")  # the old form too
    assert shown == {"username": sid, "password": pair.password}


def test_apply_where_trunks_cannot_be_listed_exits_4_for_a_taken_name_with_a_hint(
    reference_cli: Cli, tmp_path: Path
) -> None:
    spec = tmp_path / "tenant.toml"
    spec.write_text('name = "tenant_a"\n', encoding="utf-8")
    reference_cli.trunk("tenant_a")
    result = reference_cli("apply", str(spec))
    assert result.exit_code == 4
    message = " ".join(result.stderr.split())
    assert "ConflictError" in message
    assert "cannot list trunks" in message
    assert "add that trunk's trunk_sid" in message
    listing = reference_cli("trunks", "list")
    assert listing.exit_code == 1
    assert "cannot list trunks" in " ".join(listing.stderr.split())


@pytest.mark.parametrize(
    "command",
    [
        ["numbers", "where", "+919876543210"],
        ["numbers", "remove", "{sid}", "+919876543210"],
        ["credentials", "create", "{sid}", "agent", "--show-password"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_live_only_call_on_the_reference_dialect_exits_1_with_a_hint_naming_the_dialect(
    reference_cli: Cli, command: list[str]
) -> None:
    sid = reference_cli.trunk()
    assert reference_cli("numbers", "map", sid, "+919876543210").exit_code == 0
    result = reference_cli(*(word.format(sid=sid) for word in command))
    assert result.exit_code == 1, result.output  # not 4: the trunk is there
    message = " ".join(result.stderr.split())
    assert "no such call" in message
    assert "--dialect live" in message
    assert "no such trunk" not in message


def test_a_password_file_keeps_other_users_lines_and_rotate_replaces_only_its_own(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    path = tmp_path / "passwords"
    path.write_text("# kept as it is\n", encoding="utf-8")
    agent = run_cli.json("credentials", "create", sid, "agent", "--password-file", str(path))
    run_cli.json("credentials", "create", sid, "bot", "--password-file", str(path))
    first = _stored(served, sid, "agent")

    rotated = run_cli("credentials", "rotate", sid, agent["id"], "--password-file", str(path))
    assert rotated.exit_code == 0, rotated.output

    new = _stored(served, sid, "agent")
    assert new != first
    assert path.read_text(encoding="utf-8") == (
        f"# kept as it is\nagent:{new}\nbot:{_stored(served, sid, 'bot')}\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
