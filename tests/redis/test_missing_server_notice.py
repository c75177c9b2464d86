"""Without ``redis-server`` the Redis tests are skipped, and the end of the run says so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs pytest in a subprocess

HERE = Path(__file__).parent


def test_a_run_without_redis_server_ends_with_a_notice_counting_the_skips_and_the_fix(
    tmp_path: Path,
) -> None:
    # An empty PATH hides redis-server; CI unset, since CI fails instead of skipping.
    env = {k: v for k, v in os.environ.items() if k not in ("PATH", "CI")}
    env["PATH"] = str(tmp_path)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "test_redis_limiter.py"),
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    section = out.index("= redis-server is missing =")
    notice = out[section:].splitlines()[1]
    skipped = re.search(r"(\d+) skipped", out.strip().splitlines()[-1])
    assert skipped is not None, out
    assert notice == (
        f"{skipped[1]} Redis tests were skipped: redis-server is not installed. "
        "Install it (apt-get install redis-server, or brew install redis) and run again."
    )
