"""``doctor`` (why calls on a trunk will fail) and ``explain`` (what a code means)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from exotel_trunking import NotFoundError, PermissionDeniedError
from exotel_trunking._cli._app import GlobalOptionsGroup, exit_code_for, hint_for
from exotel_trunking._cli._commands import cli
from exotel_trunking._cli._doctor import summary
from exotel_trunking._diagnosis import Diagnosis, Finding
from exotel_trunking._explain import explanations

from .runner import Cli, Served, lines_of


def healthy_trunk(run_cli: Cli, served: Served) -> str:
    """A trunk with a number, a whitelisted range, a TLS destination in it, and credentials."""
    sid = run_cli.trunk()
    run_cli.json("numbers", "map", sid, "+919876543210")
    state = served.emulator.state
    served.call(state.whitelist_ip, sid, "203.0.113.0", 24)
    served.call(state.add_destination, sid, "203.0.113.9:5061;transport=tls")
    served.call(state.issue_credentials, sid)
    return sid


def broken_trunk(served: Served) -> str:
    """A trunk with nothing on it: no number, IP, destination or SIP credentials."""
    state = served.emulator.state
    trunk = served.call(lambda: state.create_trunk("broken", issue_credentials=False))
    return str(trunk.trunk_sid)


# -- doctor ------------------------------------------------------------------------------------


def test_doctor_on_a_healthy_trunk_exits_0_with_no_problems_found(
    run_cli: Cli, served: Served
) -> None:
    sid = healthy_trunk(run_cli, served)
    result = run_cli("doctor", sid)
    assert result.exit_code == 0, result.output
    assert f"Trunk {sid}: no problems found." in result.stdout
    assert "Doctor:" not in result.stdout  # no empty table
    assert "add --probe" in result.stderr  # the hint, on stderr


def test_doctor_with_only_warnings_exits_0_and_counts_them(run_cli: Cli, served: Served) -> None:
    sid = healthy_trunk(run_cli, served)
    # An IP destination outside the whitelisted range, and TLS on the plain SIP port.
    served.call(served.emulator.state.add_destination, sid, "198.51.100.7:5060;transport=tls")
    result = run_cli("doctor", sid)
    assert result.exit_code == 0, result.output
    assert "destination_ip_not_whitelisted" in result.stdout
    assert "transport_port_mismatch" in result.stdout
    assert f"Trunk {sid}: 2 warnings." in result.stdout


def test_doctor_on_a_broken_trunk_exits_1_and_shows_each_code_errors_first(
    run_cli: Cli, served: Served
) -> None:
    sid = broken_trunk(served)
    result = run_cli("doctor", sid)
    assert result.exit_code == 1, result.output
    out = result.stdout
    codes = ["no_numbers", "no_destination", "no_whitelisted_ip", "no_credentials"]
    positions = [out.index(code) for code in codes]
    assert positions == sorted(positions)  # the errors, then the warning
    assert out.index("error") < out.index("warning")
    assert "fix: client.destination_uris.add(" in out
    assert "exotel-trunking destinations add" in out
    assert f"Trunk {sid}: 3 errors, 1 warning." in out
    assert max(len(line) for line in lines_of(out)) <= 80


def test_doctor_json_is_the_diagnosis(run_cli: Cli, served: Served) -> None:
    sid = broken_trunk(served)
    report = run_cli.json("doctor", sid, expect=1)
    assert set(report) == {"trunk_sid", "ok", "probed", "findings"}
    assert report["trunk_sid"] == sid
    assert report["ok"] is False
    assert report["probed"] is False
    assert [f["code"] for f in report["findings"]] == [
        "no_numbers",
        "no_destination",
        "no_whitelisted_ip",
        "no_credentials",
    ]
    for finding in report["findings"]:
        assert set(finding) == {"code", "severity", "message", "fix", "item"}
    assert report["findings"][-1]["severity"] == "warning"


def test_doctor_json_of_a_finding_about_an_item_names_it(run_cli: Cli, served: Served) -> None:
    sid = healthy_trunk(run_cli, served)
    served.call(served.emulator.state.add_destination, sid, "203.0.113.9:5060;transport=tls")
    report = run_cli.json("doctor", sid)
    assert report["ok"] is True
    [finding] = report["findings"]
    assert finding["code"] == "transport_port_mismatch"
    assert "203.0.113.9:5060;transport=tls" in finding["item"]


def test_global_options_may_follow_the_subcommand(run_cli: Cli, served: Served) -> None:
    sid = broken_trunk(served)
    after = run_cli("doctor", sid, "--json", "--base-url", served.url, EXOTEL_BASE_URL=None)
    assert after.exit_code == 1, after.output
    assert json.loads(after.stdout)["trunk_sid"] == sid
    # --name=value too, and the later of two wins.
    later = run_cli(
        "--base-url", "http://api.example.com", "doctor", sid, f"--base-url={served.url}"
    )
    assert later.exit_code == 1, later.output
    assert "no_numbers" in later.stdout
    # The same for the other commands, nested ones included.
    listed = run_cli("numbers", "list", sid, "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []


def test_a_subcommand_that_parses_its_own_options_keeps_them() -> None:
    group = cli
    assert isinstance(group, GlobalOptionsGroup)
    with group.make_context("exotel-trunking", ["--help"], resilient_parsing=True) as ctx:
        # emulator has an --api-key of its own (the key it accepts): left where it is; the
        # group's --json, which emulator lacks, still moves before it.
        args = ["emulator", "--api-key", "k", "--json"]
        assert group._hoist(ctx, args) == ["--json", "emulator", "--api-key", "k"]
        assert group._hoist(ctx, ["doctor", "tr1", "--api-key", "k", "--json"]) == [
            "--api-key",
            "k",
            "--json",
            "doctor",
            "tr1",
        ]
        # After "--" every word is an argument.
        assert group._hoist(ctx, ["doctor", "--", "--json"]) == ["doctor", "--", "--json"]


def test_a_subcommand_options_value_that_looks_like_a_global_option_stays_its_value() -> None:
    with cli.make_context("exotel-trunking", ["--help"], resilient_parsing=True) as ctx:
        args = ["numbers", "import", "tr1", "f.csv", "--column", "--json"]
        assert cli._hoist(ctx, args) == args


def test_a_global_option_missing_its_value_after_the_subcommand_says_so(run_cli: Cli) -> None:
    result = run_cli("doctor", "tr1", "--base-url")
    assert result.exit_code == 2
    assert "Option '--base-url' requires an argument" in result.output


def test_doctor_on_an_unknown_trunk_exits_4_with_the_hint(run_cli: Cli) -> None:
    result = run_cli("doctor", "trnosuch")
    assert result.exit_code == 4
    assert "NotFoundError" in result.stderr
    assert "hint: no such trunk on this account" in result.stderr
    error = run_cli.json("doctor", "trnosuch", expect=4)
    assert error["exit_code"] == 4
    assert error["hint"].startswith("no such trunk")


def test_doctor_on_a_malformed_trunk_sid_exits_2_before_any_request(
    run_cli: Cli, served: Served
) -> None:
    started = served.emulator.clock()
    result = run_cli("doctor", "tr/../x")
    assert result.exit_code == 2
    assert "InvalidParameterError" in result.stderr
    assert served.arrived_since(started) == []


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ((), "no problems found"),
        (("info",), "no problems found (1 info)"),
        (("warning", "info", "info"), "1 warning, 2 info"),
        (("error", "error", "warning"), "2 errors, 1 warning"),
        (("error",), "1 error"),
    ],
)
def test_the_summary_counts_each_severity(severities: tuple[str, ...], expected: str) -> None:
    findings = tuple(Finding(f"c{n}", s, "m", "f") for n, s in enumerate(severities))  # type: ignore[arg-type]
    assert summary(Diagnosis("tr1", findings)) == expected


# -- doctor --probe ----------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[int]:
    """A plain TCP listener on 127.0.0.1 that accepts and closes; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def local_trunk(run_cli: Cli, served: Served, port: int) -> str:
    """A trunk whose only destination is 127.0.0.1:``port`` over TCP (nothing leaves the host)."""
    sid = run_cli.trunk()
    state = served.emulator.state
    served.call(state.map_phone_number, sid, "+919876543210")
    served.call(state.whitelist_ip, sid, "203.0.113.0", 24)
    served.call(state.add_destination, sid, f"127.0.0.1:{port};transport=tcp")
    return sid


