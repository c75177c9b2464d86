"""``--trace``: record the run's spans in memory and print them as a tree when it ends.

For people without a collector: the command reports to an OpenTelemetry SDK tracer provider of
its own (never the global one) with an in-memory exporter, and prints every span the SDK made,
with its duration, outcome, retries and rate-limit waits, on stderr once the command is done
(stdout stays parseable with ``--json``). It needs ``opentelemetry-sdk``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from .. import _telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Event, ReadableSpan

__all__ = ["printed_trace", "span_tree"]

_NEEDS_SDK = (
    "--trace needs OpenTelemetry's SDK: pip install 'exotel-trunking[cli,otel]' opentelemetry-sdk"
)


@contextlib.contextmanager
def printed_trace(console: Console) -> Iterator[None]:
    """Record the spans of the block, then print them on ``console`` as a tree.

    Raises:
        click.UsageError: ``opentelemetry-sdk`` (or the ``otel`` extra) is not installed.
    """
    try:
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - optional
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
            InMemorySpanExporter,
        )
    except ImportError:
        raise click.UsageError(_NEEDS_SDK) from None
    if not _telemetry.AVAILABLE:  # pragma: no cover - the SDK brings the API
        raise click.UsageError(_NEEDS_SDK)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with _telemetry.use_providers(tracer_provider=provider):
            yield
    finally:
        provider.shutdown()
        console.print(span_tree(exporter.get_finished_spans()))


def span_tree(spans: Sequence[ReadableSpan]) -> Tree:
    """The spans as a tree: roots are the spans whose parent is not among them."""
    ordered = sorted(spans, key=lambda span: span.start_time or 0)
    ids = {span.context.span_id for span in ordered if span.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in ordered:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    root = Tree(f"[bold]trace[/] ({len(ordered)} spans)")

    def add(node: Tree, span: ReadableSpan) -> None:
        branch = node.add(_label(span))
        span_id = span.context.span_id if span.context is not None else None
        # The span's events and its children, in the order they happened.
        events = [(event.timestamp, event, None) for event in span.events]
        spans = [(child.start_time or 0, None, child) for child in children.get(span_id, [])]
        for _, event, child in sorted([*events, *spans], key=lambda entry: entry[0]):
            if event is not None:
                branch.add(_event_label(event))
            elif child is not None:
                add(branch, child)

    for span in children.get(None, []):
        add(root, span)
    return root


def _label(span: ReadableSpan) -> str:
    attributes: Mapping[str, Any] = span.attributes or {}
    seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
    parts = [f"[bold]{escape(span.name)}[/]", f"[dim]{_duration(seconds)}[/]"]
    status = attributes.get("http.response.status_code")
    if status is not None:
        parts.append(f"-> {status}")
    attempts = attributes.get("exotel.attempts")
    if isinstance(attempts, int) and attempts > 1:
        parts.append(f"{attempts} attempts")
    counts = [
        f"{kind} {attributes[f'exotel.bulk.{kind}']}"
        for kind in ("created", "exists", "invalid", "failed")
        if f"exotel.bulk.{kind}" in attributes
    ]
    if counts:
        parts.append(", ".join(counts))
    request_id = attributes.get("exotel.request_id")
    if request_id is not None:
        parts.append(f"[dim]request_id={escape(str(request_id))}[/]")
    error = attributes.get("error.type")
    if error is not None and error != str(status):  # an attempt's error.type is its status
        parts.append(f"[red]{escape(str(error))}[/]")
    return "  ".join(parts)


def _event_label(event: Event) -> str:
    attributes: Mapping[str, Any] = event.attributes or {}
    if event.name == "exotel.retry":
        return (
            f"[yellow]retry[/] after attempt {attributes.get('exotel.retry.attempt')} "
            f"failed ({escape(str(attributes.get('exotel.retry.reason')))}), "
            f"next in {_duration(float(attributes.get('exotel.retry.delay', 0.0)))}"
        )
    if event.name == "exotel.rate_limit.wait":
        return (
            f"[yellow]waited[/] {_duration(float(attributes.get('exotel.rate_limit.wait', 0.0)))} "
            f"for the rate limit ({escape(str(attributes.get('exotel.rate_limit.reason')))})"
        )
    return escape(event.name)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
