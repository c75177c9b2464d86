"""The live progress display of bulk work: done/total, a recent rate and ETA, holds, retries.

Up to three lines per task, so that it fits an 80-column terminal::

    ⠹ importing numbers ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━  2210/5000  312/s  ETA 0:00:09
      2188 created · 0 exist · 0 on another trunk · 22 invalid · 0 failed
      retrying: 4 requests in the last 10 s (503)

The rate and the ETA come from the last :data:`RECENT` seconds, not from the start, so they
fall when the work slows down. While the client is held back by the rate limit they give way to
``rate-limited, resuming in 42 s``, counting down: the display never stands still on a rate
that is not happening.

The pieces, for any command that drives bulk work (``numbers import``, ``apply``)::

    activity = ClientActivity()  # before the client: the client's hooks feed it
    run(settings, work, client_options=activity.client_options())

    # inside work(client):
    with bulk_progress(settings.errors, activity=activity) as progress:
        task = progress.add_bulk_task("mapping numbers", total=len(numbers))
        progress.record(task, done, {"created": 3, "exists": 1})  # as items finish
        # or, for a BulkStream: await follow(stream, progress, "mapping numbers", on_outcome)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
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
    TaskID,
    TextColumn,
)
from rich.table import Column
from rich.text import Text

from .._bulk import BulkStream, ItemOutcome
from .._exceptions import MappedElsewhereError
from .._transport import RateLimitWait, RetryEvent

#: Seconds of recent work that the rate, the ETA and the "retrying" line are drawn from.
RECENT = 10.0
#: Progress samples closer together than this are merged, so memory stays bounded.
_RESOLUTION = 0.1
#: How long after its start a task's rate is unknown (one instant says nothing about a rate).
_MIN_SPAN = 1.0
#: From how many seconds a hold's countdown reads as h:mm:ss rather than seconds.
_MINUTES = 120

#: The statuses counted under the bar: (status, label, style). ``"elsewhere"`` is a ``"failed"``
#: outcome whose number is mapped to another trunk (:func:`status_of`).
STATUSES = (
    ("created", "created", "green"),
    ("exists", "exist", "blue"),
    ("elsewhere", "on another trunk", "magenta"),
    ("invalid", "invalid", "yellow"),
    ("failed", "failed", "red"),
)


def status_of(outcome: ItemOutcome[Any]) -> str:
    """The status shown for ``outcome``: its own, or ``"elsewhere"`` for a number on another trunk.

    A number that Exotel refused because another trunk holds it is ``"failed"`` for the SDK;
    the command line counts and colours it apart, since the fix is not a retry.
    """
    if outcome.status == "failed" and isinstance(outcome.error, MappedElsewhereError):
        return "elsewhere"
    return outcome.status


class ClientActivity:
    """What holds a client's requests up: the current rate-limit hold and recent retries.

    Fed by the client's ``on_rate_limit_wait`` and ``on_retry`` hooks (build the client with
    ``**activity.client_options()``), read by the progress display and by a closing summary.
    The hooks run in the event loop and the display in rich's refresh thread: a lock keeps
    them apart.

    Args:
        clock: Monotonic seconds; tests pass a fake one.
        window: Seconds for which a retry counts as recent.

    Attributes:
        holds: How many times the client's requests were held back.
        held_seconds: For how long in all (overlapping holds counted once).
        retries: How many requests were retried.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, window: float = RECENT):
        self.clock = clock
        self.window = window
        self.holds = 0
        self.held_seconds = 0.0
        self.retries = 0
        self._until = float("-inf")
        self._reason = ""
        self._recent: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def client_options(self) -> dict[str, Any]:
        """The client arguments that feed this object: ``on_rate_limit_wait`` and ``on_retry``."""
        return {"on_rate_limit_wait": self.on_rate_limit_wait, "on_retry": self.on_retry}

    def on_rate_limit_wait(self, wait: RateLimitWait) -> None:
        """The client's ``on_rate_limit_wait`` hook: a hold of ``wait.seconds`` starts now."""
        with self._lock:
            now = self.clock()
            until = now + wait.seconds
            self.held_seconds += max(0.0, until - max(now, self._until))
            self.holds += 1
            self._until = max(until, self._until)
            self._reason = wait.reason

    def on_retry(self, event: RetryEvent) -> None:
        """The client's ``on_retry`` hook: a request is about to be retried."""
        with self._lock:
            self.retries += 1
            self._recent.append((self.clock(), event.reason))
            self._forget(self.clock())

    def hold_left(self) -> float | None:
        """Seconds until the current hold ends, or ``None`` when requests are not held."""
        with self._lock:
            left = self._until - self.clock()
        return left if left > 0 else None

    def hold_text(self) -> str | None:
        """``"rate-limited, resuming in 42 s"`` while requests are held, else ``None``."""
        left = self.hold_left()
        if left is None:
            return None
        with self._lock:
            what = "quota used up" if self._reason == "quota" else "rate-limited"
        seconds = int(-(-left // 1))  # rounded up: never "in 0 s"
        when = f"{seconds} s" if seconds < _MINUTES else _clock(seconds)
        return f"{what}, resuming in {when}"

    def recent_retries(self) -> list[str]:
        """The reasons (``"503"``, ``"ReadTimeout"``, ...) of the retries of the last window."""
        with self._lock:
            self._forget(self.clock())
            return [reason for _, reason in self._recent]

    def retry_text(self) -> str | None:
        """``"retrying: 4 requests in the last 10 s (503, 429)"``, or ``None`` if none."""
        reasons = self.recent_retries()
        if not reasons:
            return None
        kinds = ", ".join(dict.fromkeys(reasons))  # distinct, in order of first appearance
        noun = "request" if len(reasons) == 1 else "requests"
        return f"retrying: {len(reasons)} {noun} in the last {self.window:g} s ({kinds})"

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0][0] <= now - self.window:
            self._recent.popleft()


class RecentRate:
    """Items per second over the last ``window`` seconds, and the time left at that rate.

    The rate is measured up to now, not up to the last item: when items stop coming (a hold,
    a slow server) it falls, instead of standing at the last good value.

    Args:
        clock: Monotonic seconds; tests pass a fake one.
        window: Seconds of recent work the rate is drawn from.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, window: float = RECENT):
        self.clock = clock
        self.window = window
        self._samples: deque[tuple[float, int]] = deque([(clock(), 0)])
        self._lock = threading.Lock()

    def record(self, done: int) -> None:
        """Note that ``done`` items are finished by now."""
        with self._lock:
            now = self.clock()
            if len(self._samples) > 1 and now - self._samples[-2][0] < _RESOLUTION:
                self._samples[-1] = (now, done)  # merged with the last: bounded memory
            else:
                self._samples.append((now, done))
            self._prune(now)

    def per_second(self) -> float | None:
        """Items per second over the window; ``None`` for the first :data:`_MIN_SPAN` seconds."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            (start, first), (_, last) = self._samples[0], self._samples[-1]
        span = now - start
        return None if span < _MIN_SPAN else (last - first) / span

    def time_left(self, remaining: float) -> float | None:
        """Seconds to finish ``remaining`` items at the recent rate; ``None`` if it is unknown."""
        rate = self.per_second()
        return remaining / rate if rate else None

    def _prune(self, now: float) -> None:
        # The oldest sample kept is the last one at or before the window's start.
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()


class PaceColumn(ProgressColumn):
    """``312/s  ETA 0:00:09`` from the recent window, or the hold while the client is held.

    Once the task is finished: its average rate and the time it took.

    Args:
        activity: The client's holds; ``None`` when no client hook feeds the display.
    """

    def __init__(self, activity: ClientActivity | None = None) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self.activity = activity

    def render(self, task: Task) -> Text:
        """Render the rate and the estimate, or the hold."""
        if task.finished:
            elapsed = task.finished_time or 0.0
            speed = task.completed / elapsed if elapsed else None
            return Text(f"{_speed(speed)}  took {_clock(elapsed)}", style="progress.elapsed")
        held = None if self.activity is None else self.activity.hold_text()
        if held is not None:
            return Text(held, style="bold yellow")
        recent = task.fields.get("recent")
        if not isinstance(recent, RecentRate):
            return Text(f"{_speed(task.speed)}  ETA {_clock(task.time_remaining)}")
        speed = recent.per_second()
        left = None if task.total is None else recent.time_left(task.total - task.completed)
        return Text(f"{_speed(speed)}  ETA {_clock(left)}", style="progress.remaining")


def _speed(speed: float | None) -> str:
    return "   -/s" if speed is None else f"{speed:4.0f}/s"


def _clock(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=round(seconds)))


