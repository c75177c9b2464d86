"""``numbers import`` and ``ips import``: a file of items through the bulk executor, live."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import IO, Any, Literal

import attrs
import click
from rich.markup import escape
from rich.table import Table

from .._bulk import BulkStream, ItemOutcome
from .._client import AsyncTrunkingClient
from .._exceptions import APIStatusError, InvalidParameterError
from ._app import EXIT_FAILED, EXIT_OK, Settings, exit_code_for, hint_for, run
from ._progress import bulk_progress, follow

Kind = Literal["numbers", "ips"]

#: Header names recognised for the item column, by kind.
_COLUMNS = {"numbers": ("phone_number", "number", "did", "e164"), "ips": ("ip", "cidr", "address")}
#: How many bad rows the summary lists before pointing at --output.
_LISTED = 100


@attrs.frozen
class Row:
    """One input item's result, as written to ``--output``."""

    index: int
    line: int
    item: str
    status: str
    id: str | None
    error: str | None
    #: Why the row was not applied, for the summary table (``error`` has the whole message).
    reason: str = ""


#: The fields of a row written to ``--output`` and listed in the JSON summary.
_FIELDS = ("index", "line", "item", "status", "id", "error")


def read_items(source: IO[str], kind: Kind, column: str | None) -> tuple[list[str], list[int]]:
    """Read items from a CSV with a header, or from one item per line.

    Blank lines and lines starting with ``#`` are skipped. Returns the items and the line
    number each came from.
    """
    rows = csv.reader(source)
    items: list[str] = []
    lines: list[int] = []
    position: int | None = None
    for line_number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if position is None:
            position, is_header = _column(cells, kind, column)
            if is_header:
                continue
        items.append(cells[position] if position < len(cells) else "")
        lines.append(line_number)
    return items, lines


def _column(header: list[str], kind: Kind, column: str | None) -> tuple[int, bool]:
    names = [cell.lower() for cell in header]
    if column is not None:
        if column.lower() not in names:
            raise click.BadParameter(
                f"no column {column!r} in the header {header}", param_hint="--column"
            )
        return names.index(column.lower()), True
    for name in _COLUMNS[kind]:
        if name in names:
            return names.index(name), True
    looks_like_data = any(char.isdigit() for char in header[0])
    return 0, not looks_like_data


def import_command(kind: Kind) -> click.Command:
    """Build the ``import`` subcommand for numbers or IPs."""
    noun = "numbers" if kind == "numbers" else "IPs or CIDR ranges"
    example = "+919876543210" if kind == "numbers" else "203.0.113.0/28"

    @click.command("import")
    @click.argument("trunk_sid")
    @click.argument("file", type=click.File("r", encoding="utf-8-sig"))
    @click.option("--column", help="The CSV column holding the items [default: guessed].")
    @click.option(
        "--concurrency",
        default=20,
        show_default=True,
        type=click.IntRange(min=1),
        help="Requests in flight.",
    )
    @click.option("--skip-existing", is_flag=True, help="List the trunk first; send only the rest.")
    @click.option(
        "--output",
        type=click.Path(dir_okay=False),
        help="Write one row per input item to this file: JSON if it ends in .json, else CSV.",
    )
    @click.pass_obj
    def command(
        settings: Settings,
        *,
        trunk_sid: str,
        file: IO[str],
        column: str | None,
        concurrency: int,
        skip_existing: bool,
        output: str | None,
        mode: str | None = None,
    ) -> None:
        if output is not None:
            _check_writable(output)
        items, lines = _read(file, kind, column)
        started = time.monotonic()

        async def work(client: AsyncTrunkingClient) -> tuple[list[Row], Exception | None]:
            return await _import(
                settings,
                client,
                kind=kind,
                trunk_sid=trunk_sid,
                items=items,
                lines=lines,
                mode=mode,
                concurrency=concurrency,
                skip_existing=skip_existing,
            )

        rows, fatal_error = run(settings, work)
        elapsed = time.monotonic() - started
        if output:
            _write(output, rows)
        _report(settings, rows, elapsed, fatal_error)
        code = _exit_code(rows, fatal_error)
        if code != EXIT_OK:
            sys.exit(code)

    command.help = (
        f"Add the {noun} listed in FILE to TRUNK_SID, with a live progress bar.\n\n"
        "FILE is a CSV with a header (the column is found by name, or give --column), or "
        f"one item per line such as {example}; '-' reads standard input. Blank lines and "
        "lines starting with # are skipped.\n\n"
        "Bad rows are reported with their line number, not fatal: the rest is still added, "
        "and the exit code is 1. Running the same file again is safe: what is already there "
        "is reported as 'exists'."
    )
    command.short_help = f"Add the {noun} listed in a CSV file, with a progress bar."
    if kind == "numbers":
        command = click.option(
            "--mode", type=click.Choice(["pstn", "flow"]), help="pstn (default) or flow."
        )(command)
    return command


def _read(source: IO[str], kind: Kind, column: str | None) -> tuple[list[str], list[int]]:
    name = getattr(source, "name", "FILE")
    try:
        items, lines = read_items(source, kind, column)
    except (UnicodeDecodeError, csv.Error) as error:
        raise click.BadParameter(
            f"{name} is not a text CSV file: {error}", param_hint="FILE"
        ) from None
    if not items:
        raise click.BadParameter(f"{name} lists no {kind}", param_hint="FILE")
    return items, lines


