"""The phases of ``apply`` as they happen: a live display, plain lines, and counts so far.

``client.provision`` works in phases (the trunk, numbers, IPs, destinations, the alias, the
removals with ``--prune``, the SIP credentials) and reports them through its ``on_progress``
hook: each phase's start and end, and every number, IP and credential as it settles.
:meth:`ApplyProgress.observe` is that hook; it shows the work while it goes and keeps the
counts that say how far it got when interrupted.

While a phase runs, its bar counts the items sent. Items already in place are not sent, so
they are added when the phase ends (the spec's items, less those sent); the report then
replaces every count with its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import attrs
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from .._bulk import ItemOutcome
from .._exceptions import MappedElsewhereError
from .._provision import Changes, ProvisionProgress, ProvisionReport, TrunkSpec
from .._transport import RateLimitWait
from ._progress import BulkProgress, ClientActivity, PaceColumn, counts_line, status_of

__all__ = ["PHASES", "ApplyProgress", "Phase"]

#: The phases of an apply, in the order ``provision`` goes through them (``prune`` only
#: with ``--prune``).
PHASES = ("trunk", "numbers", "ips", "destinations", "alias", "prune", "credentials")
#: The phases whose items go through the bulk executor one by one.
_ITEMIZED = ("numbers", "ips")
#: The counts kept per phase (``elsewhere``: a number mapped to another trunk).
COUNTED = ("created", "exists", "elsewhere", "invalid", "failed")

View = Literal["live", "plain"]
#: What a one-request phase's line says once it is done.
_NOTES = {"alias": "set", "credentials": "read", "destinations": "done"}


@attrs.define
class Phase:
    """One phase's progress.

    Attributes:
        name: One of :data:`PHASES`.
        size: Items of the spec for it (1 for the trunk, the alias and the removals; the
            spec's credentials, at least 1: the trunk's are read).
        state: ``"waiting"``, ``"running"`` or ``"done"``.
        sent: Items handed to the bulk executor so far (numbers and IPs).
        counts: Items settled so far, by status (:data:`COUNTED`).
        started: When it started (monotonic seconds).
        ended: When it ended.
        note: What to say of it instead of counts (the trunk's sid).
    """

    name: str
    size: int
    state: Literal["waiting", "running", "done"] = "waiting"
    sent: int = 0
    counts: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(COUNTED, 0))
    started: float | None = None
    ended: float | None = None
    note: str = ""
    task: TaskID | None = None

    @property
    def settled(self) -> int:
        """Items with an outcome so far."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """``3000 created, 10 on another trunk`` (the non-zero counts), or its state."""
        if self.note:
            return self.note
        labels = {"exists": "already there", "elsewhere": "on another trunk"}
        parts = [f"{n} {labels.get(status, status)}" for status, n in self.counts.items() if n]
        if self.state == "running" and self.name in _ITEMIZED:
            parts.insert(0, f"{self.settled} of {self.sent} done")
        return ", ".join(parts) or {"waiting": "not started", "running": "in progress"}.get(
            self.state, "done"
        )


class ApplyProgress:
    """Follows an apply's phases; draws them live, or prints a line per phase.

    Args:
        spec: The spec being applied (the sizes of the phases).
        view: ``"live"`` (a progress display on ``errors``), ``"plain"`` (a line on
            ``errors`` as each phase ends and as each rate-limit hold starts).
        errors: The console the display and the lines go to (stderr).
        activity: The client's holds and retries (fed by its hooks).
        on_phase_end: Called after each phase ends (to record progress).
        clock: Monotonic seconds.
        prune: Whether the run removes what the spec does not list (a ``prune`` phase).
    """

    def __init__(
        self,
        spec: TrunkSpec,
        *,
        view: View,
        errors: Console,
        activity: ClientActivity,
        on_phase_end: Callable[[Phase], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        prune: bool = False,
    ) -> None:
        sizes = {
            "numbers": len(spec.numbers),
            "ips": len(spec.ips),
            "destinations": len(spec.destinations),
            "alias": int(spec.alias is not None),
            "credentials": max(1, len(spec.credentials)),
        }
        self.phases = {
            name: Phase(name, sizes.get(name, 1)) for name in PHASES if name != "prune" or prune
        }
        self.view = view
        self.activity = activity
        self._errors = errors
        self._on_phase_end = on_phase_end
        self._clock = clock
        self.display = _phase_progress(errors, activity, clock, disable=view != "live")

    @contextmanager
    def shown(self) -> Iterator[ApplyProgress]:
        """Draw the live display (if any) while the block runs."""
        with self.display:
            yield self

    def begin(self, name: str, sending: int | None = None) -> None:
        """Phase ``name`` starts (or, for numbers and IPs, another batch of ``sending``)."""
        for earlier in PHASES[: PHASES.index(name)]:
            if earlier in self.phases and self.phases[earlier].state != "done":
                self.end(earlier)
        phase = self.phases[name]
        if phase.state == "waiting":
            phase.state = "running"
            phase.started = self._clock()
            itemized = name in _ITEMIZED
            total = sending if itemized else phase.size
            phase.task = self.display.add_bulk_task(name, total=total)
            self.display.update(phase.task, itemized=itemized)
            phase.sent = sending or 0
        elif sending is not None and phase.task is not None:
            phase.sent += sending
            self.display.update(phase.task, total=phase.sent)

    def outcome(self, name: str, outcome: ItemOutcome[Any]) -> None:
        """An item of phase ``name`` settled."""
        phase = self.phases[name]
        phase.counts[status_of(outcome)] += 1
        if phase.task is not None:
            self.display.record(phase.task, phase.settled, phase.counts)

    def end(self, name: str) -> None:
        """Phase ``name`` is over: what it did not send was in place already."""
        phase = self.phases[name]
        if phase.state == "done":
            return
        phase.state, phase.ended = "done", self._clock()
        if name in _ITEMIZED and phase.started is not None:
            phase.counts["exists"] += max(0, phase.size - phase.sent)
        if phase.task is not None:
            done = phase.settled if name in _ITEMIZED else phase.size
            self.display.update(phase.task, total=max(done, 1), completed=max(done, 1))
            self.display.update(phase.task, note=phase.summary())
            self.display.record(phase.task, max(done, 1), phase.counts)
        if self.view == "plain" and phase.started is not None:
            took = (phase.ended or 0.0) - phase.started
            self._errors.print(f"{name}: {escape(phase.summary())} ({took:.1f} s)", soft_wrap=True)
        if self._on_phase_end is not None and phase.started is not None:
            self._on_phase_end(phase)

    def observe(self, progress: ProvisionProgress) -> None:
        """``provision``'s ``on_progress``: follow its phases and items."""
        name = "trunk" if progress.phase == "read" else progress.phase  # reading: the trunk's
        if progress.event == "started":
            self.begin(name, progress.total if name in _ITEMIZED else None)
        elif progress.event == "item":
            assert progress.outcome is not None
            self.outcome(name, progress.outcome)
        else:
            note = _NOTES.get(name)
            if name in ("destinations", "prune", "credentials") and progress.changes is not None:
                note = _changes_note(progress.changes) or note
            if note is not None:
                self.phases[name].note = note
            self.end(name)

    def held(self, wait: RateLimitWait) -> None:
        """The client's requests are held back: the plain view says so (the live one shows it)."""
        if self.view == "plain":
            what = "quota used up" if wait.reason == "quota" else "rate-limited"
            self._errors.print(f"{what}: requests held back for {wait.seconds:.0f} s")

    def finish(self, report: ProvisionReport) -> None:
        """The run is over: end the phases still open; the report's counts replace ours."""
        for name in self.phases:
            self.end(name)
            if name in ("numbers", "ips", "destinations"):
                changes: Changes = getattr(report, name)
                self.phases[name].counts = _counts_of(changes)

    def so_far(self) -> dict[str, dict[str, int]]:
        """The counts of the phases that started, for a state file or a summary."""
        return {
            name: dict(phase.counts)
            for name, phase in self.phases.items()
            if phase.state != "waiting" and name in (*_ITEMIZED, "destinations")
        }

    def current(self) -> str | None:
        """The phase running now (or the last one that ran)."""
        started = [p.name for p in self.phases.values() if p.state != "waiting"]
        return started[-1] if started else None


def _changes_note(changes: Changes) -> str:
    """``1 created, 2 already there`` (what there is of it): a short phase's summary."""
    counts = (
        (len(changes.created), "created"),
        (len(changes.existing), "already there"),
        (len(changes.removed), "removed"),
        (len(changes.failed), "failed"),
    )
    return ", ".join(f"{n} {label}" for n, label in counts if n)


def _counts_of(changes: Changes) -> dict[str, int]:
    elsewhere = sum(isinstance(error, MappedElsewhereError) for _, error in changes.failed)
    return {
        "created": len(changes.created),
        "exists": len(changes.existing),
        "elsewhere": elsewhere,
        "invalid": 0,
        "failed": len(changes.failed) - elsewhere,
    }


class _StepColumn(ProgressColumn):
    """What a one-request phase did (its note), the hold while held, else that it runs."""

    def __init__(self, activity: ClientActivity) -> None:
        super().__init__()
        self.activity = activity

    def render(self, task: Task) -> Text:
        """Render the note, the hold or "..."."""
        if task.finished:
            return Text(str(task.fields.get("note", "")))
        held = self.activity.hold_text()
        return Text(held, style="bold yellow") if held is not None else Text("...", "dim")


class _PhaseProgress(BulkProgress):
    """The bulk display: bars and counts for numbers and IPs, a line for the other phases."""

    def get_renderables(self) -> Iterable[RenderableType]:
        """Each phase's bar or line; counts under numbers and IPs; then what is retried."""
        assert self.activity is not None
        spinner_and_name = [c for c in self.columns[:2] if isinstance(c, ProgressColumn)]
        step = [*spinner_and_name, _StepColumn(self.activity)]
        for task in self.tasks:
            if task.fields.get("itemized"):
                yield self.make_tasks_table([task])
                yield counts_line(task.fields)
                continue
            row = Table.grid(padding=(0, 1))
            row.add_row(*(column(task) for column in step))
            yield row
        retrying = None if self.activity is None else self.activity.retry_text()
        if retrying is not None:
            yield Text(f"  {retrying}", style="yellow")


def _phase_progress(
    console: Console, activity: ClientActivity, clock: Callable[[], float], *, disable: bool
) -> _PhaseProgress:
    return _PhaseProgress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("[progress.description]{task.description:<12}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        PaceColumn(activity),
        activity=activity,
        console=console,
        disable=disable,
        expand=True,
        get_time=clock,
    )
