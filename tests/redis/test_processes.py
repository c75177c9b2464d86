"""Several worker processes, on asyncio and trio, sharing one account's limit through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .limiter_fleet import Fleet, max_in_window
from .redis_server import RedisServer

pytestmark = pytest.mark.slow  # worker processes and a real redis-server, in real time

WORKERS = 3
RATE = 100  # permits a second, shared by every worker
BURST = 3
WINDOW = 0.5  # seconds: at most RATE * WINDOW + BURST permits in any such window


@pytest.fixture(scope="module")
def fleet(redis_binary: str) -> Iterator[Fleet]:
    """Worker processes started once for the module (start-up is the slow part)."""
    workers = Fleet(WORKERS)
    yield workers
    workers.close()


def job(redis_server: RedisServer, key_prefix: str, backend: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": redis_server.url,
        "account": "acme",
        "prefix": key_prefix,
        "backend": backend,
        "limiter": "redis",
        "calls": RATE,
        "period": 1.0,
        "burst": BURST,
        "permits": 40,
        "tasks": 4,
        **extra,
    }


def stamps_of(replies: list[dict[str, Any]]) -> list[float]:
    for reply in replies:
        assert "error" not in reply, reply.get("error")
    return sorted(stamp for reply in replies for stamp in reply["stamps"])


def test_importing_exotel_trunking_does_not_import_coredis(fleet: Fleet) -> None:
    # Each worker imported exotel_trunking, and reported, before anything else.
    assert fleet.ready == [{"ready": True, "coredis_imported": False}] * WORKERS


def test_processes_on_asyncio_and_trio_share_one_account_limit(
    fleet: Fleet, redis_server: RedisServer, key_prefix: str
) -> None:
    backends = ("asyncio", "trio", "asyncio")
    replies = fleet.run([job(redis_server, key_prefix, backend) for backend in backends])
    stamps = stamps_of(replies)

    assert len(stamps) == WORKERS * 40
    # GCRA's promise, plus one permit of slack for a late wake-up at the window's edge:
    assert max_in_window(stamps, WINDOW) <= RATE * WINDOW + BURST + 1
    sustained = (len(stamps) - BURST) / (stamps[-1] - stamps[0])
    assert 0.8 * RATE <= sustained <= 1.05 * RATE  # the whole limit is used, not exceeded
    assert all(len(reply["stamps"]) >= 20 for reply in replies)  # all drew from it at once


def test_independent_in_process_limiters_overshoot_the_account_limit(
    fleet: Fleet, redis_server: RedisServer, key_prefix: str
) -> None:
    # The same check against the same load fails without sharing: each process paces alone.
    replies = fleet.run(
        [job(redis_server, key_prefix, "asyncio", limiter="local") for _ in range(WORKERS)]
    )

    assert max_in_window(stamps_of(replies), WINDOW) > RATE * WINDOW + BURST + 1


def test_a_cool_down_in_one_process_pauses_every_process(
    fleet: Fleet, redis_server: RedisServer, key_prefix: str
) -> None:
    pause = 0.5
    cool_down = {"after": 5, "seconds": pause}
    replies = fleet.run(
        [
            job(redis_server, key_prefix, "asyncio", permits=20, cool_down=cool_down),
            job(redis_server, key_prefix, "trio", permits=20),
            job(redis_server, key_prefix, "asyncio", permits=20),
        ]
    )
    stamps = stamps_of(replies)
    started = replies[0]["cool_down_started"]

    # Reservations checked just before the cool-down reached Redis may still go out; after
    # that, nobody until it ends, and then every worker resumes.
    during = [s for s in stamps if started + 0.03 <= s < started + pause - 0.01]
    assert during == []
    after = [s for s in stamps if s >= started + pause - 0.01]
    assert len(after) >= 20
    assert all(any(s >= started + pause - 0.01 for s in r["stamps"]) for r in replies)