class BulkProgress(Progress):
    """A :class:`~rich.progress.Progress` with counts under each bar and a retries line.

    Make one with :func:`bulk_progress`; add a task per phase with :meth:`add_bulk_task` and
    move it on with :meth:`record`.
    """

    def __init__(
        self, *columns: ProgressColumn, activity: ClientActivity | None, **options: Any
    ) -> None:
        self.activity = activity  # before Progress's own set-up, which renders once
        super().__init__(*columns, **options)

    def add_bulk_task(self, description: str, total: int | None) -> TaskID:
        """Add a bar for ``total`` items (``None``: unknown); its rate is measured from now."""
        recent = RecentRate(clock=self.get_time)
        return self.add_task(description, total=total, recent=recent)

    def record(self, task: TaskID, done: int, counts: Mapping[str, int] | None = None) -> None:
        """``done`` items of ``task`` are finished; ``counts`` by status (:data:`STATUSES`)."""
        recent = self._tasks[task].fields.get("recent")
        if isinstance(recent, RecentRate):
            recent.record(done)
        fields: dict[str, Any] = dict(counts or {})
        self.update(task, completed=done, **fields)

    def get_renderables(self) -> Iterable[RenderableType]:
        """The bars, each followed by its counts; then what the client is retrying."""
        for task in self.tasks:
            yield self.make_tasks_table([task])
            yield counts_line(task.fields)
        retrying = None if self.activity is None else self.activity.retry_text()
        if retrying is not None:
            yield Text(f"  {retrying}", style="yellow")