def _check_writable(path: str) -> None:
    """Refuse an ``--output`` that cannot be written before any work is done."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {str(folder)!r} does not exist", param_hint="--output")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise click.BadParameter(f"{path!r} is not writable", param_hint="--output")


async def _import(
    settings: Settings,
    client: AsyncTrunkingClient,
    *,
    kind: Kind,
    trunk_sid: str,
    items: list[str],
    lines: list[int],
    mode: str | None,
    concurrency: int,
    skip_existing: bool,
) -> tuple[list[Row], Exception | None]:
    rows: list[Row | None] = [None] * len(items)
    options: dict[str, Any] = {"concurrency": concurrency, "skip_existing": skip_existing}
    opened: AbstractAsyncContextManager[BulkStream[Any]]
    if kind == "numbers":
        opened = client.bulk.stream_phone_numbers(trunk_sid, items, mode=mode, **options)
    else:
        opened = client.bulk.stream_whitelist_ips(trunk_sid, items, **options)
    stream: BulkStream[Any]
    with bulk_progress(settings.errors, disable=not settings.show_progress) as progress:
        async with opened as stream:

            def keep(outcome: ItemOutcome[Any]) -> None:
                rows[outcome.index] = _row(outcome, lines)

            await follow(stream, progress, f"importing {kind}", keep)
    return [row for row in rows if row is not None], stream.fatal_error


def _row(outcome: ItemOutcome[Any], lines: list[int]) -> Row:
    error = outcome.error
    if error is None:
        text = reason = None
    else:
        reason = _reason(error)
        # The row names the item already; an API error keeps its request_id for support.
        detail = reason if isinstance(error, InvalidParameterError) else str(error)
        text = f"{type(error).__name__}: {detail}"
    return Row(
        index=outcome.index,
        line=lines[outcome.index],
        item=str(outcome.item),
        status=outcome.status,
        id=getattr(outcome.value, "id", None),
        error=text,
        reason=reason or "",
    )


def _reason(error: BaseException) -> str:
    """The short why of a row's error: an invalid item's message without the item."""
    text = str(error)
    if isinstance(error, InvalidParameterError):
        return text.partition(" is invalid: ")[2] or text
    if isinstance(error, APIStatusError) and error.message:
        return f"{error.status_code} {error.message}"
    return text


def iter_rows(rows: list[Row]) -> Iterator[dict[str, Any]]:
    """Rows as dicts, for JSON and CSV output."""
    return ({name: getattr(row, name) for name in _FIELDS} for row in rows)


def _write(path: str, rows: list[Row]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        if path.lower().endswith(".json"):
            json.dump(list(iter_rows(rows)), out, indent=2)
            return
        writer = csv.DictWriter(out, fieldnames=_FIELDS)
        writer.writeheader()
        writer.writerows(iter_rows(rows))


def _summary(rows: list[Row], elapsed: float, fatal_error: Exception | None) -> dict[str, Any]:
    counts = {"created": 0, "exists": 0, "invalid": 0, "failed": 0}
    for row in rows:
        counts[row.status] += 1
    return {
        "total": len(rows),
        **counts,
        "seconds": round(elapsed, 3),
        "per_second": round(len(rows) / elapsed, 1) if elapsed > 0 else None,
        "error": None if fatal_error is None else f"{type(fatal_error).__name__}: {fatal_error}",
        "problems": list(iter_rows([row for row in rows if row.status in ("invalid", "failed")])),
    }


def _report(
    settings: Settings, rows: list[Row], elapsed: float, fatal_error: Exception | None
) -> None:
    summary = _summary(rows, elapsed, fatal_error)

    def human() -> None:
        table = Table(title="Import summary", title_justify="left")
        names = ("total", "created", "exists", "invalid", "failed", "seconds", "per_second")
        for name in names:
            table.add_column(name.replace("_", " "), justify="right")
        table.add_row(*(str(summary[name]) for name in names))
        settings.console.print(table)
        problems = [row for row in rows if row.status in ("invalid", "failed")]
        if problems:
            bad = Table(title=f"{len(problems)} rows not applied", title_justify="left")
            bad.add_column("line", justify="right")
            bad.add_column("item", overflow="fold")
            bad.add_column("status")
            bad.add_column("why", overflow="fold")
            for row in problems[:_LISTED]:
                bad.add_row(str(row.line), escape(row.item), row.status, escape(row.reason))
            settings.console.print(bad)
            if len(problems) > _LISTED:
                settings.console.print(
                    f"... and {len(problems) - _LISTED} more: --output FILE lists every row."
                )
        if fatal_error is not None:
            settings.errors.print(
                f"[bold red]stopped:[/] {type(fatal_error).__name__}: {escape(str(fatal_error))}",
                soft_wrap=True,
            )
            hint = hint_for(fatal_error)
            if hint is not None:
                settings.errors.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)

    settings.emit(summary, human)


def _exit_code(rows: list[Row], fatal_error: Exception | None) -> int:
    if fatal_error is not None:
        return exit_code_for(fatal_error)
    if any(row.status in ("invalid", "failed") for row in rows):
        return EXIT_FAILED
    return EXIT_OK