def test_doctor_probe_connects_to_the_destinations(
    run_cli: Cli, served: Served, listener: int
) -> None:
    sid = local_trunk(run_cli, served, listener)
    result = run_cli("doctor", sid, "--probe")
    assert result.exit_code == 0, result.output  # the loopback is not whitelisted: a warning
    assert "add --probe" not in result.stderr
    report = run_cli.json("doctor", sid, "--probe")
    assert report["probed"] is True
    assert [f["code"] for f in report["findings"]] == ["destination_ip_not_whitelisted"]


def test_doctor_probe_reports_a_destination_nobody_listens_on(run_cli: Cli, served: Served) -> None:
    # Port 1 on the loopback: nothing listens there, and the connection is refused at once.
    sid = local_trunk(run_cli, served, 1)
    result = run_cli("doctor", sid, "--probe")
    assert result.exit_code == 1, result.output
    assert "tcp_unreachable" in result.stdout
    assert f"Trunk {sid}: 1 error, 1 warning." in result.stdout


# -- explain -----------------------------------------------------------------------------------


def test_explain_a_sip_response_code(run_cli: Cli) -> None:
    result = run_cli("explain", "488")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SIP 488 Not Acceptable Here" in out
    assert "codec" in out
    for field in ("meaning", "cause", "fix"):
        assert field in out


