"""The emulator command: ``python -m exotel_trunking.emulator`` and ``exotel-trunking emulator``.

Both run the one click command of ``exotel_trunking._cli._emulator``; real subprocesses check
what a user sees, ``CliRunner`` checks the options.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
import httpx2
import pytest
from click.testing import CliRunner

from exotel_trunking._cli import _emulator as command_module
from exotel_trunking._cli._emulator import emulator as command
from exotel_trunking.emulator import Emulator
from exotel_trunking.emulator._standalone import banner

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and select")

MODULE = [sys.executable, "-m", "exotel_trunking.emulator"]
LAST_BANNER_LINE = "Ctrl-C stops it."


def console_script() -> list[str]:
    name = "exotel-trunking.exe" if sys.platform == "win32" else "exotel-trunking"
    path = Path(sysconfig.get_path("scripts")) / name
    assert path.exists(), f"the console script is not installed at {path}"
    return [str(path), "emulator"]


def read_until(stream: IO[bytes], end: bytes, timeout: float = 20) -> str:
    """Read ``stream`` (unbuffered, so that ``select`` sees all there is) up to ``end``."""
    received = b""
    deadline = time.monotonic() + timeout
    while not received.endswith(end):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"the emulator said only {received!r} in time"
        chunk = os.read(stream.fileno(), 4096)
        assert chunk, f"the emulator stopped after {received!r}"
        received += chunk
    return received.decode()


@contextmanager
def running(
    *options: str, argv: list[str] = MODULE
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """The emulator in a subprocess on a free port: the process, its URL and its banner."""
    process = subprocess.Popen(
        [*argv, "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        url = read_until(process.stdout, b"\n").strip()
        shown = read_until(process.stderr, LAST_BANNER_LINE.encode() + b"\n")
        yield process, url, shown.rstrip("\n")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def exported(banner_text: str) -> dict[str, str]:
    """The variables of the banner's ``export`` line, as a shell would set them."""
    joined = banner_text.replace("\\\n", " ")
    (line,) = [line for line in joined.splitlines() if line.strip().startswith("export ")]
    words = shlex.split(line)[1:]
    return dict(word.split("=", 1) for word in words)


@posix_only
@pytest.mark.parametrize(
    ("backend", "stop"), [("asyncio", signal.SIGTERM), ("trio", signal.SIGINT)]
)
@pytest.mark.slow  # runs the emulator in a subprocess
def test_serves_prints_its_url_answers_and_stops_cleanly_on_a_signal(
    backend: str, stop: signal.Signals
) -> None:
    options = ["--api-key", "k", "--api-token", "s3cret", "--account-sid", "acme"]
    options += ["--dialect", "live", "--latency", "0.001", "--rate-limit", "100/1"]
    with running(*options, "--backend", backend) as (process, url, shown):
        assert url.startswith("http://127.0.0.1:")
        with httpx2.Client(base_url=url, auth=("k", "s3cret")) as http:
            response = http.get("/v2/accounts/acme/trunks/trmumx/credentials")
            counters = http.get("/_emulator/counters").json()
        assert response.status_code == 404
        assert len(response.json()["request_id"]) == 32  # the live dialect
        assert response.headers["x-ratelimit-limit"] == "100"
        assert counters["total"] == 1
        process.send_signal(stop)
        stdout, stderr = (out.decode() for out in process.communicate(timeout=10))
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stdout == ""  # the URL is the only line on stdout; the rest goes to stderr
    assert f"Exotel emulator at {url}: account 'acme', live dialect." in shown
    assert "s3cret" not in stdout + stderr + shown + url
    assert exported(shown)["EXOTEL_API_TOKEN"] == "<your --api-token>"  # quoted: valid shell


@posix_only
@pytest.mark.slow  # runs the emulator in a subprocess
def test_both_entry_points_print_the_same_banner() -> None:
    options = ["--account-sid", "acme", "--rate-limit", "30/1/10", "--fault", "503=0.1"]
    with running(*options) as (_, module_url, from_module):
        pass
    with running(*options, argv=console_script()) as (_, script_url, from_script):
        pass
    assert from_module.replace(module_url, "URL") == from_script.replace(script_url, "URL")
    assert exported(from_module) == {
        "EXOTEL_BASE_URL": module_url,
        "EXOTEL_ACCOUNT_SID": "acme",
        "EXOTEL_API_KEY": "emulator-key",
        "EXOTEL_API_TOKEN": "emulator-token",  # the published default is shown as it is
        "EXOTEL_RATE_LIMIT": "30/1/10",
    }
    assert "Rate limit: 30 calls per 1 s (bursts of 10)" in from_module
    assert "rate_limit=RateLimit(calls=30, period=1, burst=10)" in from_module
    assert "faults 503 10%" in from_module


