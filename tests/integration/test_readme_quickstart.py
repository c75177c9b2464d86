"""The README's examples run as written, against the in-process emulator.

Each test runs the ``python`` block after a marker comment in README.md (``<!-- quickstart -->``
and so on) with :class:`~exotel_trunking.emulator.Emulator` replaced by a subclass that notes
every instance, then checks the account's state and what the example printed.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

import exotel_trunking.emulator
from exotel_trunking.emulator import Emulator

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```(?:python|py)[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_block(marker: str) -> str:
    """The ``python`` block after ``marker`` in README.md."""
    text = README.read_text(encoding="utf-8")
    assert marker in text, f"{README}: no {marker} example"
    block = _BLOCK.search(text, text.index(marker))
    assert block is not None, f"{README}: no ```python block after {marker}"
    return block.group(1)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[Emulator]:
    """Every emulator an example makes, in order."""
    made: list[Emulator] = []

    class RecordingEmulator(Emulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(exotel_trunking.emulator, "Emulator", RecordingEmulator)
    return made


async def _awaited(coroutine: Any) -> None:
    await coroutine


def run_snippet(source: str, filename: str) -> dict[str, Any]:
    """Run ``source`` as a script (top-level ``await`` allowed, as in ``python -m asyncio``)."""
    code = compile(source, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    result = eval(code, namespace)  # the README's own code
    if inspect.iscoroutine(result):
        anyio.run(_awaited, result)
    return namespace


@pytest.mark.slow  # the README's client keeps to the default pace, in real time
def test_quickstart_provisions_a_trunk_with_numbers_ips_destinations_and_alias(
    created: list[Emulator], capsys: pytest.CaptureFixture[str]
) -> None:
    run_snippet(readme_block("<!-- quickstart -->"), f"{README.name}:quickstart")

    [emulator] = created
    [trunk] = emulator.state.trunks
    sid = trunk.trunk_sid
    assert [n.phone_number for n in emulator.state.phone_numbers(sid)] == ["+919876543210"]
    assert [f"{w.ip}/{w.mask}" for w in emulator.state.whitelisted_ips(sid)] == ["203.0.113.0/28"]
    assert len(emulator.state.destinations(sid)) == 1
    [alias] = emulator.state.settings(sid)
    assert (alias.name, alias.value) == ("trunk_external_alias", "+919876543210")
    # provision looks the trunk up by name first; the reference dialect cannot list trunks
    # (405), so the trunk is created. Every other request succeeds.
    looked_up = [r for r in emulator.requests if r.path.endswith("/trunks") and r.method == "GET"]
    assert [r.status for r in looked_up] == [405]
    assert all(r.status == 200 for r in emulator.requests if r not in looked_up), emulator.requests
    # The reference dialect issues the trunk's credentials, named after the trunk.
    assert capsys.readouterr().out == f"{sid} {sid}\n"


#: The ten-line example at the top of the README, for readers of the package index.
OPENING = "<!-- opening -->"


def test_the_readmes_opening_example_maps_a_number_on_the_emulator_in_ten_lines(
    created: list[Emulator], capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index(OPENING) < text.index("\n## "), "the example opens the README"
    source = readme_block(OPENING)
    assert len([line for line in source.splitlines() if line.strip()]) <= 10
    run_snippet(source, f"{README.name}:opening")

    [emulator] = created
    [trunk] = emulator.state.trunks
    [number] = emulator.state.phone_numbers(trunk.trunk_sid)
    assert number.phone_number == "+919876543210"
    assert capsys.readouterr().out == f"{trunk.trunk_sid} +919876543210\n"


def test_a_snippet_with_top_level_await_is_run_to_completion() -> None:
    source = "import anyio\nawait anyio.sleep(0)\ndone = True\n"
    assert run_snippet(source, "snippet")["done"] is True


#: The "Voice AI platforms" example: a tenant with SIP credentials and no IP whitelist.
VOICE_AI = "<!-- voice-ai -->"


def test_the_voice_ai_example_provisions_a_tenant_with_credentials_and_no_whitelist(
    created: list[Emulator], capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = run_snippet(readme_block(VOICE_AI), f"{README.name}:voice-ai")

    [emulator] = created
    assert emulator.dialect == "live"
    [trunk] = emulator.state.trunks
    sid = trunk.trunk_sid
    assert trunk.trunk_name == "tenant_42"
    assert [n.phone_number for n in emulator.state.phone_numbers(sid)] == ["+919876543210"]
    assert [d.destination for d in emulator.state.destinations(sid)] == [
        "sip.agents.example.com:5061;transport=tls"
    ]
    assert emulator.state.whitelisted_ips(sid) == []
    [credential] = emulator.state.credentials(sid)
    assert credential.user_name == "tenant_42_agent"
    assert namespace["vault"] == {"tenant_42": credential.password}
    assert all(r.status == 200 for r in emulator.requests), emulator.requests
    printed = capsys.readouterr().out
    assert printed == f"{sid} acme.pstn.exotel.com tenant_42_agent\n"
    assert credential.password not in printed
