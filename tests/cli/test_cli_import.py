"""``numbers import`` and ``ips import``: files and stdin, bad rows, output files, exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from exotel_trunking import ConflictError, ItemOutcome, MappedElsewhereError
from exotel_trunking._cli._importer import Kind, _row, read_items

from .runner import Cli, Served

GOOD = [f"+9180{30000000 + n:08d}" for n in range(30)]


def numbers_csv(tmp_path: Path, bad: dict[int, str]) -> tuple[Path, list[str]]:
    """A CSV with a header and a label column; ``bad`` replaces items by position."""
    items = [bad.get(n, number) for n, number in enumerate(GOOD)]
    path = tmp_path / "numbers.csv"
    path.write_text(
        "label,phone_number\n" + "".join(f"row {n},{item}\n" for n, item in enumerate(items)),
        encoding="utf-8",
    )
    return path, items


def test_import_maps_the_good_rows_and_reports_each_bad_row_by_line(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    path, _ = numbers_csv(tmp_path, {3: "+0123", 17: "not a number", 29: ""})
    result = run_cli("numbers", "import", sid, str(path))
    assert result.exit_code == 1, result.output  # some rows failed: not fatal, but not 0
    assert "3 rows not applied" in result.stdout
    for line, item in ((5, "+0123"), (19, "not a number"), (31, "")):
        assert any(row.split("│")[1].strip() == str(line) for row in _rows(result.stdout)), line
        if item:  # the blank row is named by its line alone
            assert item in result.stdout
    mapped = {n.phone_number for n in served.emulator.state.phone_numbers(sid)}
    assert mapped == set(GOOD) - {GOOD[3], GOOD[17], GOOD[29]}


def _rows(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith("│")]


def test_a_second_import_of_the_same_file_reports_every_good_row_as_existing(
    run_cli: Cli, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    path, _ = numbers_csv(tmp_path, {0: "+0"})
    first = run_cli.json("numbers", "import", sid, str(path), expect=1)
    assert (first["created"], first["exists"], first["invalid"]) == (29, 0, 1)
    again = run_cli.json("numbers", "import", sid, str(path), expect=1)
    assert (again["total"], again["created"], again["exists"], again["invalid"]) == (30, 0, 29, 1)
    assert [p["line"] for p in again["problems"]] == [2]


def test_import_from_stdin_one_number_per_line_exits_0_when_all_are_good(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    text = "# numbers for acme\n" + "\n".join(GOOD[:5]) + "\n\n"
    summary = run_cli.json("numbers", "import", sid, "-", "--mode", "flow", input=text)
    assert summary["created"] == 5
    assert summary["problems"] == []
    assert summary["error"] is None
    assert {n.mode for n in served.emulator.state.phone_numbers(sid)} == {"flow"}


def test_ips_import_from_stdin_reports_a_private_address_as_invalid(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    text = "ip\n203.0.113.0/28\n192.168.1.1\n198.51.100.7\n"
    summary = run_cli.json("ips", "import", sid, "-", input=text, expect=1)
    assert (summary["created"], summary["invalid"]) == (2, 1)
    (problem,) = summary["problems"]
    assert (problem["line"], problem["item"], problem["status"]) == (3, "192.168.1.1", "invalid")
    assert "public" in problem["error"]
    assert len(served.emulator.state.whitelisted_ips(sid)) == 2


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_output_has_one_row_per_input_item_in_input_order(
    run_cli: Cli, tmp_path: Path, suffix: str
) -> None:
    sid = run_cli.trunk()
    path, items = numbers_csv(tmp_path, {1: "bogus"})
    out = tmp_path / f"results.{suffix}"
    result = run_cli("numbers", "import", sid, str(path), "--output", str(out))
    assert result.exit_code == 1
    text = out.read_text(encoding="utf-8")
    rows = json.loads(text) if suffix == "json" else list(csv.DictReader(io.StringIO(text)))
    assert [r["item"] for r in rows] == items
    assert [int(r["line"]) for r in rows] == list(range(2, 32))
    assert [r["status"] for r in rows] == ["created", "invalid"] + ["created"] * 28
    assert rows[0]["id"]
    assert rows[1]["error"].startswith("InvalidParameterError: expected E.164")


def test_json_summary_is_the_only_thing_on_stdout(run_cli: Cli, tmp_path: Path) -> None:
    sid = run_cli.trunk()
    path, _ = numbers_csv(tmp_path, {})
    result = run_cli("--json", "numbers", "import", sid, str(path))
    assert result.exit_code == 0
    summary = json.loads(result.stdout)  # no progress bar or table mixed in
    assert set(summary) >= {"total", "created", "exists", "invalid", "failed", "problems"}
    assert summary["total"] == 30


def test_human_output_keeps_the_progress_bar_off_stdout(run_cli: Cli, tmp_path: Path) -> None:
    sid = run_cli.trunk()
    path, _ = numbers_csv(tmp_path, {})
    result = run_cli("numbers", "import", sid, str(path))
    assert result.exit_code == 0
    assert "importing numbers" in result.stderr  # the bar's final state
    assert "30/30" in result.stderr
    assert "importing numbers" not in result.stdout
    assert "Import summary" in result.stdout


def test_a_wrong_token_stops_the_import_with_exit_3_and_says_why(
    run_cli: Cli, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    path, _ = numbers_csv(tmp_path, {})
    result = run_cli("numbers", "import", sid, str(path), EXOTEL_API_TOKEN="wrong")
    assert result.exit_code == 3
    assert "stopped: AuthenticationError" in result.stderr
    assert "EXOTEL_API_TOKEN" in result.stderr


def test_an_unknown_trunk_stops_the_import_with_exit_4(run_cli: Cli, tmp_path: Path) -> None:
    path, _ = numbers_csv(tmp_path, {})
    summary = run_cli.json("numbers", "import", "trnosuch", str(path), expect=4)
    assert summary["error"].startswith("NotFoundError")
    assert summary["created"] == 0


def test_an_output_in_a_missing_folder_exits_2_before_any_request(
    run_cli: Cli, served: Served, tmp_path: Path
) -> None:
    sid = run_cli.trunk()
    started = served.emulator.clock()
    path, _ = numbers_csv(tmp_path, {})
    result = run_cli("numbers", "import", sid, str(path), "--output", str(tmp_path / "no/r.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert served.arrived_since(started) == []


def test_a_file_with_no_items_exits_2(run_cli: Cli) -> None:
    result = run_cli("numbers", "import", "trsid", "-", input="phone_number\n\n# nothing\n")
    assert result.exit_code == 2
    assert "lists no numbers" in result.stderr


def test_a_column_that_is_not_in_the_header_exits_2(run_cli: Cli) -> None:
    result = run_cli("numbers", "import", "trsid", "-", "--column", "did", input="number\n+1\n")
    assert result.exit_code == 2
    assert "no column 'did'" in result.stderr


def test_a_binary_file_exits_2(run_cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "numbers.xlsx"
    path.write_bytes(b"PK\x03\x04\xff\xfe\x00\x81")
    result = run_cli("numbers", "import", "trsid", str(path))
    assert result.exit_code == 2
    assert "not a text CSV file" in result.stderr


# -- reading items ---------------------------------------------------------------------------


def items_and_lines(text: str, kind: Kind, column: str | None) -> tuple[list[str], list[int]]:
    read = read_items(io.StringIO(text), kind, column)
    return read.items, read.lines


def test_read_items_finds_the_column_by_header_name() -> None:
    text = "name,DID,notes\nfront desk,+919876543210,x\nsales,+919876543211,\n"
    assert items_and_lines(text, "numbers", None) == (
        ["+919876543210", "+919876543211"],
        [2, 3],
    )


def test_read_items_takes_a_headerless_file_as_one_item_per_line() -> None:
    text = "\n+919876543210\n# a comment\n+919876543211\n"
    assert items_and_lines(text, "numbers", None) == (
        ["+919876543210", "+919876543211"],
        [2, 4],
    )


def test_read_items_uses_the_named_column() -> None:
    text = "primary,backup\n203.0.113.1,198.51.100.1\n"
    assert items_and_lines(text, "ips", "Backup") == (["198.51.100.1"], [2])


def test_read_items_keeps_a_short_row_as_an_empty_item_so_it_is_reported() -> None:
    text = "label,ip\nedge,203.0.113.1\nbroken\n"
    assert items_and_lines(text, "ips", None) == (["203.0.113.1", ""], [2, 3])


# -- which column ----------------------------------------------------------------------------


def test_a_known_synonym_header_is_chosen_and_the_choice_is_printed(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    text = f"name,mobile\nfront desk,{GOOD[0]}\nsales,{GOOD[1]}\n"
    result = run_cli("numbers", "import", sid, "-", input=text)
    assert result.exit_code == 0, result.output
    assert '2 numbers from column 2 "mobile" (a known name for numbers)' in result.stderr
    assert {n.phone_number for n in served.emulator.state.phone_numbers(sid)} == set(GOOD[:2])


def test_a_header_with_no_known_name_exits_2_showing_it_and_the_column_option(
    run_cli: Cli, served: Served
) -> None:
    result = run_cli("numbers", "import", "trsid", "-", input=f"name,contact\nx,{GOOD[0]}\n")
    assert result.exit_code == 2
    assert "no column has a known name for numbers" in result.stderr
    assert "line 1: name, contact" in result.stderr
    assert "--column NAME" in result.stderr
    assert served.emulator.counters.total == 0


def test_two_known_names_are_ambiguous_and_exit_2(run_cli: Cli) -> None:
    text = f"phone,mobile\n{GOOD[0]},{GOOD[1]}\n"
    result = run_cli("numbers", "import", "trsid", "-", input=text)
    assert result.exit_code == 2
    assert "several columns could hold the numbers: 'phone', 'mobile'" in result.stderr


def test_several_columns_without_a_header_exit_2(run_cli: Cli) -> None:
    result = run_cli("ips", "import", "trsid", "-", input="edge,203.0.113.1\n")
    assert result.exit_code == 2
    assert "2 columns and no header" in result.stderr


def test_column_by_position_reads_a_file_without_a_header() -> None:
    text = "edge,203.0.113.1\ncore,198.51.100.7\n"
    read = read_items(io.StringIO(text), "ips", "2")
    assert (read.items, read.lines) == (["203.0.113.1", "198.51.100.7"], [1, 2])
    assert read.column.describe() == "column 2 (--column), no header"


def test_a_column_position_out_of_range_exits_2(run_cli: Cli) -> None:
    result = run_cli("ips", "import", "trsid", "-", "--column", "3", input="a,203.0.113.1\n")
    assert result.exit_code == 2
    assert "give 1 to 2" in result.stderr


def test_header_names_match_in_any_case_with_spaces_for_underscores() -> None:
    read = read_items(io.StringIO(f"Name,Phone Number\nx,{GOOD[0]}\n"), "numbers", None)
    assert read.items == [GOOD[0]]
    assert read.column.describe() == (
        'column 2 "Phone Number" (a known name for numbers), header on line 1'
    )


# -- repeats, other trunks, holds ---------------------------------------------------------------


def test_a_repeated_row_says_which_line_it_repeats(run_cli: Cli, tmp_path: Path) -> None:
    sid = run_cli.trunk()
    text = f"phone_number\n{GOOD[0]}\n{GOOD[1]}\n# again\n{GOOD[0]}\n"
    out = tmp_path / "out.json"
    result = run_cli("numbers", "import", sid, "-", "--output", str(out), input=text)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["line"], r["status"], r["repeats_line"]) for r in rows] == [
        (2, "created", None),
        (3, "created", None),
        (5, "exists", 2),
    ]
    assert "1 row repeats an earlier row (sent once): line 5 repeats line 2." in result.stdout


def test_a_row_for_a_number_on_another_trunk_names_that_trunk() -> None:
    conflict = ConflictError("Duplicate resource", status_code=409, error_code=1008)
    error = MappedElsewhereError(conflict, phone_number=GOOD[0], trunk_sid="tr1", held_by="tr2")
    row = _row(ItemOutcome(GOOD[0], "failed", error=error, index=1, duplicate_of=0), [4, 9])
    assert (row.line, row.status, row.on_another_trunk, row.repeats_line) == (9, "failed", "tr2", 4)
    assert row.shown_status == "elsewhere"
    assert row.reason == "repeats line 4: mapped to trunk tr2"
    assert row.error is not None
    assert row.error.startswith("MappedElsewhereError: ")


@pytest.mark.slow  # paced in real time
def test_the_summary_says_when_the_rate_limit_held_the_run_back(
    run_cli: Cli, served: Served
) -> None:
    sid = run_cli.trunk()
    served.call(served.emulator.script, "POST", "/trunks/*/phone-numbers", "429")
    text = "\n".join(GOOD[:3])
    summary = run_cli.json("numbers", "import", sid, "-", "--concurrency", "1", input=text)
    assert summary["created"] == 3
    assert summary["rate_limit_holds"] == 1
    assert summary["rate_limited_seconds"] == 1.0  # the emulator's Retry-After
    assert summary["retries"] == 1
    result = run_cli("numbers", "import", sid, "-", input=text)
    assert "Took " in result.stdout
    assert "held back" not in result.stdout  # no hold this time: not mentioned


class _DiskFullWriter(csv.DictWriter):  # type: ignore[type-arg]
    """Writes the header, then fails as a full disk would."""

    def writerows(self, rowdicts: Any) -> None:
        raise OSError(28, "No space left on device")


def test_output_is_replaced_whole_and_a_failed_write_leaves_the_previous_file(
    run_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = run_cli.trunk()
    path, items = numbers_csv(tmp_path, {})
    out = tmp_path / "results.csv"
    out.write_text("the previous run's results\n", encoding="utf-8")

    with monkeypatch.context() as patched:
        patched.setattr(csv, "DictWriter", _DiskFullWriter)
        failed = run_cli("numbers", "import", sid, str(path), "--output", str(out))
    assert failed.exit_code != 0
    assert out.read_text(encoding="utf-8") == "the previous run's results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, out.name])

    done = run_cli("numbers", "import", sid, str(path), "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert done.exit_code == 0, done.output
    assert [r["item"] for r in rows] == items
