"""What a benchmark case hands back (tables, targets, plots) and how it is written out."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Table:
    """One result table: a title, column headings and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [f"**{self.title}**", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        return "\n".join(lines)

    def text(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([self.title, line(self.columns), rule, *(line(r) for r in self.rows)])


@dataclass
class Target:
    """A target from the issues, with what was measured against it."""

    case: str
    goal: str
    measured: str
    met: bool


@dataclass
class Section:
    """Everything one case produced."""

    name: str
    title: str
    method: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"## {self.title}", "", self.method, ""]
        for table in self.tables:
            parts += [table.markdown(), ""]
        parts += [f"- {note}" for note in self.notes]
        if self.notes:
            parts.append("")
        parts += [f"![{self.name}]({plot})" for plot in self.plots]
        return "\n".join(parts).rstrip() + "\n"

    def text(self) -> str:
        parts = [f"== {self.title} ==", ""]
        for table in self.tables:
            parts += [table.text(), ""]
        parts += [f"* {note}" for note in self.notes]
        return "\n".join(parts).rstrip() + "\n"


def targets_table(targets: Iterable[Target]) -> Table:
    table = Table("Targets", ["case", "target", "measured", "met"])
    for target in targets:
        table.add(target.case, target.goal, target.measured, "yes" if target.met else "**no**")
    return table


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def fmt_pct(fraction: float) -> str:
    return f"{fraction * 100:+.1f}%"


def fmt_mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MB"
