"""The README's quickstart runs as written, against the in-process emulator.

The code block after ``<!-- quickstart -->`` in README.md is run; until the README has one,
:data:`QUICKSTART` (the snippet proposed for it) is run instead.
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
MARKER = "<!-- quickstart -->"
_BLOCK = re.compile(r"```(?:python|py)[ \t]*\n(.*?)^```", re.DOTALL | re.MULTILINE)

QUICKSTART = """\
import asyncio

from exotel_trunking import AsyncTrunkingClient, TrunkSpec
from exotel_trunking.emulator import Emulator

emulator = Emulator(api_key="key", api_token="token", account_sid="acme")
spec = TrunkSpec(
    "acme_main",
    numbers=["+919876543210"],
    ips=["203.0.113.0/29"],
    destinations=["203.0.113.5:5061;transport=tls", "pbx.acme.example:5061;transport=tls"],
    alias="+919876543210",
)


async def main() -> None:
    transport = emulator.transport()  # for the real API: no transport, your own credentials
    async with AsyncTrunkingClient("key", "token", "acme", transport=transport) as client:
        report = await client.provision(spec)
    print(report.trunk_sid, report.ok, report.credentials)


asyncio.run(main())
"""


def quickstart_source() -> tuple[str, str]:
    """The README's quickstart block and where it came from, or :data:`QUICKSTART`."""
    text = README.read_text(encoding="utf-8") if README.is_file() else ""
    if MARKER not in text:
        return QUICKSTART, "QUICKSTART"
    block = _BLOCK.search(text, text.index(MARKER))
    assert block is not None, f"{README}: no ```python block after {MARKER}"
    return block.group(1), f"{README.name}:quickstart"


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
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    created: list[Emulator] = []

    class RecordingEmulator(Emulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(exotel_trunking.emulator, "Emulator", RecordingEmulator)
    source, filename = quickstart_source()
    run_snippet(source, filename)

    [emulator] = created
    [trunk] = emulator.state.trunks
    sid = trunk.trunk_sid
    assert emulator.state.phone_numbers(sid)
    assert emulator.state.whitelisted_ips(sid)
    assert emulator.state.destinations(sid)
    [alias] = emulator.state.settings(sid)
    assert alias.name == "trunk_external_alias"
    # provision looks the trunk up by name first; the reference dialect cannot list trunks
    # (405), so the trunk is created. Every other request succeeds.
    looked_up = [r for r in emulator.requests if r.path.endswith("/trunks") and r.method == "GET"]
    assert [r.status for r in looked_up] == [405]
    assert all(r.status == 200 for r in emulator.requests if r not in looked_up), emulator.requests
    if filename == "QUICKSTART":
        printed = capsys.readouterr().out
        assert printed.startswith(f"{sid} True Credentials(username='{sid}', password='***')")
        assert len(source.strip().splitlines()) <= 25


#: The ten-line example at the top of the README, for readers of the package index.
OPENING = "<!-- opening -->"


def test_the_readmes_opening_example_maps_a_number_on_the_emulator_in_ten_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    assert OPENING in text, f"{README}: no {OPENING} example"
    assert text.index(OPENING) < text.index("\n## "), "the example opens the README"
    block = _BLOCK.search(text, text.index(OPENING))
    assert block is not None, f"{README}: no ```python block after {OPENING}"
    source = block.group(1)
    assert len([line for line in source.splitlines() if line.strip()]) <= 10
    created: list[Emulator] = []

    class RecordingEmulator(Emulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(exotel_trunking.emulator, "Emulator", RecordingEmulator)
    run_snippet(source, f"{README.name}:opening")

    [emulator] = created
    [trunk] = emulator.state.trunks
    [number] = emulator.state.phone_numbers(trunk.trunk_sid)
    assert number.phone_number == "+919876543210"
    assert capsys.readouterr().out == f"{trunk.trunk_sid} +919876543210\n"


def test_quickstart_source_comes_from_the_readme_once_it_has_the_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{MARKER}\n\n```python\nprint('from readme')\n```\n")
    monkeypatch.setattr(f"{__name__}.README", readme)
    assert quickstart_source() == ("print('from readme')\n", "README.md:quickstart")
    readme.write_text("# x\n")
    assert quickstart_source() == (QUICKSTART, "QUICKSTART")


def test_a_snippet_with_top_level_await_is_run_to_completion() -> None:
    source = "import anyio\nawait anyio.sleep(0)\ndone = True\n"
    assert run_snippet(source, "snippet")["done"] is True


#: The "Voice AI platforms" example: a tenant with SIP credentials and no IP whitelist.
VOICE_AI = "<!-- voice-ai -->"


def test_the_voice_ai_example_provisions_a_tenant_with_credentials_and_no_whitelist(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    assert VOICE_AI in text, f"{README}: no {VOICE_AI} example"
    block = _BLOCK.search(text, text.index(VOICE_AI))
    assert block is not None, f"{README}: no ```python block after {VOICE_AI}"
    created: list[Emulator] = []

    class RecordingEmulator(Emulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(exotel_trunking.emulator, "Emulator", RecordingEmulator)
    namespace = run_snippet(block.group(1), f"{README.name}:voice-ai")

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