def counts_line(fields: Mapping[str, Any]) -> Text:
    """``2188 created · 0 exist · 0 on another trunk · 22 invalid · 0 failed``.

    ``on another trunk`` is left out while it is 0, so that IP imports do not show it.
    """
    line = Text("  ")
    for status, label, style in STATUSES:
        count = fields.get(status, 0)
        if status == "elsewhere" and not count:
            continue
        if len(line) > 2:
            line.append(" · ", style="dim")
        line.append(f"{count} {label}", style=style)
    return line


def bulk_progress(
    console: Console,
    *,
    activity: ClientActivity | None = None,
    disable: bool = False,
    clock: Callable[[], float] | None = None,
) -> BulkProgress:
    """A progress display for bulk work, on ``console`` (stderr, so stdout stays clean).

    Args:
        console: Where to draw (the command's stderr console).
        activity: The client's holds and retries, shown while they happen.
        disable: Draw nothing (``--json`` to a pipe).
        clock: Monotonic seconds, for the rates and times shown [default: the activity's
            clock, else ``time.monotonic``]; tests pass a fake one.
    """
    get_time = clock or (activity.clock if activity is not None else time.monotonic)
    return BulkProgress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=None, table_column=Column(ratio=1)),  # the bar gives way, not text
        MofNCompleteColumn(),
        PaceColumn(activity),
        activity=activity,
        console=console,
        disable=disable,
        expand=True,
        get_time=get_time,
    )


async def follow(
    stream: BulkStream[Any],
    progress: Progress,
    description: str,
    on_outcome: Callable[[ItemOutcome[Any]], object] | None = None,
) -> None:
    """Consume ``stream``, moving a bar on ``progress`` on as outcomes arrive.

    Counts are by :func:`status_of`, so numbers on another trunk are counted apart.
    ``on_outcome`` sees every outcome first (to keep it, or write it out).
    """
    counts: dict[str, Any] = dict.fromkeys((status for status, _, _ in STATUSES), 0)
    if isinstance(progress, BulkProgress):
        task = progress.add_bulk_task(description, stream.total)
    else:
        task = progress.add_task(description, total=stream.total)
    async for outcome in stream:
        if on_outcome is not None:
            on_outcome(outcome)
        counts[status_of(outcome)] += 1
        if isinstance(progress, BulkProgress):
            progress.record(task, stream.done, counts)
        else:
            progress.update(task, completed=stream.done, **counts)
