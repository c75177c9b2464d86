"""``numbers import`` and ``ips import``: a file of items through the bulk executor, live.

Which column of a CSV holds the items (the rule the help and the README state):

1. ``--column NAME`` (a header's name) or ``--column N`` (the N-th column, from 1);
2. else, a file of one column: that column;
3. else, the one column whose header is a known name (:data:`KNOWN_COLUMNS`: ``phone_number``,
   ``number``, ``phone``, ``mobile``, ... for numbers; ``ip``, ``address``, ``cidr``, ... for
   IPs), compared in lower case with spaces and hyphens read as ``_``.

Anything else (no known name, several, or several columns and no header) ends with exit code 2,
the header and a ``--column`` hint: never a guess. The first row is a header when none of its
cells looks like an item. The choice is printed before anything is sent.
"""

from __future__ import annotations

import csv
import json
import os
import re
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
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    InvalidParameterError,
    MappedElsewhereError,
    ResponseDecodeError,
)
from ._app import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Settings,
    exit_code_for,
    hint_for,
    run,
)
from ._interrupt import Interruption, interruptible
from ._progress import ClientActivity, bulk_progress, follow, status_of

Kind = Literal["numbers", "ips"]

#: Header names that mark the column of items, by kind (lower case; spaces and hyphens in a
#: header are read as ``_``). A header with none of them, or several, needs ``--column``.
KNOWN_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "numbers": (
        "phone_number",
        "number",
        "phone",
        "mobile",
        "mobile_number",
        "msisdn",
        "did",
        "e164",
    ),
    "ips": ("ip", "ip_address", "address", "cidr", "network", "subnet"),
}
#: A cell that looks like an item (so its row is data, not a header): digits with ``+ - ( ) .``
#: and spaces for a number; digits, dots and a ``/nn`` for an address or range.
_ITEM_LIKE: dict[Kind, re.Pattern[str]] = {
    "numbers": re.compile(r"\+?[\d\s().-]*\d[\d\s().-]*"),
    "ips": re.compile(r"[\d.]*\d[\d.]*(/\d*)?"),
}
#: How many bad rows the summary lists before pointing at --output.
_LISTED = 100
#: How many repeated rows the summary names.
_REPEATS_NAMED = 5


@attrs.frozen
class Column:
    """Which column holds the items, and why: printed before anything is sent.

    Attributes:
        index: Its position, from 0.
        name: Its header, if the file has a header.
        why: The rule that chose it.
        header_line: The header's line number, if the file has a header.
    """

    index: int
    name: str | None
    why: str
    header_line: int | None = None

    def describe(self) -> str:
        """``column 2 "mobile" (a known name), header on line 1``."""
        named = f' "{self.name}"' if self.name else ""
        header = "no header" if self.header_line is None else f"header on line {self.header_line}"
        return f"column {self.index + 1}{named} ({self.why}), {header}"


@attrs.frozen
class Items:
    """The items of an input file, the line each came from, and the column they came from."""

    items: list[str]
    lines: list[int]
    column: Column


@attrs.frozen
class Row:
    """One input item's result, as written to ``--output``."""

    index: int
    line: int
    item: str
    status: str
    id: str | None
    error: str | None
    #: For a number mapped to another trunk: that trunk's sid, or ``"yes"`` if not named.
    on_another_trunk: str | None = None
    #: For a repeat of an earlier row of the input: that row's line.
    repeats_line: int | None = None
    #: Why the row was not applied, for the summary table (``error`` has the whole message).
    reason: str = ""
    #: The error itself, to tell the rows that a fatal error stopped from the others.
    cause: Exception | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def shown_status(self) -> str:
        """``"elsewhere"`` for a number on another trunk, else ``status``."""
        return "elsewhere" if self.on_another_trunk else self.status


#: The fields of a row written to ``--output`` and listed in the JSON summary.
_FIELDS = ("index", "line", "item", "status", "id", "error", "on_another_trunk", "repeats_line")


def read_items(source: IO[str], kind: Kind, column: str | None) -> Items:
    """Read items from a CSV file, with or without a header, or from one item per line.

    Blank lines and lines starting with ``#`` are skipped. The column is chosen by the rule
    in this module's docstring.

    Raises:
        click.UsageError: no column can be chosen; the message shows the header and the fix.
    """
    rows = csv.reader(source)
    items: list[str] = []
    lines: list[int] = []
    chosen: Column | None = None
    for row in rows:
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if chosen is None:
            chosen = choose_column(cells, rows.line_num, kind, column)
            if chosen.header_line is not None:
                continue
        items.append(cells[chosen.index] if chosen.index < len(cells) else "")
        lines.append(rows.line_num)
    return Items(items, lines, chosen or Column(0, None, "the only column"))