def test_explain_an_exotel_code_shows_the_live_meaning_too(run_cli: Cli) -> None:
    result = run_cli("explain", "1002")
    assert result.exit_code == 0, result.output
    out = result.stdout.replace("\n", " ")
    assert "Exotel error 1002" in out
    assert "Reference:" in out
    assert "Live service:" in out
    data = run_cli.json("explain", "1002")
    assert data["kind"] == "exotel"
    assert data["live"].startswith("Live service:")
    assert set(data) == {"code", "kind", "title", "meaning", "cause", "fix", "live"}


def test_explain_a_topic(run_cli: Cli) -> None:
    result = run_cli("explain", "one_way_audio")
    assert result.exit_code == 0, result.output
    assert "One-way audio" in result.stdout
    assert "10000-20000" in result.stdout


def test_explain_an_unknown_code_exits_2_and_says_what_to_try(run_cli: Cli) -> None:
    result = run_cli("explain", "999")
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert "no explanation for 999" in err
    assert "such as 488" in err
    assert "such as 1002" in err
    assert "one_way_audio" in err
    assert result.stdout == ""


def test_explain_help_names_every_topic(run_cli: Cli) -> None:
    result = run_cli("explain", "--help")
    topics = [code for kind, code in explanations() if kind == "topic"]
    assert topics
    for topic in topics:
        assert topic in result.stdout


@pytest.mark.parametrize(
    ("error", "code"),
    [
        # What the SDK raises for the live 403 / 1003 (a trunk sid not this account's).
        (NotFoundError("Authorization failed", status_code=403, error_code=1003), 4),
        (PermissionDeniedError("Access denied", status_code=403, error_code=1011), 3),
        (NotFoundError("Not Found", status_code=404, error_code=1000), 4),
    ],
)
def test_the_live_403_for_a_trunk_sid_not_yours_exits_4_like_a_404(
    error: Exception, code: int
) -> None:
    assert exit_code_for(error) == code
    if code == 4:
        assert "not this account's" in (hint_for(error) or "")
