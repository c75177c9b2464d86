"""The live progress bar of bulk work: done/total, rate, ETA and counts by status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .._bulk import BulkStream, ItemOutcome

_COUNTS = (
    "[green]{task.fields[created]} created[/] [blue]{task.fields[exists]} exist[/] "
    "[yellow]{task.fields[invalid]} invalid[/] [red]{task.fields[failed]} failed[/]"
)


class RateColumn(ProgressColumn):
    """Items per second."""

    def render(self, task: Task) -> Text:
        """Render the task's speed."""
        speed = task.speed
        return Text("  -/s" if speed is None else f"{speed:5.0f}/s", style="progress.data.speed")


def bulk_progress(console: Console, *, disable: bool = False) -> Progress:
    """A progress display for bulk work, on ``console`` (stderr, so stdout stays clean)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn(_COUNTS),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )


async def follow(
    stream: BulkStream[Any],
    progress: Progress,
    description: str,
    on_outcome: Callable[[ItemOutcome[Any]], object] | None = None,
) -> None:
    """Consume ``stream``, updating a bar on ``progress`` as outcomes arrive."""
    counts: dict[str, Any] = {str(status): n for status, n in stream.counts.items()}
    task = progress.add_task(description, total=stream.total, **counts)
    async for outcome in stream:
        if on_outcome is not None:
            on_outcome(outcome)
        counts.update({str(status): n for status, n in stream.counts.items()})
        progress.update(task, completed=stream.done, **counts)
