"""``demo``: a sample tenant on a faulty built-in emulator, start to finish."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from exotel_trunking._cli._commands import cli


def test_demo_with_50_numbers_finishes_with_exit_0_and_checks_its_claims() -> None:
    result = CliRunner().invoke(cli, ["demo", "--numbers", "50"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"Created trunk demo_tenant \(tr\w+\)", out)
    assert "Every number mapped exactly once: 50 numbers on the trunk, 0 failed." in out
    assert "Plan after applying (--dry-run): nothing to change." in out
    assert "Applying the same spec again: 0 created, changed=False." in out
    assert "PBX settings" in out
    sid = re.search(r"exotel-trunking doctor (tr\w+)", out)
    assert sid is not None
    assert f"Trunk {sid[1]}: no problems found." in out
    assert "mapping numbers" in result.stderr  # the bar, on stderr
    assert "50/50" in result.stderr


def test_demo_json_is_one_document_with_the_same_claims() -> None:
    result = CliRunner().invoke(cli, ["--json", "demo", "--numbers", "10", "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["numbers_mapped"] == 10
    assert summary["plan_after_apply"]["changed"] is False
    assert summary["second_apply_changed"] is False
    assert summary["report"]["ok"] is True
    assert summary["report"]["credentials"]["password"] == "********"
    assert summary["doctor"] == {
        "trunk_sid": summary["report"]["trunk_sid"],
        "ok": True,
        "probed": False,
        "findings": [],
    }
    assert result.stderr == ""  # not a terminal: no bar with --json