def choose_column(first: list[str], line: int, kind: Kind, column: str | None) -> Column:
    """The column of the items, from the file's first row (see this module's docstring).

    Raises:
        click.UsageError: ``--column`` names no column of the file, or no rule applies.
    """
    while first and not first[-1]:
        first = first[:-1]  # "number," is one column
    pattern = _ITEM_LIKE[kind]
    has_header = not any(pattern.fullmatch(cell) for cell in first)
    header = first if has_header else None
    header_line = line if has_header else None

    def at(index: int, why: str) -> Column:
        return Column(index, None if header is None else header[index], why, header_line)

    if column is not None:
        return at(_given_column(first, header, line, kind, column), "--column")
    if len(first) == 1:
        return at(0, "the only column")
    if header is None:
        raise _no_column(
            kind, first, line, f"line {line} has {len(first)} columns and no header to name them"
        )
    known = [i for i, name in enumerate(header) if _normal(name) in KNOWN_COLUMNS[kind]]
    if len(known) == 1:
        return at(known[0], f"a known name for {kind}")
    if known:
        names = ", ".join(repr(header[i]) for i in known)
        raise _no_column(kind, first, line, f"several columns could hold the {kind}: {names}")
    return _raise_unknown(kind, first, line)


def _given_column(
    first: list[str], header: list[str] | None, line: int, kind: Kind, column: str
) -> int:
    """The index ``--column`` gives: a header's name, or a position from 1."""
    if column.strip().isdigit():
        number = int(column)
        if not 1 <= number <= len(first):
            raise click.BadParameter(
                f"{column!r}: line {line} has {len(first)} columns; give 1 to {len(first)}",
                param_hint="--column",
            )
        return number - 1
    if header is None:
        raise click.BadParameter(
            f"{column!r}: the file has no header (line {line} is data: "
            f"{', '.join(first)}); give the column's position, e.g. --column 1",
            param_hint="--column",
        )
    names = [_normal(name) for name in header]
    if _normal(column) not in names:
        raise click.BadParameter(
            f"no column {column!r} in the header on line {line}: {', '.join(header)}",
            param_hint="--column",
        )
    return names.index(_normal(column))


