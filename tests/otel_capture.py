"""OpenTelemetry for the tests: in-memory providers the SDK reports to, and readers of what it sent.

:func:`captured` gives the SDK a ``TracerProvider`` with an ``InMemorySpanExporter`` and a
``MeterProvider`` with an ``InMemoryMetricReader`` through its internal hook
(``_telemetry.use_providers``), so that no test touches OpenTelemetry's global providers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exotel_trunking._telemetry import use_providers


@attrs.define
class Captured:
    """What the SDK reported while :func:`captured` was active."""

    tracer_provider: TracerProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        """The finished spans, in the order they started."""
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def named(self, name: str) -> list[ReadableSpan]:
        """The finished spans called ``name``, in the order they started."""
        return [span for span in self.spans() if span.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The finished spans whose parent is ``parent``, in the order they started."""
        sid = parent.context.span_id if parent.context else None
        return [s for s in self.spans() if s.parent is not None and s.parent.span_id == sid]

    def outline(self, *, attempts: bool = True) -> list[str]:
        """The span tree as indented names (two spaces a level), children in start order.

        Without ``attempts``, the HTTP attempt spans (named ``"{method} {url.template}"``)
        are left out.
        """
        spans = self.spans()
        ids = {s.context.span_id for s in spans if s.context}
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            if not attempts and span.name.split(" ")[0] in ("GET", "POST", "DELETE"):
                return
            lines.append("  " * depth + span.name)
            for child in self.children(span):
                walk(child, depth + 1)

        for root in spans:
            if root.parent is None or root.parent.span_id not in ids:
                walk(root, 0)
        return lines

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's data points as ``(attributes, point)`` (a point has ``.value`` or
        ``.sum`` and ``.count``)."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    for point in metric.data.data_points:
                        points.append((dict(point.attributes or {}), point))
        return found

    def values(self, name: str, *keys: str) -> dict[tuple[Any, ...], Any]:
        """A counter's values (or a histogram's counts) by the attributes ``keys``."""
        table: dict[tuple[Any, ...], Any] = {}
        for attributes, point in self.metrics().get(name, []):
            key = tuple(attributes.get(k) for k in keys)
            value = point.count if hasattr(point, "count") else point.value
            table[key] = table.get(key, 0) + value
        return table


@contextmanager
def captured() -> Iterator[Captured]:
    """Point the SDK at fresh in-memory providers while the block runs."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    try:
        with use_providers(tracer_provider, meter_provider):
            yield Captured(tracer_provider, exporter, reader)
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


def every_string(spans: Sequence[ReadableSpan], captured: Captured) -> list[str]:
    """Every name, attribute value, event, status and metric attribute reported, as text."""
    texts: list[str] = []
    for span in spans:
        texts.append(span.name)
        texts += [f"{k}={v!r}" for k, v in (span.attributes or {}).items()]
        texts.append(repr(span.status.description))
        for event in span.events:
            texts.append(event.name)
            texts += [f"{k}={v!r}" for k, v in (event.attributes or {}).items()]
    for name, points in captured.metrics().items():
        texts.append(name)
        for attributes, _ in points:
            texts += [f"{k}={v!r}" for k, v in attributes.items()]
    return texts
