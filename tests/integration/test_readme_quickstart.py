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
    assert all(r.status == 200 for r in emulator.requests), emulator.requests
    if filename == "QUICKSTART":
        printed = capsys.readouterr().out
        assert printed.startswith(f"{sid} True Credentials(username='{sid}', password='***')")
        assert len(source.strip().splitlines()) <= 25


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
