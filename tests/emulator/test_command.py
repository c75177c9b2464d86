"""``python -m exotel_trunking.emulator``: a real subprocess, and its reusable pieces."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest

from exotel_trunking.emulator._command import build_parser, emulator_from_args, main

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@contextmanager
def running(*options: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [sys.executable, "-m", "exotel_trunking.emulator", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "the emulator did not print its URL in time"
        yield process, process.stdout.readline().strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@posix_only
@pytest.mark.parametrize(
    ("backend", "stop"), [("asyncio", signal.SIGTERM), ("trio", signal.SIGINT)]
)
def test_serves_prints_its_url_answers_and_stops_cleanly_on_a_signal(
    backend: str, stop: signal.Signals
) -> None:
    options = [
        "--api-key",
        "k",
        "--api-token",
        "s3cret",
        "--account-sid",
        "acme",
        "--dialect",
        "live",
    ]
    with running(*options, "--latency", "0.001", "--rate-limit", "100/1", "--backend", backend) as (
        process,
        url,
    ):
        assert url.startswith("http://127.0.0.1:")
        with httpx2.Client(base_url=url, auth=("k", "s3cret")) as http:
            response = http.get("/v2/accounts/acme/trunks/trmumx/credentials")
            counters = http.get("/_emulator/counters").json()
        assert response.status_code == 404
        assert len(response.json()["request_id"]) == 32  # the live dialect
        assert response.headers["x-ratelimit-limit"] == "100"
        assert counters["total"] == 1
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stdout == ""  # the URL is the only line on stdout; the rest goes to stderr
    assert "emulating account 'acme' (live dialect)" in stderr
    assert "s3cret" not in stdout + stderr + url


def test_options_build_the_emulator() -> None:
    args = build_parser().parse_args(
        [
            "--dialect",
            "live",
            "--latency",
            "0.01-0.02",
            "--rate-limit",
            "200/60/10",
            "--fault",
            "503=0.1",
            "--fault",
            "drop_after",
            "--no-credentials",
            "--page-size",
            "20",
            "--concurrency-limit",
            "5",
            "--idle-timeout",
            "2",
        ]
    )
    emulator = emulator_from_args(args)
    assert emulator.dialect == "live"
    assert emulator.knobs.latency == (0.01, 0.02)
    assert emulator.knobs.rate_limit is not None
    assert emulator.knobs.rate_limit.capacity == 10
    assert [(r.kind, r.probability) for r in emulator.faults.rules] == [
        ("503", 0.1),
        ("drop_after", 1.0),
    ]
    assert emulator.knobs.issue_credentials is False
    assert (emulator.knobs.page_size, emulator.knobs.concurrency_limit) == (20, 5)
    assert emulator.knobs.idle_timeout == 2.0


@pytest.mark.parametrize(
    "argv",
    [["--rate-limit", "lots"], ["--fault", "504=0.1"], ["--dialect", "legacy"], ["--latency", "x"]],
)
def test_bad_options_exit_with_status_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        build_parser().parse_args(argv)
    assert excinfo.value.code == 2
    assert "error" in capsys.readouterr().err


def test_invalid_knob_combinations_exit_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--page-size", "0"]) == 2
    assert "page_size" in capsys.readouterr().err


def test_a_port_in_use_exits_with_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err
