"""The bulk progress display: a recent rate and ETA, rate-limit holds, retries (fake clock)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import TaskID

from exotel_trunking import ConflictError, ItemOutcome, MappedElsewhereError
from exotel_trunking._cli._progress import (
    BulkProgress,
    ClientActivity,
    RecentRate,
    bulk_progress,
    counts_line,
    status_of,
)
from exotel_trunking._transport import RateLimitWait, RetryEvent

from .runner import Served, child_env, on_terminal


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shown(progress: BulkProgress) -> str:
    """What the display shows now, at 80 columns, without colour."""
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(progress.get_renderable())
    return out.getvalue()


def steady(
    progress: BulkProgress, task: TaskID, clock: FakeClock, per_second: int, seconds: int
) -> int:
    """Finish ``per_second`` items each second for ``seconds`` seconds."""
    done = int(progress.tasks[0].completed)
    for _ in range(seconds * 10):
        clock.now += 0.1
        done += per_second // 10
        progress.record(task, done)
    return done


def test_a_rate_limit_hold_replaces_rate_and_eta_with_a_countdown() -> None:
    clock = FakeClock()
    activity = ClientActivity(clock=clock)
    progress = bulk_progress(Console(), activity=activity)
    task = progress.add_bulk_task("importing numbers", total=5000)
    steady(progress, task, clock, per_second=330, seconds=6)
    assert "330/s" in shown(progress)

    activity.on_rate_limit_wait(RateLimitWait(42.0, "429", "req-1"))
    assert "rate-limited, resuming in 42 s" in shown(progress)
    assert "ETA" not in shown(progress)  # no estimate while nothing can move
    clock.now += 10
    assert "rate-limited, resuming in 32 s" in shown(progress)

    clock.now += 32.5  # the hold is over, and nothing finished in the last 10 s
    after = shown(progress)
    assert "rate-limited" not in after
    assert "   0/s  ETA -:--:--" in after  # not the 330/s of before the hold


def test_rate_and_eta_come_from_the_recent_window_not_from_the_start() -> None:
    clock = FakeClock()
    progress = bulk_progress(Console(), clock=clock)
    task = progress.add_bulk_task("importing numbers", total=10_000)
    steady(progress, task, clock, per_second=100, seconds=60)
    done = steady(progress, task, clock, per_second=10, seconds=20)
    # Since the start: 6200 items in 80 s, 77/s. The last 10 s: 10/s, 380 s to go.
    line = shown(progress)
    assert "  10/s  ETA 0:06:20" in line, line
    assert f"{done}/10000" in line


def test_a_quota_hold_says_so() -> None:
    clock = FakeClock()
    activity = ClientActivity(clock=clock)
    progress = bulk_progress(Console(), activity=activity)
    progress.add_bulk_task("importing numbers", total=10)
    activity.on_rate_limit_wait(RateLimitWait(3600.0, "quota"))
    assert "quota used up, resuming in 1:00:00" in shown(progress)


def test_recent_retries_get_a_line_that_goes_away_once_they_stop() -> None:
    clock = FakeClock()
    activity = ClientActivity(clock=clock)
    progress = bulk_progress(Console(), activity=activity)
    progress.add_bulk_task("importing numbers", total=10)
    assert "retrying" not in shown(progress)
    for reason in ("503", "503", "ReadTimeout"):
        activity.on_retry(RetryEvent("POST", "/v2/x", 1, 0.5, reason, 503))
    assert "retrying: 3 requests in the last 10 s (503, ReadTimeout)" in shown(progress)
    clock.now += 10.5
    assert "retrying" not in shown(progress)
    assert activity.retries == 3  # the total stays, for the closing summary


def test_overlapping_holds_are_counted_once_in_the_time_held() -> None:
    clock = FakeClock()
    activity = ClientActivity(clock=clock)
    activity.on_rate_limit_wait(RateLimitWait(10.0, "429"))
    clock.now += 4
    activity.on_rate_limit_wait(RateLimitWait(10.0, "429"))  # ends 4 s after the first
    assert (activity.holds, activity.held_seconds) == (2, 14.0)
    assert activity.hold_left() == 10.0


def test_client_options_are_the_two_hooks_of_the_client() -> None:
    activity = ClientActivity()
    assert activity.client_options() == {
        "on_rate_limit_wait": activity.on_rate_limit_wait,
        "on_retry": activity.on_retry,
    }


def test_a_finished_bar_shows_the_average_rate_and_the_time_taken() -> None:
    clock = FakeClock()
    progress = bulk_progress(Console(), clock=clock)
    task = progress.add_bulk_task("importing numbers", total=500)
    clock.now += 5
    progress.record(task, 500, {"created": 499, "invalid": 1})
    line = shown(progress)
    assert " 100/s  took 0:00:05" in line
    assert "499 created · 0 exist · 1 invalid · 0 failed" in line


def test_the_rate_is_unknown_in_the_first_second() -> None:
    clock = FakeClock()
    rate = RecentRate(clock=clock)
    clock.now += 0.5
    rate.record(50)
    assert rate.per_second() is None
    clock.now += 0.5
    assert rate.per_second() == 50.0


def test_recent_rate_keeps_a_bounded_number_of_samples() -> None:
    clock = FakeClock()
    rate = RecentRate(clock=clock)
    for done in range(100_000):
        clock.now += 0.001
        rate.record(done)
    assert len(rate._samples) <= 102  # one per 0.1 s of the 10 s window, and the anchor


# -- numbers on another trunk ---------------------------------------------------------------


def elsewhere(number: str) -> ItemOutcome[object]:
    conflict = ConflictError("Duplicate resource", status_code=409, error_code=1008)
    error = MappedElsewhereError(conflict, phone_number=number, trunk_sid="tr1", held_by="tr2")
    return ItemOutcome(number, "failed", error=error)


def test_a_number_on_another_trunk_is_counted_and_coloured_apart() -> None:
    assert status_of(elsewhere("+919876543210")) == "elsewhere"
    failed: ItemOutcome[str] = ItemOutcome(
        "+919876543211", "failed", error=ConflictError("x", status_code=409)
    )
    assert status_of(failed) == "failed"
    line = counts_line({"created": 5, "elsewhere": 2, "failed": 1})
    assert line.plain == "  5 created · 0 exist · 2 on another trunk · 0 invalid · 1 failed"
    (span,) = [s for s in line.spans if line.plain[s.start : s.end] == "2 on another trunk"]
    assert span.style == "magenta"


def test_the_counts_line_leaves_out_another_trunk_while_there_is_none() -> None:
    assert counts_line({"created": 5}).plain == "  5 created · 0 exist · 0 invalid · 0 failed"


# -- through the command, on a terminal ----------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
@pytest.mark.slow  # the installed script in a child process, paced in real time
def test_on_a_terminal_the_import_bar_says_when_it_is_rate_limited(
    served: Served, tmp_path: Path
) -> None:
    served.call(lambda: served.emulator.configure(fault_retry_after=2))
    served.call(served.emulator.script, "POST", "/trunks/*/phone-numbers", "429")
    try:
        sid = served.call(served.emulator.state.create_trunk, "acme_main").trunk_sid
        path = tmp_path / "numbers.csv"
        path.write_text("".join(f"+9180{50000000 + n:08d}\n" for n in range(20)), "utf-8")
        env = child_env(served, TERM="xterm-256color")
        returncode, drawn = on_terminal(["numbers", "import", sid, str(path)], env)
    finally:
        served.call(lambda: served.emulator.reset(knobs=True))
    assert returncode == 0, drawn
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "rate-limited, resuming in 2 s" in text  # drawn while held, counting down
    assert "retrying: 1 request in the last 10 s (429)" in text
    assert "20 created · 0 exist · 0 invalid · 0 failed" in text
    assert "held back by the rate limit once (2 s)" in text
