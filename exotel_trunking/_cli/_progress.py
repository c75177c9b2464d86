"""The live progress bar of bulk work: done/total, rate, ETA, and counts by status.

Two lines per task, so that it fits an 80-column terminal::

    ⠹ importing numbers ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━  2210/5000  312/s  ETA 0:00:09
      2188 created · 0 exist · 22 invalid · 0 failed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from .._bulk import BulkStream, ItemOutcome

#: The statuses counted under the bar, with their style.
_STATUSES = (("created", "green"), ("exists", "blue"), ("invalid", "yellow"), ("failed", "red"))


class RateColumn(ProgressColumn):
    """Items per second: recent while running, the average once finished."""

    def render(self, task: Task) -> Text:
        """Render the task's speed."""
        if task.finished and task.finished_time:
            speed: float | None = task.completed / task.finished_time
        else:
            speed = task.speed
        return Text("   -/s" if speed is None else f"{speed:4.0f}/s", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """The time left while running ("ETA 0:00:09"), the time taken once finished."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        """Render the estimate."""
        if task.finished:
            return Text(f"took {_clock(task.finished_time)}", style="progress.elapsed")
        left = task.time_remaining
        return Text(f"ETA {_clock(left) if left is not None else '-:--:--'}", "progress.remaining")


def _clock(seconds: float | None) -> str:
    return str(timedelta(seconds=int(seconds or 0)))


class BulkProgress(Progress):
    """A :class:`~rich.progress.Progress` with a line of counts under each bar."""

    def get_renderables(self) -> Iterable[RenderableType]:
        """The bars, each followed by its counts by status."""
        for task in self.tasks:
            yield self.make_tasks_table([task])
            yield counts_line(task.fields)


def counts_line(fields: dict[str, Any]) -> Text:
    """``2188 created · 0 exist · 22 invalid · 0 failed``."""
    line = Text("  ")
    for index, (status, style) in enumerate(_STATUSES):
        if index:
            line.append(" · ", style="dim")
        label = "exist" if status == "exists" else status
        line.append(f"{fields.get(status, 0)} {label}", style=style)
    return line


def bulk_progress(console: Console, *, disable: bool = False) -> Progress:
    """A progress display for bulk work, on ``console`` (stderr, so stdout stays clean)."""
    return BulkProgress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        RateColumn(),
        EtaColumn(),
        console=console,
        disable=disable,
        expand=True,
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
