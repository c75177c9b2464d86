"""``exotel-trunking apply`` as a user runs it: the console script in a child process.

Against an emulator served on 127.0.0.1 by this module (in a background thread), with the
latency, faults and state each test needs. Covers what only a real process shows: the sid
printed while the run goes on, Ctrl-C (SIGINT), the exit codes, and the display on a terminal
(a pseudo-terminal) or without one.
"""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exotel_trunking.emulator import Emulator

from .runner import KEY, SID, TOKEN, Served, child_env, on_terminal, script, serve

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and terminals")
pytestmark = pytest.mark.slow  # the installed script, in child processes


@pytest.fixture(scope="module")
def _served() -> Iterator[Served]:
    # The reference dialect: its trunks have a SIP password, which must stay out of the state.
    with serve(Emulator(KEY, TOKEN, SID, dialect="reference", seed=0)) as served:
        yield served


@pytest.fixture
def served(_served: Served) -> Served:
    """The module's emulator: empty, with its default knobs and no faults."""
    _served.call(_served.emulator.reset, knobs=True)
    return _served


def environment(served: Served, **extra: str) -> dict[str, str]:
    return child_env(served, **{"COLUMNS": "100", **extra})


def exotel(served: Served, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script(), *args],
        check=False,
        capture_output=True,
        text=True,
        env=environment(served),
        cwd=cwd,
        timeout=60,
    )


def numbers(count: int) -> list[str]:
    return [f"+9198765{i:05d}" for i in range(count)]


def write_spec(path: Path, count: int, *, extra: str = "") -> Path:
    listed = "".join(f'  "{number}",\n' for number in numbers(count))
    path.write_text(
        f'name = "tenant_a"\n{extra}numbers = [\n{listed}]\n'
        'ips = ["203.0.113.0/28"]\n'
        'destinations = ["203.0.113.5:5061;transport=tls"]\n'
        'alias = "+919876500000"\n',
        encoding="utf-8",
    )
    return path


def sid_in(text: str) -> str:
    found = re.search(r"trunk_sid: (\S+) \(trunk tenant_a created", text)
    assert found is not None, text
    return found.group(1)


