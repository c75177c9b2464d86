"""``--trace``: the run's spans, printed as a tree on stderr when the command ends."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console

from exotel_trunking._cli._trace import span_tree

from .runner import TOKEN, Cli


def flat(text: str) -> str:
    """``text`` with every run of whitespace (the tree's wrapping included) one space."""
    return " ".join(text.split())


def test_trace_prints_each_call_and_its_attempt_after_the_output(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    result = run_cli("--trace", "numbers", "map", sid, "+919876543210")
    assert result.exit_code == 0, result.output
    tree = flat(result.stderr)
    assert tree.startswith("trace (2 spans)")
    assert "phone_numbers.map" in tree
    assert "POST /v2/accounts/{account_sid}/trunks/{trunk_sid}/phone-numbers" in tree
    assert "-> 200" in tree
    assert TOKEN not in result.stderr
    assert "phone_numbers.map" not in result.stdout  # the tree goes to stderr only


def test_trace_after_the_subcommand_keeps_json_on_stdout_parseable(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    result = run_cli("numbers", "list", sid, "--json", "--trace")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "phone_numbers.list" in result.stderr


def test_trace_is_printed_when_the_command_fails_and_shows_the_error(run_cli: Cli) -> None:
    result = run_cli("--trace", "numbers", "list", "trnosuchtrunk")
    assert result.exit_code == 4, result.output
    assert "exotel_trunking.NotFoundError" in flat(result.stderr)


def test_without_trace_nothing_is_printed_about_spans(run_cli: Cli) -> None:
    sid = run_cli.trunk()
    result = run_cli("numbers", "list", sid)
    assert result.exit_code == 0, result.output
    assert "trace (" not in result.stderr


def test_the_tree_shows_retries_and_rate_limit_waits_as_leaves() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("phone_numbers.list") as span:
        span.set_attribute("exotel.attempts", 2)
        span.add_event(
            "exotel.retry",
            {"exotel.retry.attempt": 1, "exotel.retry.reason": "429", "exotel.retry.delay": 2.0},
        )
        span.add_event(
            "exotel.rate_limit.wait",
            {"exotel.rate_limit.wait": 2.0, "exotel.rate_limit.reason": "429"},
        )
    console = Console(width=200, record=True)
    console.print(span_tree(exporter.get_finished_spans()))
    text = console.export_text()
    assert "phone_numbers.list" in text
    assert "2 attempts" in text
    assert "retry after attempt 1 failed (429), next in 2.00 s" in text
    assert "waited 2.00 s for the rate limit (429)" in text
