"""Reading an ``apply`` spec from TOML: every problem at once, each with its key and line.

The spec's values are checked by :class:`~exotel_trunking.TrunkSpec` itself (one field, and
one list item, at a time, so that one bad value does not hide the next); this module adds
what a mapping cannot say: which keys are unknown, which values have the wrong TOML type, and
where in the file each problem is.

``tomllib`` gives no positions, so lines are found in the source text: a top-level key is the
first ``key =`` line (or ``[key]`` header) before any table header; a list item is found by
scanning that key's array, or as the n-th ``[[key]]`` header. Keys spelled in other ways
(dotted keys such as ``numbers.x``, or keys with escapes) are reported without a line.
"""

from __future__ import annotations

import re
import tomllib  # type: ignore[import-not-found, unused-ignore]
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._exceptions import InvalidParameterError
from .._provision import TrunkSpec

__all__ = ["Problem", "SpecError", "load_spec"]

#: The keys a spec may have, with the TOML type each must be.
_KEYS: dict[str, type] = {
    "name": str,
    "trunk_sid": str,
    "numbers": list,
    "ips": list,
    "destinations": list,
    "alias": str,
    "nso_code": str,
    "domain_name": str,
    "credentials": list,
}
#: The keys of a number, and of a credential, given as a table.
_NUMBER_KEYS = ("phone_number", "mode")
_CREDENTIAL_KEYS = ("user_name", "friendly_name", "password_env")
#: A valid name to build a spec around a single field being checked.
_PLACEHOLDER = "spec_check"
_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
_BARE_KEY = r"[A-Za-z0-9_-]+"


@attrs.frozen
class Problem:
    """One problem in a spec: the key it is about (``None`` for the file), its line, why."""

    key: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        # A syntax error (no key) says its position itself.
        where = f"line {self.line}: " if self.line is not None and self.key is not None else ""
        return f"{where}{self.message}"


class SpecError(Exception):
    """A spec file that cannot be applied, with every problem found in it.

    Attributes:
        path: The spec file.
        problems: The problems, in the order of the file where lines are known.
    """

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{path}: {count}: " + "; ".join(str(p) for p in problems))


def load_spec(path: str) -> TrunkSpec:
    """Read a :class:`TrunkSpec` from a TOML file.

    Raises:
        SpecError: the file is not TOML, or not a valid spec; it lists every problem found.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(path, [_syntax_problem(text, error)]) from None
    locate = _Locator(text)
    problems = sorted(_problems(data, locate), key=lambda p: (p.line is None, p.line or 0))
    if not problems:
        try:
            return TrunkSpec.from_dict(data)
        except (InvalidParameterError, TypeError) as error:
            # What only the whole spec can show (a number listed twice with two modes).
            key = getattr(error, "argument", None)
            problems = [Problem(key, locate.line(key), str(error))]
    raise SpecError(path, problems)


def _syntax_problem(text: str, error: Exception) -> Problem:
    """``TOML syntax error at line 3, column 1: Invalid value``."""
    message = str(error)
    found = _POSITION.search(message)
    if found is None:
        return Problem(None, None, f"TOML syntax error: {message}")
    reason = message[: found.start()]
    if found.group(1) is not None:
        line, column = int(found.group(1)), int(found.group(2))
    else:  # "at end of document"
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return Problem(None, line, f"TOML syntax error at line {line}, column {column}: {reason}")


def _problems(data: Mapping[str, Any], locate: _Locator) -> Iterator[Problem]:
    for key in data:
        if key not in _KEYS:
            yield Problem(
                key,
                locate.line(key),
                f"unknown key {key!r}; a spec has: {', '.join(sorted(_KEYS))}",
            )
    if "name" not in data:
        yield Problem("name", None, "name is missing: a spec needs the trunk's name")
    for key, kind in _KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, kind):
            what = "a list" if kind is list else "a string"
            yield Problem(
                key,
                locate.line(key),
                f"{key} = {value!r} is invalid: expected {what}, got {_toml_type(value)}",
            )
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from _item_problems(key, index, item, locate)
        else:
            yield from _check(key, value, locate.line(key), key)


def _item_problems(key: str, index: int, item: object, locate: _Locator) -> Iterator[Problem]:
    at = f"{key}[{index}]"
    line = locate.line(key, index)
    if key == "numbers" and isinstance(item, dict):
        unknown = [k for k in item if k not in _NUMBER_KEYS]
        for name in unknown:
            yield Problem(
                at, line, f"{at}: unknown key {name!r}; a number has: {', '.join(_NUMBER_KEYS)}"
            )
        if "phone_number" not in item:
            yield Problem(at, line, f"{at}: phone_number is missing")
            return
        if unknown:
            return
    elif key == "credentials" and isinstance(item, dict):
        # A value under an unknown key may be a password: it is never shown.
        unknown = [k for k in item if k not in _CREDENTIAL_KEYS]
        for name in unknown:
            yield Problem(
                at,
                line,
                f"{at}: unknown key {name!r}; a credential has: {', '.join(_CREDENTIAL_KEYS)}"
                + (" (a spec holds no passwords: use password_env)" if name == "password" else ""),
            )
        if "user_name" not in item:
            yield Problem(at, line, f"{at}: user_name is missing")
            return
        if unknown:
            return
    elif not isinstance(item, str):
        expected = {
            "numbers": "a string or a table with phone_number",
            "credentials": "a user name or a table with user_name",
        }.get(key, "a string")
        yield Problem(
            at, line, f"{at} = {item!r} is invalid: expected {expected}, got {_toml_type(item)}"
        )
        return
    yield from _check(key, [item], line, at)


def _check(key: str, value: object, line: int | None, at: str) -> Iterator[Problem]:
    """Let :class:`TrunkSpec` judge one field's value, alone; the error names ``at``."""
    fields: dict[str, Any] = {key: value} if key == "name" else {"name": _PLACEHOLDER, key: value}
    try:
        TrunkSpec(**fields)
    except InvalidParameterError as error:
        message = str(error)
        first = f"{key}[0]"
        if at != first and error.argument.startswith(first):
            # Judged as the only item of a one-item list: name the item's real position.
            message = at + message[len(first) :]
        yield Problem(at, line, message)


