"""Every exit code of the README's table, from the installed script in a child process.

The child talks to the emulator this module serves on 127.0.0.1 (``conftest.served``); Ctrl-C
is a real SIGINT sent to the child while its import is still running.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exotel_trunking import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
)
from exotel_trunking._cli._app import exit_code_for

from .runner import Cli, Served, child_env, script

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
pytestmark = pytest.mark.slow  # the installed script, in child processes

NUMBERS = [f"+9180{40000000 + n:08d}" for n in range(400)]


def exotel(
    served: Served, *args: str, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script(), *args],
        input=input,
        capture_output=True,
        text=True,
        env=child_env(served, **env),
        timeout=60,
        check=False,
    )


def numbers_file(tmp_path: Path, numbers: list[str], header: str = "label,phone_number") -> Path:
    path = tmp_path / "numbers.csv"
    rows = "".join(f"row {n},{number}\n" for n, number in enumerate(numbers))
    path.write_text(f"{header}\n{rows}", encoding="utf-8")
    return path


@pytest.fixture
def slow(served: Served) -> Iterator[Served]:
    """The served emulator answering each request after 50 ms; its knobs put back after."""
    served.call(lambda: served.emulator.configure(latency=0.05))
    try:
        yield served
    finally:
        served.call(lambda: served.emulator.reset(knobs=True))


def mapped(served: Served, sid: str) -> set[str]:
    return set(served.numbers(sid))


# -- 0, 1, 2, 3, 4 ---------------------------------------------------------------------------


def test_exit_0_when_every_row_is_in_place(run_cli: Cli, served: Served, tmp_path: Path) -> None:
    sid = run_cli.trunk()
    done = exotel(served, "numbers", "import", sid, str(numbers_file(tmp_path, NUMBERS[:5])))
    assert done.returncode == 0, done.stderr
    assert mapped(served, sid) == set(NUMBERS[:5])


def test_exit_1_when_some_rows_failed(run_cli: Cli, served: Served, tmp_path: Path) -> None:
    sid = run_cli.trunk()
    path = numbers_file(tmp_path, [*NUMBERS[:3], "+0"])
    done = exotel(served, "numbers", "import", sid, str(path))
    assert done.returncode == 1, done.stderr
    assert "1 row not applied" in done.stdout


def test_exit_1_for_a_number_mapped_to_another_trunk(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    mine, theirs = run_cli.trunk("mine"), run_cli.trunk("theirs")
    assert run_cli("numbers", "map", theirs, NUMBERS[0]).exit_code == 0
    path = numbers_file(tmp_path, NUMBERS[:3])
    out = tmp_path / "out.csv"
    done = exotel(served, "--json", "numbers", "import", mine, str(path), "--output", str(out))
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["created"], summary["on_another_trunk"], summary["failed"]) == (2, 1, 0)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["on_another_trunk"] for r in rows] == [theirs, "", ""]  # the holder, looked up
    assert rows[0]["status"] == "failed"
    assert "MappedElsewhereError" in rows[0]["error"]
    assert mapped(served, mine) == set(NUMBERS[1:3])


def test_exit_2_for_a_file_whose_column_cannot_be_told(served: Served, tmp_path: Path) -> None:
    path = numbers_file(tmp_path, NUMBERS[:3], header="name,contact")
    done = exotel(served, "numbers", "import", "trsid", str(path))
    assert done.returncode == 2, done.stderr
    assert "cannot tell which column holds the numbers" in done.stderr
    assert "line 1: name, contact" in done.stderr  # the header, as read
    assert "--column NAME" in done.stderr
    assert served.emulator.counters.total == 0  # nothing sent


def test_exit_2_for_a_configuration_error(served: Served) -> None:
    done = exotel(served, "numbers", "list", "trsid", EXOTEL_API_KEY="")
    assert done.returncode == 2, done.stderr
    assert "ConfigurationError" in done.stderr


def test_exit_3_for_a_refused_token(run_cli: Cli, served: Served, tmp_path: Path) -> None:
    sid = run_cli.trunk()
    path = numbers_file(tmp_path, NUMBERS[:30])
    done = exotel(served, "numbers", "import", sid, str(path), EXOTEL_API_TOKEN="wrong")
    assert done.returncode == 3, done.stderr
    # One line for the 30 rows the 401 stopped, not a row each.
    assert done.stderr.count("AuthenticationError") == 1
    assert "30 of 30 items not applied because of it" in done.stderr
    assert "rows not applied" not in done.stdout
    assert "wrong" not in done.stdout + done.stderr  # the token is never printed


def test_exit_4_for_an_unknown_trunk_and_the_output_still_lists_every_row(
    served: Served, tmp_path: Path
) -> None:
    path = numbers_file(tmp_path, NUMBERS[:30])
    out = tmp_path / "out.json"
    done = exotel(served, "numbers", "import", "trnosuch", str(path), "--output", str(out))
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("NotFoundError") == 1
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [r["item"] for r in rows] == NUMBERS[:30]
    assert {r["status"] for r in rows} == {"failed"}
    assert all(r["error"].startswith("NotFoundError") for r in rows)


def test_exit_4_for_a_trunk_name_that_is_taken(run_cli: Cli, served: Served) -> None:
    run_cli.trunk("acme_main")
    done = exotel(served, "trunks", "create", "acme_main")
    assert done.returncode == 4, done.stderr
    assert "ConflictError" in done.stderr


def test_exit_1_not_4_for_a_single_number_in_conflict(run_cli: Cli, served: Served) -> None:
    mine, theirs = run_cli.trunk("mine"), run_cli.trunk("theirs")
    assert run_cli("numbers", "map", theirs, NUMBERS[0]).exit_code == 0
    done = exotel(served, "numbers", "map", mine, NUMBERS[0])
    assert done.returncode == 1, done.stderr  # the number's conflict, not the trunk's


# -- 130 -------------------------------------------------------------------------------------


def test_exit_130_when_a_confirmation_is_answered_no(run_cli: Cli, served: Served) -> None:
    sid = run_cli.trunk()
    done = exotel(served, "trunks", "delete", sid, input="n\n")
    assert done.returncode == 130, done.stderr
    assert "cancelled" in done.stderr
    assert "Aborted!" not in done.stderr
    assert [t.trunk_sid for t in served.emulator.state.trunks] == [sid]


@posix_only
def test_ctrl_c_stops_an_import_within_a_second_reports_writes_the_output_and_exits_130(
    run_cli: Cli, slow: Served, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    out = tmp_path / "out.csv"
    path = numbers_file(tmp_path, NUMBERS)  # 400 at 2 in flight and 50 ms each: ~10 s
    command = ["--json", "numbers", "import", sid, str(path), "--concurrency", "2"]
    child = subprocess.Popen(
        [script(), *command, "--output", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(slow),
    )
    try:
        wait_for(lambda: len(mapped(slow, sid)) >= 20, child)
        signalled = slow.emulator.clock()
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = child.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    assert child.returncode == 130, stderr
    assert took < 1.0, f"stopped {took:.2f} s after Ctrl-C"
    summary = json.loads(stdout)
    assert summary["interrupted"] is True
    done = summary["total"] - summary["not_done"]
    assert summary["total"] == 400
    assert 20 <= done < 400
    assert summary["created"] == done
    assert f"interrupted: {done} of 400 items done, {400 - done} not sent" in stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == done  # every item with an outcome, and only those
    assert {r["status"] for r in rows} == {"created"}
    assert {r["item"] for r in rows} <= mapped(slow, sid)
    assert [int(r["line"]) for r in rows] == sorted(int(r["line"]) for r in rows)
    # Nothing new was started after Ctrl-C: at most the 2 slots' requests already on their way.
    assert len(slow.arrived_since(signalled)) <= 2


def wait_for(condition: Any, child: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds, failing if ``child`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the import did not get going in time"
        time.sleep(0.02)


# -- the mapping behind them -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), 2),  # the emulator's --port
        (ConflictError("taken", status_code=409, method="POST", path="/v2/accounts/a/trunks"), 4),
        (
            ConflictError(
                "exists",
                status_code=409,
                method="POST",
                path="/v2/accounts/a/trunks/t/phone-numbers",
            ),
            1,
        ),
        (NotFoundError("no trunk", status_code=404), 4),
        (AuthenticationError("refused", status_code=401), 3),
        (ConfigurationError("missing api_key"), 2),
    ],
    ids=["port in use", "trunk name taken", "item conflict", "no trunk", "401", "config"],
)
def test_exit_code_for_maps_each_error_to_the_readmes_code(error: Exception, code: int) -> None:
    assert exit_code_for(error) == code