def test_the_new_sid_is_recorded_beside_the_spec_and_a_rerun_picks_it_up(
    served: Served, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "tenant.toml", 5)
    first = exotel(served, "apply", "tenant.toml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    sid = sid_in(first.stdout)
    state_text = (tmp_path / "tenant.state.json").read_text(encoding="utf-8")
    state = json.loads(state_text)
    assert (state["trunk_sid"], state["status"], state["account_sid"]) == (sid, "done", SID)
    password = served.call(served.emulator.state.get_credentials, sid).password
    assert password not in state_text
    assert TOKEN not in state_text

    again = exotel(served, "--json", "apply", spec.name, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["trunk_sid"], report["trunk_created"], report["changed"]) == (sid, False, False)
    assert served.trunk_sids() == [sid]  # no second trunk


def test_a_spec_trunk_sid_that_disagrees_with_the_state_file_exits_2_saying_how_to_resolve(
    served: Served, tmp_path: Path
) -> None:
    write_spec(tmp_path / "tenant.toml", 1)
    sid = sid_in(exotel(served, "apply", "tenant.toml", cwd=tmp_path).stdout)
    other = served.call(served.emulator.state.create_trunk, "other").trunk_sid
    write_spec(tmp_path / "tenant.toml", 1, extra=f'trunk_sid = "{other}"\n')
    requests = len(served.call(lambda: served.emulator.requests))

    result = exotel(served, "apply", "tenant.toml", cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f'tenant.toml says trunk_sid = "{other}"' in message
    assert f"tenant.state.json records trunk {sid}" in message
    assert "delete the state file or pass --state PATH" in message
    assert len(served.call(lambda: served.emulator.requests)) == requests  # nothing sent


@posix_only
def test_ctrl_c_stops_within_a_second_says_what_was_done_and_a_rerun_finishes_the_same_trunk(
    served: Served, tmp_path: Path
) -> None:
    served.call(served.emulator.configure, latency=0.05)  # 300 numbers, 2 at a time: ~8 s
    write_spec(tmp_path / "tenant.toml", 300)
    child = subprocess.Popen(
        [script(), "apply", "tenant.toml", "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(served),
        cwd=tmp_path,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "apply printed no sid"
        sid = sid_in(child.stdout.readline())
        deadline = time.monotonic() + 30
        while len(served.numbers(sid)) < 10:  # well into the numbers
            assert time.monotonic() < deadline, "no numbers were mapped"
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = child.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)

    assert child.returncode == 130, stderr
    assert took < 1.0
    assert "Interrupted during numbers" in stdout
    assert re.search(r"numbers: \d+ of 300 done, \d+ created", stdout), stdout
    assert f"trunk_sid {sid} and this progress are recorded in tenant.state.json" in stdout
    assert len(served.numbers(sid)) < 300
    state = json.loads((tmp_path / "tenant.state.json").read_text(encoding="utf-8"))
    assert (state["trunk_sid"], state["status"]) == (sid, "interrupted")

    served.call(served.emulator.configure, latency=0.0)
    again = exotel(served, "apply", "tenant.toml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"trunk_sid: {sid}" in again.stdout
    assert served.trunk_sids() == [sid]  # the same trunk, no second one
    assert sorted(served.numbers(sid)) == numbers(300)


def test_every_problem_of_a_spec_is_reported_at_once_with_its_line(
    served: Served, tmp_path: Path
) -> None:
    (tmp_path / "bad.toml").write_text(
        'name = "tenant_a"\n'
        "bogus = 1\n"
        "numbers = [\n"
        '  "+919876543210",\n'
        '  "12",\n'
        '  { phone_number = "+919876543211", mod = "flow" },\n'
        "]\n"
        'ips = ["10.0.0.0/8"]\n',
        encoding="utf-8",
    )
    result = exotel(served, "apply", "bad.toml", cwd=tmp_path)
    assert result.returncode == 2
    lines = [" ".join(line.split()) for line in result.stderr.splitlines()]
    assert lines[0] == "error: bad.toml: 4 problems"
    assert lines[1].startswith("line 2: unknown key 'bogus'; a spec has: alias, credentials,")
    assert lines[2].startswith("line 5: numbers[1]='12' is invalid:")
    assert lines[3] == "line 6: numbers[2]: unknown key 'mod'; a number has: phone_number, mode"
    assert lines[4].startswith("line 8: ips[0]='10.0.0.0/8' is invalid:")
    assert served.call(lambda: served.emulator.requests) == []


def test_a_toml_syntax_error_says_so_with_its_position(served: Served, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "t"\nips = [\n"203.0.113.1"\n= 3\n', "utf-8")
    result = exotel(served, "apply", "bad.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "TOML syntax error at line 4, column 1:" in result.stderr
    assert "Invalid value" not in result.stderr.replace("SPEC", "")


def test_a_number_on_another_trunk_is_reported_apart_and_exits_1(
    served: Served, tmp_path: Path
) -> None:
    other = served.call(served.emulator.state.create_trunk, "other").trunk_sid
    taken = numbers(3)[1]
    served.call(served.emulator.state.map_phone_number, other, taken)
    write_spec(tmp_path / "tenant.toml", 3)

    result = exotel(served, "apply", "tenant.toml", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert f"on another trunk number {taken}: it is mapped to another trunk" in result.stdout
    table = result.stdout.splitlines()
    header = next(line for line in table if line.startswith("┃"))
    assert [cell.strip() for cell in header.split("┃")[2:-1]] == [
        "created",
        "already there",
        "on another trunk",
        "failed",
    ]
    row = next(line for line in table if line.startswith("│ numbers"))
    assert [cell.strip() for cell in row.split("│")[2:-1]] == ["2", "0", "1", "0"]
    sid = sid_in(result.stdout)
    assert taken not in served.numbers(sid)


@posix_only
def test_on_a_terminal_apply_draws_its_phases_live_and_says_when_it_is_rate_limited(
    served: Served, tmp_path: Path
) -> None:
    served.call(served.emulator.configure, fault_retry_after=2)
    served.call(served.emulator.script, "POST", "/trunks/*/phone-numbers", "429")
    write_spec(tmp_path / "tenant.toml", 20)
    env = environment(served, TERM="xterm-256color")

    returncode, shown = on_terminal(["apply", "tenant.toml"], env, cwd=tmp_path)

    assert returncode == 0, shown
    assert "\x1b[2K" in shown  # drawn in place: lines erased and drawn again
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"trunk_sid: tr\w+ \(trunk tenant_a created; recorded in", text), text
    assert "rate-limited, resuming in 2 s" in text
    assert re.search(r"numbers\s+━+\s+20/20", text), text
    assert "20 created · 0 exist · 0 invalid · 0 failed" in text
    assert re.search(r"✓ trunk\s+tr\w+ \(created\)", text), text
    assert re.search(r"✓ destinations\s+1 created", text), text
    assert "Provisioning report for trunk tenant_a" in text


def test_without_a_terminal_apply_prints_a_plain_line_per_phase(
    served: Served, tmp_path: Path
) -> None:
    served.call(served.emulator.configure, fault_retry_after=1)
    served.call(served.emulator.script, "POST", "/trunks/*/phone-numbers", "429")
    write_spec(tmp_path / "tenant.toml", 20)

    result = exotel(served, "apply", "tenant.toml", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = [re.sub(r" \(\d+\.\d s\)$", "", line) for line in result.stderr.splitlines()]
    sid = sid_in(result.stdout)
    assert lines == [
        f"trunk: {sid} (created)",
        "rate-limited: requests held back for 1 s",
        "numbers: 20 created",
        "ips: 1 created",
        "destinations: 1 created",
        "alias: set",
        "credentials: read",
    ]
    assert "\x1b[" not in result.stderr + result.stdout
