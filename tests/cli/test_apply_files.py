"""The files of ``apply``: the state file (:mod:`._state`) and reading the spec (:mod:`._spec`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exotel_trunking._cli._spec import SpecError, load_spec
from exotel_trunking._cli._state import (
    ApplyState,
    StateFileError,
    choose_trunk_sid,
    default_state_path,
)


@pytest.mark.parametrize(
    ("spec", "state"),
    [("tenant.toml", "tenant.state.json"), ("dir/a.b.toml", "dir/a.b.state.json")],
)
def test_the_state_file_is_beside_the_spec_named_after_it(spec: str, state: str) -> None:
    assert default_state_path(spec) == Path(state)


def test_a_state_written_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "t.state.json"
    state = ApplyState("t.toml", "t", account_sid="acme", trunk_sid="tr1", status="done")
    state.counts = {"numbers": {"created": 3}}
    state.write(path)
    assert ApplyState.read(path) == state
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


def test_a_failed_write_leaves_the_previous_state_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.state.json"
    ApplyState("t.toml", "t", trunk_sid="tr1").write(path)
    before = path.read_text(encoding="utf-8")

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StateFileError, match=r"No space left on device.*--state PATH"):
        ApplyState("t.toml", "t", trunk_sid="tr2").write(path)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.state.json"]


def test_no_state_file_reads_as_none(tmp_path: Path) -> None:
    assert ApplyState.read(tmp_path / "missing.json") is None


@pytest.mark.parametrize(
    "text", ["[]", '{"version": 2, "spec": "t", "trunk_name": "t"}', '{"version": 1}', "{"]
)
def test_a_file_that_is_not_a_state_file_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.state.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StateFileError, match="is not a state file"):
        ApplyState.read(path)


@pytest.mark.parametrize(
    ("option", "spec", "recorded", "chosen"),
    [
        (None, None, None, None),
        (None, None, "tr1", "tr1"),
        (None, "tr1", None, "tr1"),
        (None, "tr1", "tr1", "tr1"),
        ("tr2", None, None, "tr2"),
        ("tr1", "tr1", "tr1", "tr1"),
    ],
)
def test_the_trunk_is_the_options_else_the_specs_else_the_state_files(
    option: str | None, spec: str | None, recorded: str | None, chosen: str | None
) -> None:
    state = ApplyState("t.toml", "t", trunk_sid=recorded)
    found = choose_trunk_sid(
        option=option, spec=spec, recorded=state, spec_path="t.toml", state_path=Path("s")
    )
    assert found == chosen


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_spec(str(path))
    return [str(problem) for problem in raised.value.problems]


def test_items_are_found_past_comments_and_strings_holding_brackets_and_commas(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        'name = "t"\n'
        'destinations = [  # a comment with "quotes", [brackets] and {braces}\n'
        '  "sip.a.example:5061;transport=tls", { x = "[,]" },\n'
        '  """sip.b.example:5061;transport=tls""",\n'
        "  'nope',\n"
        "]\n",
    )
    assert [p.split(": ", 1)[0] for p in found] == ["line 3", "line 5"]
    assert "destinations[1] = {'x': '[,]'} is invalid" in found[0]
    assert "destinations[3]" in found[1]


def test_a_key_spelled_as_a_dotted_key_is_reported_without_a_line(tmp_path: Path) -> None:
    assert problems(tmp_path, 'name = "t"\nextra.x = 1\n') == [
        "unknown key 'extra'; a spec has: alias, credentials, destinations, domain_name, ips, "
        "name, nso_code, numbers, trunk_sid"
    ]


def test_a_contradiction_only_the_whole_spec_shows_is_reported_with_its_line(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        'name = "t"\nnumbers = [\n  "+919876543210",\n'
        '  { phone_number = "+91 98765 43210", mode = "flow" },\n]\n',
    )
    assert len(found) == 1
    assert found[0].startswith("line 4: numbers[1]=")
    assert "+919876543210 is listed with another mode" in found[0]


def test_a_syntax_error_at_the_end_of_the_file_names_its_last_line(tmp_path: Path) -> None:
    assert problems(tmp_path, 'name = "t"\nips = ["203.0.113.1"') == [
        "TOML syntax error at line 2, column 21: Unclosed array"
    ]