def _normal(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _raise_unknown(kind: Kind, first: list[str], line: int) -> Column:
    known = ", ".join(KNOWN_COLUMNS[kind])
    raise _no_column(kind, first, line, f"no column has a known name for {kind} ({known})")


def _no_column(kind: Kind, first: list[str], line: int, why: str) -> click.UsageError:
    return click.UsageError(
        f"cannot tell which column holds the {kind}: {why}.\n"
        f"  line {line}: {', '.join(first)}\n"
        "Give it with --column NAME (a header) or --column N (its position, from 1)."
    )


def import_command(kind: Kind) -> click.Command:
    """Build the ``import`` subcommand for numbers or IPs."""
    noun = "numbers" if kind == "numbers" else "IPs or CIDR ranges"
    example = "+919876543210" if kind == "numbers" else "203.0.113.0/28"
    known = ", ".join(KNOWN_COLUMNS[kind][:4])

    @click.command("import")
    @click.argument("trunk_sid")
    @click.argument("file", type=click.File("r", encoding="utf-8-sig"))
    @click.option(
        "--column",
        metavar="NAME|N",
        help="The CSV column of the items: a header's name, or a position from 1.",
    )
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
        source = _read(file, kind, column)
        name = getattr(file, "name", "FILE")
        settings.warn(
            f"[dim]{escape(name)}: {len(source.items)} {kind} from {source.column.describe()}[/]"
        )
        activity = ClientActivity()
        with interruptible(settings.errors) as interruption:
            started = time.monotonic()

            async def work(client: AsyncTrunkingClient) -> Imported:
                return await _import(
                    settings,
                    client,
                    interruption,
                    activity,
                    kind=kind,
                    trunk_sid=trunk_sid,
                    source=source,
                    mode=mode,
                    concurrency=concurrency,
                    skip_existing=skip_existing,
                )

            done = run(settings, work, client_options=activity.client_options())
            elapsed = time.monotonic() - started
            if output:
                _write(output, done.rows)
            summary = _summary(done, source, elapsed, activity, interruption.interrupted)
            _report(settings, done, summary, output)
        code = _exit_code(done, interruption.interrupted)
        if code != EXIT_OK:
            sys.exit(code)

    command.help = (
        f"Add the {noun} listed in FILE to TRUNK_SID, with a live progress bar.\n\n"
        f"FILE is a CSV file, or one item per line such as {example}; '-' reads standard "
        "input. Blank lines and lines starting with # are skipped. The column is --column "
        "NAME or N if given; else the only column; else the one whose header is a known "
        f"name ({known}, ...). Anything else stops with exit code 2 before anything is "
        "sent: the column is never guessed. The choice is printed.\n\n"
        "Bad rows are reported with their line number, not fatal: the rest is still added, "
        "and the exit code is 1. A number mapped to another trunk is counted apart ('on "
        "another trunk') and exits 1 too. Running the same file again is safe: what is "
        "already on the trunk is "
        "reported as 'exists'; a row that repeats an earlier one says which line.\n\n"
        "Ctrl-C stops the run: the counts so far are printed, --output lists every item "
        "that has an outcome, and the exit code is 130."
    )
    command.short_help = f"Add the {noun} listed in a CSV file, with a progress bar."
    if kind == "numbers":
        command = click.option(
            "--mode", type=click.Choice(["pstn", "flow"]), help="pstn (default) or flow."
        )(command)
    return command


def _read(source: IO[str], kind: Kind, column: str | None) -> Items:
    name = getattr(source, "name", "FILE")
    try:
        read = read_items(source, kind, column)
    except (UnicodeDecodeError, csv.Error) as error:
        raise click.BadParameter(
            f"{name} is not a text CSV file: {error}", param_hint="FILE"
        ) from None
    if not read.items:
        raise click.BadParameter(f"{name} lists no {kind}", param_hint="FILE")
    return read


def _check_writable(path: str) -> None:
    """Refuse an ``--output`` that cannot be written before any work is done."""
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {str(folder)!r} does not exist", param_hint="--output")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise click.BadParameter(f"{path!r} is not writable", param_hint="--output")


@attrs.frozen
class Imported:
    """What an import did: a row per item that has an outcome, in input order.

    Attributes:
        rows: One per item with an outcome (all of them, unless interrupted).
        total: The number of input items.
        fatal_error: The error that stopped the run (401, 403, 404 for the trunk), if any.
    """

    rows: list[Row]
    total: int
    fatal_error: Exception | None = None

    def stopped_by_fatal(self, row: Row) -> bool:
        """Whether ``row`` failed with the run's fatal error (summed up in one line)."""
        fatal = self.fatal_error
        return (
            fatal is not None
            and row.status == "failed"
            and type(row.cause) is type(fatal)
            and getattr(row.cause, "status_code", None) == getattr(fatal, "status_code", None)
        )


async def _import(
    settings: Settings,
    client: AsyncTrunkingClient,
    interruption: Interruption,
    activity: ClientActivity,
    *,
    kind: Kind,
    trunk_sid: str,
    source: Items,
    mode: str | None,
    concurrency: int,
    skip_existing: bool,
) -> Imported:
    items, lines = source.items, source.lines
    rows: list[Row | None] = [None] * len(items)
    options: dict[str, Any] = {"concurrency": concurrency, "skip_existing": skip_existing}
    opened: AbstractAsyncContextManager[BulkStream[Any]]
    if kind == "numbers":
        opened = client.bulk.stream_phone_numbers(trunk_sid, items, mode=mode, **options)
    else:
        opened = client.bulk.stream_whitelist_ips(trunk_sid, items, **options)
    fatal_error: Exception | None = None
    progress = bulk_progress(settings.errors, activity=activity, disable=not settings.show_progress)

    def keep(outcome: ItemOutcome[Any]) -> None:
        rows[outcome.index] = _row(outcome, lines)

    async with interruption.stopping():
        with progress:
            try:
                async with opened as stream:
                    await follow(stream, progress, f"importing {kind}", keep)
                fatal_error = stream.fatal_error
            except (APIStatusError, APIConnectionError, ResponseDecodeError) as error:
                # Before any item (the --skip-existing listing): every item is stopped by it.
                fatal_error = error
                for index, item in enumerate(items):
                    outcome: ItemOutcome[Any] = ItemOutcome(
                        item, "failed", error=error, index=index
                    )
                    rows[index] = rows[index] or _row(outcome, lines)
    return Imported([row for row in rows if row is not None], len(items), fatal_error)


def _row(outcome: ItemOutcome[Any], lines: list[int]) -> Row:
    error = outcome.error
    if error is None:
        text = reason = None
    else:
        reason = _reason(error)
        # The row names the item already; an API error keeps its request_id for support.
        detail = reason if isinstance(error, InvalidParameterError) else str(error)
        text = f"{type(error).__name__}: {detail}"
    elsewhere = None
    if status_of(outcome) == "elsewhere":
        assert isinstance(error, MappedElsewhereError)
        elsewhere = error.held_by or "yes"
    first = outcome.duplicate_of
    repeats = None if first is None else lines[first]
    if repeats is not None and reason:
        reason = f"repeats line {repeats}: {reason}"
    return Row(
        index=outcome.index,
        line=lines[outcome.index],
        item=str(outcome.item),
        status=outcome.status,
        id=getattr(outcome.value, "id", None),
        error=text,
        on_another_trunk=elsewhere,
        repeats_line=repeats,
        reason=reason or "",
        cause=error,
    )


def _reason(error: BaseException) -> str:
    """The short why of a row's error: an invalid item's message without the item."""
    text = str(error)
    if isinstance(error, MappedElsewhereError):
        return f"mapped to trunk {error.held_by}" if error.held_by else "mapped to another trunk"
    if isinstance(error, InvalidParameterError):
        return text.partition(" is invalid: ")[2] or text
    if isinstance(error, APIStatusError) and (error.description or error.message):
        return f"{error.status_code} {error.description or error.message}"
    return text


def iter_rows(rows: list[Row]) -> Iterator[dict[str, Any]]:
    """Rows as dicts, for JSON and CSV output."""
    return ({name: getattr(row, name) for name in _FIELDS} for row in rows)


def _write(path: str, rows: list[Row]) -> None:
    """Write the rows to ``path`` atomically: a temporary file beside it, synced, then a rename.

    An interrupted write leaves the previous file whole, never half of the new one.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", newline="", encoding="utf-8") as out:
            if path.lower().endswith(".json"):
                json.dump(list(iter_rows(rows)), out, indent=2)
            else:
                writer = csv.DictWriter(out, fieldnames=_FIELDS)
                writer.writeheader()
                writer.writerows(iter_rows(rows))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


#: The counts of the summary, by shown status, with their heading and style.
_COUNTS = (
    ("created", "created", "created", "green"),
    ("exists", "exists", "exists", "blue"),
    ("elsewhere", "on_another_trunk", "on another trunk", "magenta"),
    ("invalid", "invalid", "invalid", "yellow"),
    ("failed", "failed", "failed", "red"),
)


def _summary(
    done: Imported,
    source: Items,
    elapsed: float,
    activity: ClientActivity,
    interrupted: bool,
) -> dict[str, Any]:
    """The summary printed (and, with ``--json``, the JSON document on stdout)."""
    by_status = dict.fromkeys((shown for shown, *_ in _COUNTS), 0)
    for row in done.rows:
        by_status[row.shown_status] += 1
    fatal = done.fatal_error
    column = source.column
    return {
        "total": done.total,
        **{key: by_status[shown] for shown, key, *_ in _COUNTS},
        "not_done": done.total - len(done.rows),
        "interrupted": interrupted,
        "seconds": round(elapsed, 3),
        "per_second": round(len(done.rows) / elapsed, 1) if elapsed > 0 else None,
        "rate_limit_holds": activity.holds,
        "rate_limited_seconds": round(activity.held_seconds, 1),
        "retries": activity.retries,
        "column": {"number": column.index + 1, "name": column.name, "why": column.why},
        "error": None if fatal is None else f"{type(fatal).__name__}: {fatal}",
        "stopped_by_error": sum(1 for row in done.rows if done.stopped_by_fatal(row)),
        "problems": list(iter_rows(_problems(done))),
    }


def _problems(done: Imported) -> list[Row]:
    """The rows not applied, without those the fatal error stopped (one line says those)."""
    return [
        row
        for row in done.rows
        if row.status in ("invalid", "failed") and not done.stopped_by_fatal(row)
    ]


def _report(
    settings: Settings, done: Imported, summary: dict[str, Any], output: str | None
) -> None:
    def human() -> None:
        console = settings.console
        table = Table(title="Import summary", title_justify="left")
        shown = [c for c in _COUNTS if c[0] != "elsewhere" or summary["on_another_trunk"]]
        table.add_column("total", justify="right")
        for _, key, heading, style in shown:
            table.add_column(heading, justify="right", style=style if summary[key] else None)
        table.add_row(str(summary["total"]), *(str(summary[key]) for _, key, *_ in shown))
        console.print(table)
        console.print(_pace_line(summary), soft_wrap=True)
        _print_problems(settings, done)
        _print_repeats(settings, done)

    settings.emit(summary, human)
    # On stderr with --json too: what stopped the run is for the person who started it.
    if done.fatal_error is not None:
        _print_stopped(settings, done, summary, output)
    if summary["interrupted"]:
        _print_interrupted(settings, summary, output)


def _pace_line(summary: dict[str, Any]) -> str:
    """``Took 12.3 s (162 per second); held back by the rate limit twice (61 s) ...``."""
    rate = summary["per_second"]
    text = f"Took {summary['seconds']:.1f} s" + (f" ({rate:g} per second)" if rate else "")
    holds = summary["rate_limit_holds"]
    if holds:
        times = "once" if holds == 1 else f"{holds} times"
        text += f"; held back by the rate limit {times} ({summary['rate_limited_seconds']:g} s)"
    if summary["retries"]:
        text += f"; {summary['retries']} requests retried"
    return text + "."


def _print_problems(settings: Settings, done: Imported) -> None:
    problems = _problems(done)
    if not problems:
        return
    styles = {code: style for code, _, _, style in _COUNTS}
    title = f"{_rows_text(len(problems))} not applied"
    bad = Table(title=title, title_justify="left")
    bad.add_column("line", justify="right")
    bad.add_column("item", overflow="fold")
    bad.add_column("status")
    bad.add_column("why", overflow="fold")
    for row in problems[:_LISTED]:
        status = row.shown_status
        label = "on another trunk" if status == "elsewhere" else status
        bad.add_row(
            str(row.line), escape(row.item), f"[{styles[status]}]{label}[/]", escape(row.reason)
        )
    settings.console.print(bad)
    if len(problems) > _LISTED:
        settings.console.print(
            f"... and {len(problems) - _LISTED} more: --output FILE lists every row."
        )


def _print_repeats(settings: Settings, done: Imported) -> None:
    repeats = [row for row in done.rows if row.repeats_line is not None]
    if not repeats:
        return
    named = ", ".join(
        f"line {r.line} repeats line {r.repeats_line}" for r in repeats[:_REPEATS_NAMED]
    )
    more = "" if len(repeats) <= _REPEATS_NAMED else f", and {len(repeats) - _REPEATS_NAMED} more"
    verb = "repeats" if len(repeats) == 1 else "repeat"
    settings.console.print(
        f"{_rows_text(len(repeats))} {verb} an earlier row (sent once): {named}{more}.",
        soft_wrap=True,
    )


def _rows_text(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _print_stopped(
    settings: Settings, done: Imported, summary: dict[str, Any], output: str | None
) -> None:
    """The one line for the rows a fatal error stopped, and its hint."""
    fatal = done.fatal_error
    assert fatal is not None
    count = summary["stopped_by_error"]
    where = f"{output} lists each" if output else "--output FILE lists each"
    settings.errors.print(
        f"[bold red]stopped:[/] {type(fatal).__name__}: {escape(str(fatal))}\n"
        f"  {count} of {done.total} items not applied because of it ({escape(where)})",
        soft_wrap=True,
    )
    hint = hint_for(fatal)
    if hint is not None:
        settings.errors.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)


def _print_interrupted(settings: Settings, summary: dict[str, Any], output: str | None) -> None:
    done = summary["total"] - summary["not_done"]
    listed = f"; {output} lists the {done} with an outcome" if output else ""
    settings.errors.print(
        f"[bold yellow]interrupted:[/] {done} of {summary['total']} items done, "
        f"{summary['not_done']} not sent{escape(listed)}. Requests in flight when it stopped "
        "may have been applied: running the same file again is safe.",
        soft_wrap=True,
    )


def _exit_code(done: Imported, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if done.fatal_error is not None:
        return exit_code_for(done.fatal_error)
    if any(row.status in ("invalid", "failed") for row in done.rows):
        return EXIT_FAILED
    return EXIT_OK
