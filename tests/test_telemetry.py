"""Telemetry above single calls: bulk runs, ``provision``, the sync client, and secrets.

Against the in-process emulator, reporting to in-memory OpenTelemetry providers
(``otel_capture``), never to the global ones. A call's own spans, events and metrics are
pinned in ``tests/transport/test_call_telemetry.py``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.trace import StatusCode

from exotel_trunking import (
    AsyncTrunkingClient,
    ConflictError,
    RetryPolicy,
    TrunkingClient,
    TrunkSpec,
)
from exotel_trunking.emulator import Emulator

from .otel_capture import Captured, captured, every_string

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-t0ken-XYZ"
NUMBERS = ["+919876543210", "+919876543211", "+919876543212"]
FAST = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.001)


@pytest.fixture
def otel() -> Iterator[Captured]:
    with captured() as found:
        yield found


@pytest.fixture
def emulator() -> Emulator:
    return Emulator("k", TOKEN, "acme", seed=0)


def client_for(emulator: Emulator, **options: object) -> AsyncTrunkingClient:
    return AsyncTrunkingClient(
        "k",
        TOKEN,
        "acme",
        transport=emulator.transport(),
        rate_limit=None,
        retry=FAST,
        **options,  # type: ignore[arg-type]
    )


def tenant(**changes: object) -> TrunkSpec:
    fields: dict[str, object] = {
        "name": "tenant_a",
        "numbers": NUMBERS,
        "ips": ["203.0.113.0/28", "198.51.100.7"],
        "destinations": ["203.0.113.5:5061;transport=tls"],
        "alias": NUMBERS[0],
    }
    fields.update(changes)
    return TrunkSpec(**fields)  # type: ignore[arg-type]


# -- bulk runs --------------------------------------------------------------------------------


async def test_a_bulk_run_with_every_outcome_is_one_span_with_its_counts(
    emulator: Emulator, otel: Captured
) -> None:
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("bulk")).trunk_sid
        await client.phone_numbers.map(sid, NUMBERS[2])  # already there: "exists"
        otel.exporter.clear()
        # The first number sent answers 503 twice: its retry fails too ("failed").
        emulator.script("POST", "/trunks/*/phone-numbers", "503", times=2)
        result = await client.bulk.map_phone_numbers(
            sid, [NUMBERS[0], NUMBERS[1], NUMBERS[2], "not a number"], concurrency=1
        )

    assert [o.status for o in result.outcomes] == ["failed", "created", "exists", "invalid"]
    assert otel.outline(attempts=False) == [
        "bulk.map_phone_numbers",
        "  phone_numbers.map",
        "  phone_numbers.map",
        "  phone_numbers.map",
        "  phone_numbers.list",  # after the 409: is the number on this trunk or another?
    ]
    (run,) = otel.named("bulk.map_phone_numbers")
    assert dict(run.attributes or {}) == {
        "exotel.trunk_sid": sid,
        "exotel.bulk.created": 1,
        "exotel.bulk.exists": 1,
        "exotel.bulk.invalid": 1,
        "exotel.bulk.failed": 1,
        "exotel.bulk.items": 4,
    }
    assert run.status.status_code is StatusCode.UNSET  # items failed; the run did not
    failed, created, exists, _ = otel.children(run)
    assert (failed.attributes or {})["exotel.attempts"] == 2
    assert (failed.attributes or {})["error.type"] == "exotel_trunking.InternalServerError"
    assert failed.status.status_code is StatusCode.ERROR
    assert len(otel.children(failed)) == 2  # its two attempts
    assert "error.type" not in (created.attributes or {})
    assert (exists.attributes or {})["error.type"] == "exotel_trunking.ConflictError"
    items = otel.values("exotel_trunking.bulk.items", "exotel.operation", "exotel.bulk.outcome")
    assert items == {
        ("bulk.map_phone_numbers", "created"): 1,
        ("bulk.map_phone_numbers", "exists"): 1,
        ("bulk.map_phone_numbers", "invalid"): 1,
        ("bulk.map_phone_numbers", "failed"): 1,
    }


async def test_a_streamed_bulk_run_counts_items_as_they_are_taken_and_calls_on_progress(
    emulator: Emulator, otel: Captured
) -> None:
    progress: list[int] = []
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("bulk")).trunk_sid
        async with client.bulk.stream_whitelist_ips(
            sid,
            ["203.0.113.1", "203.0.113.2", "10.0.0.1"],
            on_progress=lambda d, _: progress.append(d),
        ) as outcomes:
            async for _ in outcomes:
                taken = sum(otel.values("exotel_trunking.bulk.items").values())
                assert taken == outcomes.done  # counted by the time the consumer has it

    assert progress == [1, 2, 3]
    (run,) = otel.named("bulk.whitelist_ips")
    attributes = dict(run.attributes or {})
    assert (attributes["exotel.bulk.created"], attributes["exotel.bulk.invalid"]) == (2, 1)
    assert [s.name for s in otel.children(run)] == ["whitelisted_ips.add"] * 2


async def test_a_bulk_run_is_the_child_of_the_callers_span(
    emulator: Emulator, otel: Captured
) -> None:
    async with client_for(emulator) as client:
        sid = (await client.trunks.create("bulk")).trunk_sid
        otel.exporter.clear()
        with otel.tracer_provider.get_tracer("test").start_as_current_span("import job"):
            await client.bulk.map_phone_numbers(sid, NUMBERS[:2])

    assert otel.outline(attempts=False) == [
        "import job",
        "  bulk.map_phone_numbers",
        "    phone_numbers.map",
        "    phone_numbers.map",
    ]


# -- provision ------------------------------------------------------------------------------


async def test_provisioning_a_new_trunk_is_a_span_with_a_child_per_phase(
    emulator: Emulator, otel: Captured
) -> None:
    async with client_for(emulator) as client:
        report = await client.provision(tenant())

    assert report.ok
    assert otel.outline(attempts=False) == [
        "provision",
        "  provision.trunk",
        "    trunks.list",  # found by name first (the reference dialect cannot list: 405)
        "    trunks.create",
        "  provision.numbers",
        "    bulk.map_phone_numbers",
        "      phone_numbers.map",
        "      phone_numbers.map",
        "      phone_numbers.map",
        "  provision.ips",
        "    bulk.whitelist_ips",
        "      whitelisted_ips.add",
        "      whitelisted_ips.add",
        "  provision.destinations",
        "    destination_uris.add",
        "  provision.alias",
        "    settings.set_alias",
        "  provision.credentials",
        "    credentials.list",  # one read, of whichever form the service answers
    ]
    (span,) = otel.named("provision")
    assert dict(span.attributes or {}) == {
        "exotel.account_sid": "acme",
        "exotel.provision.dry_run": False,
        "exotel.provision.trunk_created": True,
        "exotel.provision.ok": True,
        "exotel.trunk_sid": report.trunk_sid,
        "exotel.provision.numbers.created": 3,
        "exotel.provision.numbers.existing": 0,
        "exotel.provision.numbers.failed": 0,
        "exotel.provision.ips.created": 2,
        "exotel.provision.ips.existing": 0,
        "exotel.provision.ips.failed": 0,
        "exotel.provision.destinations.created": 1,
        "exotel.provision.destinations.existing": 0,
        "exotel.provision.destinations.failed": 0,
    }


async def test_provisioning_an_existing_trunk_reads_its_state_first(
    emulator: Emulator, otel: Captured
) -> None:
    async with client_for(emulator) as client:
        sid = (await client.provision(tenant())).trunk_sid
        otel.exporter.clear()
        await client.provision(tenant(alias=None), trunk_sid=sid)

    assert otel.outline(attempts=False) == [
        "provision",
        "  provision.read",
        "    phone_numbers.list",
        "    whitelisted_ips.list",
        "    destination_uris.list",
        "  provision.numbers",
        "  provision.ips",
        "  provision.destinations",
        "  provision.credentials",
        "    credentials.list",  # one read, of whichever form the service answers
    ]


async def test_a_failed_provision_marks_its_span_and_the_phase_it_failed_in(
    emulator: Emulator, otel: Captured
) -> None:
    async with client_for(emulator) as client:
        await client.trunks.create("tenant_a")
        otel.exporter.clear()
        with pytest.raises(ConflictError):
            await client.provision(tenant())

    (span,) = otel.named("provision")
    (phase,) = otel.named("provision.trunk")
    assert span.status.status_code is StatusCode.ERROR
    assert phase.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "exotel_trunking.ConflictError"


# -- the synchronous client -----------------------------------------------------------------


def test_the_sync_clients_calls_are_children_of_the_calling_threads_span(
    emulator: Emulator,
) -> None:
    with captured() as otel:
        tracer = otel.tracer_provider.get_tracer("test")
        with (
            TrunkingClient(
                "k", TOKEN, "acme", transport=emulator.transport(), rate_limit=None
            ) as client,
            tracer.start_as_current_span("view"),
        ):
            trunk = client.trunks.create("sync")
            client.phone_numbers.list(trunk.trunk_sid)

    assert otel.outline(attempts=False) == ["view", "  trunks.create", "  phone_numbers.list"]


# -- secrets --------------------------------------------------------------------------------


async def test_no_span_event_or_metric_holds_the_token_or_a_sip_password(
    emulator: Emulator, otel: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exotel_trunking")
    emulator.script("GET", "/trunks/*/credentials", "503", times=1)  # a retry, logged at INFO
    async with client_for(emulator) as client:
        report = await client.provision(tenant())
        assert report.trunk_sid is not None
        credentials = await client.credentials.get(report.trunk_sid)
        with pytest.raises(ConflictError):
            await client.trunks.create("tenant_a")  # 409: an error's span and metrics too
    assert credentials is not None
    password = credentials.password
    spans = otel.spans()
    assert len(spans) > 20
    texts = every_string(spans, otel)
    assert any("credentials.get" in text for text in texts)  # the check reads real content
    leaks = [text for text in texts if TOKEN in text or password in text]
    assert leaks == []
    for record in caplog.records:
        shown = record.getMessage() + repr(vars(record))
        assert TOKEN not in shown
        assert password not in shown


# -- without the extra ------------------------------------------------------------------------

WITHOUT_OPENTELEMETRY = """
import logging, sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
import anyio
from exotel_trunking import AsyncTrunkingClient, TrunkSpec, _telemetry
from exotel_trunking.emulator import Emulator

assert not _telemetry.AVAILABLE and _telemetry.instruments() is None
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(operation)s %(message)s")
logging.getLogger("httpx2").setLevel(logging.WARNING)

async def main():
    emulator = Emulator("k", "t", "acme")
    async with AsyncTrunkingClient(
        "k", "t", "acme", transport=emulator.transport(), rate_limit=None
    ) as client:
        sid = (await client.trunks.create("x")).trunk_sid
        result = await client.bulk.map_phone_numbers(sid, ["+919876543210"])
        assert result.ok
        await client.provision(TrunkSpec(name="y"))

anyio.run(main)
"""


@pytest.mark.slow  # runs Python in a subprocess
def test_without_the_extra_calls_bulk_runs_and_provision_work_and_log() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(line.startswith("exotel_trunking trunks.create POST ") for line in lines)
    assert any(line.startswith("exotel_trunking phone_numbers.map POST ") for line in lines)
