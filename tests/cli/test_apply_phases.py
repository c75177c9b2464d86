"""The phases of ``apply`` as they are followed (:mod:`exotel_trunking._cli._phases`)."""

from __future__ import annotations

import io

from rich.console import Console

from exotel_trunking import ItemOutcome, ProvisionReport, TrunkSpec
from exotel_trunking._cli._phases import ApplyProgress, View
from exotel_trunking._cli._progress import ClientActivity

SPEC = TrunkSpec(name="t", numbers=["+919876543210", "+919876543211"], ips=["203.0.113.1"])


class Clock:
    """A monotonic clock that moves only when told."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


def follow(view: View = "plain", clock: Clock | None = None) -> tuple[ApplyProgress, io.StringIO]:
    out = io.StringIO()
    progress = ApplyProgress(
        SPEC,
        view=view,
        errors=Console(file=out, width=100),
        activity=ClientActivity(),
        clock=clock or Clock(),
    )
    return progress, out


def test_a_phase_ends_when_the_next_starts_counting_what_it_did_not_send_as_in_place() -> None:
    clock = Clock()
    progress, out = follow(clock=clock)
    progress.begin("numbers", 1)  # one of the spec's two numbers was on the trunk already
    progress.outcome("numbers", ItemOutcome("+919876543211", "created", index=0))
    clock.now = 2.5
    assert progress.phases["numbers"].summary() == "1 of 1 done, 1 created"
    progress.begin("ips", 1)
    assert out.getvalue() == "numbers: 1 created, 1 already there (2.5 s)\n"
    assert progress.so_far()["numbers"]["exists"] == 1
    assert progress.current() == "ips"


def test_the_reports_counts_replace_those_followed_without_counting_twice() -> None:
    progress, _ = follow()
    progress.begin("numbers", 1)
    progress.outcome("numbers", ItemOutcome("+919876543211", "created", index=0))
    report = ProvisionReport(spec=SPEC, dry_run=False, trunk_sid="tr1")
    report.numbers.existing = ["+919876543210"]
    report.numbers.created = ["+919876543211"]
    report.ips.existing = ["203.0.113.1/32"]
    progress.finish(report)
    assert progress.so_far() == {
        "numbers": {"created": 1, "exists": 1, "elsewhere": 0, "invalid": 0, "failed": 0},
        "ips": {"created": 0, "exists": 1, "elsewhere": 0, "invalid": 0, "failed": 0},
        "destinations": {"created": 0, "exists": 0, "elsewhere": 0, "invalid": 0, "failed": 0},
    }
