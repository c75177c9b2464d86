"""The installed ``exotel-trunking`` console script, as a user runs it: real subprocesses."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and select")
pytestmark = pytest.mark.slow  # the installed script, in child processes


def script() -> str:
    name = "exotel-trunking.exe" if sys.platform == "win32" else "exotel-trunking"
    path = Path(sysconfig.get_path("scripts")) / name
    assert path.exists(), f"the console script is not installed at {path}"
    return str(path)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOTEL_")}
    return {**env, "COLUMNS": "80", **extra}


def test_the_console_script_is_installed_and_prints_its_help() -> None:
    shown = subprocess.run(
        [script(), "--help"],
        check=False,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: exotel-trunking [OPTIONS] COMMAND [ARGS]...")
    assert "Exit codes" in shown.stdout


@posix_only
def test_emulator_subcommand_prints_how_to_connect_and_other_commands_work_against_it() -> None:
    token = "tok-s3cret"
    emulator = subprocess.Popen(
        [script(), "emulator", "--port", "0", "--account-sid", "acme", "--api-token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert emulator.stdout is not None
        ready, _, _ = select.select([emulator.stdout], [], [], 20)
        assert ready, "the emulator did not print its URL in time"
        url = emulator.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        env = clean_env(
            EXOTEL_BASE_URL=url,
            EXOTEL_API_KEY="emulator-key",
            EXOTEL_API_TOKEN=token,
            EXOTEL_ACCOUNT_SID="acme",
        )
        created = subprocess.run(
            [script(), "--json", "trunks", "create", "smoke"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["trunk_name"] == "smoke"
        emulator.send_signal(signal.SIGINT)
        stdout, stderr = emulator.communicate(timeout=10)
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.communicate(timeout=10)
    assert emulator.returncode == 0, stderr
    assert stdout == ""  # the URL is the only line on stdout
    assert f"export EXOTEL_BASE_URL={url} EXOTEL_ACCOUNT_SID=acme" in stderr
    assert "EXOTEL_API_TOKEN='<your --api-token>'" in stderr
    assert token not in stderr