@posix_only
@pytest.mark.slow  # a subprocess emulator, and a command paced in real time
def test_the_banners_export_line_paces_the_command_below_the_emulators_rate_limit(
    tmp_path: Path,
) -> None:
    # Unpaced (the command's default for a loopback URL), 30 numbers at up to 20 at a time
    # would overrun a bucket of 10; the banner's EXOTEL_RATE_LIMIT keeps every call within it.
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"+9180{40_000_000 + n:08d}\n" for n in range(30)))
    with running("--rate-limit", "10/1") as (_, url, shown):
        env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin", **exported(shown)}
        script = console_script()[0]
        created = subprocess.run(
            [script, "--json", "trunks", "create", "paced"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        sid = json.loads(created.stdout)["trunk_sid"]
        imported = subprocess.run(
            [script, "numbers", "import", sid, str(numbers)],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        counters = httpx2.get(f"{url}/_emulator/counters").json()
    assert imported.returncode == 0, imported.stderr
    assert counters["by_status"] == {"200": 31}  # the trunk and 30 numbers, not one 429
    assert counters["rate_limited"] == 0


def test_the_banner_without_a_rate_limit_says_the_command_runs_unpaced() -> None:
    shown = banner(Emulator(), "http://127.0.0.1:4010")
    assert "EXOTEL_RATE_LIMIT" not in shown
    assert "Rate limit: none." in shown
    assert "rate_limit=None" in shown
    assert max(len(line) for line in shown.splitlines()) <= 80


def test_help_has_a_help_text_for_every_option_shown_whole_at_80_columns() -> None:
    result = CliRunner().invoke(command, ["--help"], terminal_width=80, prog_name="emulator")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    options = [param for param in command.params if isinstance(param, click.Option)]
    assert {option.name for option in options} >= {"port", "rate_limit", "faults", "backend"}
    for option in options:
        assert option.help, f"{option.opts[0]} has no help text"
        assert " ".join(option.help.split()) in flat, f"{option.opts[0]}'s help is cut"
    assert "Show this message and exit." in flat
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def build(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[Emulator, dict[str, Any], str]:
    """Run the command with ``argv`` without serving: the emulator it built, where, and the
    banner it printed."""
    built: dict[str, Any] = {}

    def serve(emulator: Emulator, host: str, port: int, **kwargs: Any) -> None:
        built.update(emulator=emulator, host=host, port=port, backend=kwargs["backend"])
        kwargs["announce"]("http://127.0.0.1:4010")

    monkeypatch.setattr(command_module, "run_until_signalled", serve)
    result = CliRunner().invoke(command, list(argv))
    assert result.exit_code == 0, result.output
    assert result.stdout == "http://127.0.0.1:4010\n"
    return built.pop("emulator"), built, result.stderr


def test_options_build_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, where, shown = build(
        monkeypatch,
        *("--dialect", "live", "--latency", "0.01-0.02", "--rate-limit", "200/60/10"),
        *("--fault", "503=0.1", "--fault", "drop_after", "--no-credentials"),
        *("--page-size", "20", "--concurrency-limit", "5", "--idle-timeout", "2"),
        *("--slow-seconds", "3", "--seed", "7", "--account-sid", "acme", "--api-key", "k"),
        *("--host", "127.0.0.2", "--port", "0", "--backend", "trio"),
    )
    assert emulator.dialect == "live"
    assert (emulator.account_sid, emulator.api_key) == ("acme", "k")
    assert emulator.knobs.latency == (0.01, 0.02)
    assert emulator.knobs.rate_limit is not None
    assert emulator.knobs.rate_limit.capacity == 10
    assert [(r.kind, r.probability) for r in emulator.faults.rules] == [
        ("503", 0.1),
        ("drop_after", 1.0),
    ]
    assert emulator.knobs.issue_credentials is False
    assert (emulator.knobs.page_size, emulator.knobs.concurrency_limit) == (20, 5)
    assert (emulator.knobs.idle_timeout, emulator.knobs.slow_seconds) == (2.0, 3.0)
    assert where == {"host": "127.0.0.2", "port": 0, "backend": "trio"}
    assert shown == banner(emulator, "http://127.0.0.1:4010") + "\n"


def test_the_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, where, _ = build(monkeypatch)
    assert (emulator.account_sid, emulator.api_key, emulator.dialect) == (
        "emulator",
        "emulator-key",
        "reference",
    )
    assert emulator.knobs.rate_limit is None
    assert emulator.faults.rules == []
    assert where == {"host": "127.0.0.1", "port": 4010, "backend": "asyncio"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate-limit", "lots"], "CALLS/SECONDS"),
        (["--fault", "wobble=0.1"], "unknown fault 'wobble'"),
        (["--fault", "503=2"], "from 0 to 1"),
        (["--dialect", "legacy"], "'legacy' is not one of"),
        (["--latency", "x"], "LOW-HIGH"),
        (["--page-size", "0"], "0 is not in the range x>=1"),
        (["--slow-seconds", "0"], "0.0 is not in the range x>0"),
        (["--port", "-1"], "-1 is not in the range 0<=x<=65535"),
        (["--port", "70000"], "70000 is not in the range 0<=x<=65535"),
        (["--fault", "ok"], "unknown fault 'ok'"),
        (["--fault", "503=0.1", "--fault", "503=0.2"], "'503' is given twice"),
        (["--latency", "0.08-0.02"], "LOW-HIGH"),
    ],
)
def test_bad_options_exit_with_status_2_naming_the_problem(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(command, argv)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_port_in_use_exits_with_status_2_and_says_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(command, ["--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another --port" in result.stderr


@pytest.mark.slow  # runs the emulator in a subprocess
def test_without_click_the_module_says_to_install_the_cli_extra() -> None:
    blocked = (
        "import runpy, sys; sys.modules['click'] = None; "
        "sys.argv = ['x', '--help']; runpy.run_module('exotel_trunking.emulator', "
        "run_name='__main__')"
    )
    shown = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=30, check=False
    )
    assert shown.returncode == 2
    assert "pip install 'exotel-trunking[cli]'" in shown.stderr
    assert "Traceback" not in shown.stderr
    assert re.search(r"click is missing", shown.stderr)