def _toml_type(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float"}
    names |= {list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


class _Locator:
    """Finds the line of a top-level key, or of an item of its array, in a TOML text."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: dict[str, int] = {}  # key -> offset just after its "=", or its header
        self._headers: dict[str, list[int]] = {}  # key -> offsets of its [[key]] headers
        self._scan()

    def line(self, key: str | None, index: int | None = None) -> int | None:
        """The 1-based line of ``key`` (or of its ``index``-th item), or ``None``."""
        if key is None:
            return None
        found = re.fullmatch(rf"({_BARE_KEY})\[(\d+)\](?:\.{_BARE_KEY})?", key)
        if found is not None and index is None:
            key, index = found.group(1), int(found.group(2))
        offset: int | None
        if key in self._headers:
            headers = self._headers[key]
            offset = headers[index] if index is not None and index < len(headers) else headers[0]
        elif key in self._starts:
            offset = self._starts[key]
            if index is not None:
                offset = _array_item(self._text, offset, index)
        else:
            return None
        return None if offset is None else self._text.count("\n", 0, offset) + 1

    def _scan(self) -> None:
        key = rf"\s*(?:({_BARE_KEY})|\"([^\"\\]*)\"|'([^']*)')\s*"
        assignment = re.compile(rf"{key}=")
        table = re.compile(rf"\[{key}\]")
        tables = re.compile(rf"\[\[{key}\]\]")
        offset = 0
        in_table = False
        for raw in self._text.splitlines(keepends=True):
            line = raw.rstrip("\r\n")
            match = tables.match(line)
            if match is not None:
                self._headers.setdefault(_name(match), []).append(offset)
                in_table = True
            elif (match := table.match(line)) is not None:
                self._starts.setdefault(_name(match), offset)
                in_table = True
            elif not in_table and (match := assignment.match(line)) is not None:
                self._starts.setdefault(_name(match), offset + match.end())
            offset += len(raw)


def _name(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None)


def _array_item(text: str, start: int, index: int) -> int | None:
    """The offset where item ``index`` of the array that follows ``start`` begins."""
    at = start
    while at < len(text) and text[at] in " \t":
        at += 1
    if at >= len(text) or text[at] != "[":
        return None
    depth, expecting, seen = 0, True, -1
    while at < len(text):
        char = text[at]
        if char == "#":
            newline = text.find("\n", at)
            at = len(text) if newline < 0 else newline
            continue
        if depth == 1 and expecting and char not in " \t\r\n,]":
            seen += 1
            if seen == index:
                return at
            expecting = False
        if char in "\"'":
            at = _string_end(text, at)
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return None
        elif char == "," and depth == 1:
            expecting = True
        at += 1
    return None


def _string_end(text: str, at: int) -> int:
    """The offset just past the string starting at ``at`` (basic, literal, or multi-line)."""
    quote = text[at]
    delimiter = quote * 3 if text.startswith(quote * 3, at) else quote
    at += len(delimiter)
    while at < len(text):
        if quote == '"' and text[at] == "\\":
            at += 2
            continue
        if text.startswith(delimiter, at):
            return at + len(delimiter)
        at += 1
    return at
