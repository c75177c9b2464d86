"""RedisRateLimiter in one process: shared pacing, shared cool-down, cancellation, outages."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

try:
    import coredis
except ImportError:  # a local run without the "redis" extra; CI installs every extra
    if os.environ.get("CI"):
        raise
    pytest.skip('coredis is not installed (the "redis" extra)', allow_module_level=True)

from exotel_trunking import (
    APIConnectionError,
    AsyncTrunkingClient,
    ConfigurationError,
    ExotelError,
    RateLimit,
    RateLimiter,
    RateLimitError,
    RetryPolicy,
)
from exotel_trunking.emulator import Emulator
from exotel_trunking.redis import RedisRateLimiter, RedisUnavailableError

from .redis_server import RedisServer

# A real redis-server, outages and cool-downs in real time.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ACCOUNT = "acme"
FAST = RateLimit(200, 1.0, burst=10)
BATCH = RateLimit(1000, 1.0, burst=20)
FOUR_A_SECOND = RateLimit(4, 1.0, burst=1)  # a slot every 0.25 s, no burst


def limiter_for(url: str, key_prefix: str, **options: Any) -> RedisRateLimiter:
    options.setdefault("account_sid", ACCOUNT)
    options.setdefault("rate_limit", FAST)
    options.setdefault("timeout", 0.3)
    return RedisRateLimiter(url, key_prefix=key_prefix, **options)


def client_for(emulator: Emulator, limiter: RateLimiter, **options: Any) -> AsyncTrunkingClient:
    options.setdefault("retry", RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.01))
    return AsyncTrunkingClient(
        emulator.api_key,
        "t",
        emulator.account_sid,
        transport=emulator.transport(),
        rate_limit=limiter,
        **options,
    )


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key="k", api_token="t", account_sid=ACCOUNT, seed=1)


@asynccontextmanager
async def raw_redis(url: str) -> AsyncIterator[coredis.Redis[bytes]]:
    client: coredis.Redis[bytes] = coredis.Redis.from_url(url)
    async with client:
        yield client


async def elapsed(awaitable: Any) -> float:
    start = time.monotonic()
    await awaitable
    return time.monotonic() - start


def numbers(count: int) -> list[str]:
    return [f"+9198{n:08d}" for n in range(count)]


# -- the protocol ------------------------------------------------------------------


def test_redis_rate_limiter_is_a_rate_limiter(redis_server: RedisServer) -> None:
    assert isinstance(limiter_for(redis_server.url, "p"), RateLimiter)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"on_unavailable": "ignore"},
        {"timeout": 0},
        {"reconnect_interval": -1.0},
        {"account_sid": ""},
        {"account_sid": "a{b}"},
        {"client": "given"},
    ],
    ids=["mode", "timeout", "reconnect_interval", "empty_sid", "braces", "url_and_client"],
)
def test_invalid_configuration_is_refused_with_a_configuration_error(
    redis_server: RedisServer, options: dict[str, Any]
) -> None:
    if options.get("client") == "given":
        options["client"] = coredis.Redis.from_url(redis_server.url)
    with pytest.raises(ConfigurationError):
        limiter_for(redis_server.url, "p", **options)


def test_account_sid_defaults_to_the_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOTEL_ACCOUNT_SID", "from_env")

    limiter = RedisRateLimiter(redis_server.url)

    assert limiter.account_sid == "from_env"
    assert limiter.keys == (
        "exotel-trunking:{from_env}:gcra",
        "exotel-trunking:{from_env}:cool-down",
    )


def test_missing_account_sid_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXOTEL_ACCOUNT_SID", raising=False)

    with pytest.raises(ConfigurationError, match="account_sid"):
        RedisRateLimiter()


async def test_an_error_inside_the_limiter_block_comes_out_as_itself(
    redis_server: RedisServer, key_prefix: str
) -> None:
    with pytest.raises(KeyError):
        async with limiter_for(redis_server.url, key_prefix):
            raise KeyError("mine")


async def test_using_the_limiter_before_entering_it_is_a_clear_error(
    redis_server: RedisServer, key_prefix: str
) -> None:
    limiter = limiter_for(redis_server.url, key_prefix)

    with pytest.raises(RuntimeError, match="async with"):
        await limiter.acquire()


# -- one shared bucket ------------------------------------------------------------------------


async def test_acquire_paces_permits_at_the_configured_rate(
    redis_server: RedisServer, key_prefix: str
) -> None:
    rate = RateLimit(50, 1.0, burst=1)
    async with limiter_for(redis_server.url, key_prefix, rate_limit=rate) as limiter:

        async def eleven() -> None:
            async with anyio.create_task_group() as tasks:
                for _ in range(11):
                    tasks.start_soon(limiter.acquire)

        took = await elapsed(eleven())

    assert 0.19 <= took < 1.0  # ten intervals of 20 ms after the first permit


async def test_limiters_of_the_same_account_share_one_bucket(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND) as first,
        limiter_for(redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND) as second,
    ):
        await first.acquire()
        took = await elapsed(second.acquire())

    assert took >= 0.2  # the second process waits for the account's next slot: 0.25 s


async def test_limiters_of_different_accounts_do_not_share_a_bucket(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND) as first,
        limiter_for(
            redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND, account_sid="other"
        ) as second,
    ):
        await first.acquire()
        took = await elapsed(second.acquire())

    assert took < 0.15


async def test_keys_expire_once_they_no_longer_matter(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix) as limiter,
        raw_redis(redis_server.url) as redis,
    ):
        await limiter.acquire()
        await limiter.cool_down(2.0)
        bucket_ttl = await redis.pttl(limiter.keys[0])
        cool_down_ttl = await redis.pttl(limiter.keys[1])

    assert 0 < cool_down_ttl <= 2000
    assert 2000 < bucket_ttl <= 2000 + 1000 + 100  # restarts empty after it, then a second


# -- one shared cool-down ---------------------------------------------------------------------


async def test_a_cool_down_in_one_limiter_holds_back_another(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix) as first,
        limiter_for(redis_server.url, key_prefix) as second,
    ):
        await first.cool_down(0.3)
        assert second.blocked_for == 0  # not learned yet: nothing has asked Redis
        took = await elapsed(second.acquire())

    assert took >= 0.28


async def test_acquire_refreshes_blocked_for_with_the_shared_cool_down(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix) as first,
        limiter_for(redis_server.url, key_prefix) as second,
    ):
        await first.cool_down(5.0)
        with anyio.move_on_after(0.1):
            await second.acquire()

        assert 4.5 < second.blocked_for <= 5.0


async def test_a_shared_cool_down_longer_than_max_retry_after_fails_fast(
    redis_server: RedisServer, key_prefix: str, emulator: Emulator
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix) as first,
        limiter_for(redis_server.url, key_prefix, max_retry_after=10) as second,
        client_for(
            emulator, second, retry=RetryPolicy(max_retries=3, max_retry_after=10)
        ) as client,
    ):
        await first.cool_down(30.0)  # another process was told Retry-After: 30
        with anyio.fail_after(1):
            with pytest.raises(RateLimitError) as learned:
                await client.trunks.create("learns_it")  # the limiter learns it from Redis
            with pytest.raises(RateLimitError) as known:
                await client.trunks.create("knows_it")  # the client knows it already

    assert learned.value.retry_after is not None
    assert known.value.retry_after is not None
    assert 25 < known.value.retry_after <= learned.value.retry_after <= 30
    assert emulator.requests == []


async def test_a_waiter_whose_slot_falls_in_a_new_cool_down_waits_it_out(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND) as first,
        limiter_for(redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND) as second,
    ):
        await first.acquire()
        start = time.monotonic()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(first.acquire)  # reserves the slot 0.25 s away, then sleeps
            await anyio.sleep(0.05)
            await second.cool_down(0.5)  # a 429 elsewhere, while it sleeps
        took = time.monotonic() - start

    assert took >= 0.54  # after the cool-down, not at 0.25 s inside it


async def test_a_429_seen_by_one_client_pauses_the_other_clients(
    redis_server: RedisServer, key_prefix: str, emulator: Emulator
) -> None:
    emulator.configure(fault_retry_after=1)
    emulator.script("POST", "/trunks", "429")
    refused = anyio.Event()
    async with (
        limiter_for(redis_server.url, key_prefix) as first,
        limiter_for(redis_server.url, key_prefix) as second,
        client_for(emulator, first, on_retry=lambda _: refused.set()) as worker_a,
        client_for(emulator, second) as worker_b,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(worker_a.trunks.create, "trunk_a")
        await refused.wait()
        took = await elapsed(worker_b.trunks.create("trunk_b"))

    assert took >= 0.9  # worker b waited out the Retry-After worker a was given
    assert [r.status for r in emulator.requests] == [429, 200, 200]


# -- cancellation ---------------------------------------------------------------------------


async def test_a_cancelled_waiter_gives_its_reserved_slot_back(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with (
        limiter_for(redis_server.url, key_prefix, rate_limit=FOUR_A_SECOND) as limiter,
        raw_redis(redis_server.url) as redis,
    ):
        await limiter.acquire()
        reserved = await redis.get(limiter.keys[0])
        with anyio.move_on_after(0.05):
            await limiter.acquire()  # reserves the next slot, and is cancelled asleep
        with anyio.fail_after(2):
            while await redis.get(limiter.keys[0]) != reserved:  # noqa: ASYNC110 - in Redis
                await anyio.sleep(0.01)
        took = await elapsed(limiter.acquire())

    assert took < 0.35  # the given-back slot, 0.25 s after the first; not the one after it


# -- when Redis is unavailable --------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_local_pacing_with_a_warning(
    unreachable_redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exotel_trunking")
    rate = RateLimit(50, 1.0, burst=1)
    with anyio.fail_after(5):
        async with limiter_for(unreachable_redis_url, key_prefix, rate_limit=rate) as limiter:
            assert limiter.using_fallback
            start = time.monotonic()
            for _ in range(11):
                await limiter.acquire()
            took = time.monotonic() - start

    assert took >= 0.19  # still paced, by the in-process limiter
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0]
    assert "pacing this process alone" in warnings[0]


async def test_the_fallback_paces_at_the_fallback_rate_limit(
    unreachable_redis_url: str, key_prefix: str
) -> None:
    share = RateLimit(20, 1.0, burst=5)  # a third of a 60/s account, for three workers
    async with limiter_for(unreachable_redis_url, key_prefix, fallback_rate_limit=share) as limiter:
        took = await elapsed(limiter.acquire())
        for _ in range(4):
            took += await elapsed(limiter.acquire())

    assert took >= 0.19  # 50 ms apart, and no burst on top of what the account already used


async def test_unreachable_redis_raises_when_asked_to(
    unreachable_redis_url: str, key_prefix: str
) -> None:
    limiter = limiter_for(unreachable_redis_url, key_prefix, on_unavailable="raise")

    with anyio.fail_after(5), pytest.raises(RedisUnavailableError) as caught:
        async with limiter:
            pass

    assert isinstance(caught.value, APIConnectionError)
    assert isinstance(caught.value.__cause__, coredis.exceptions.ConnectionError)
    assert "nothing was sent" in str(caught.value)


async def test_messages_never_show_the_redis_password(
    key_prefix: str, failed_connections_collected: None
) -> None:
    url = "redis://:s3cret-pass@127.0.0.1:1/0"
    limiter = limiter_for(url, key_prefix, on_unavailable="raise")

    with anyio.fail_after(5), pytest.raises(RedisUnavailableError) as caught:
        async with limiter:
            pass

    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(limiter)
    assert "redis://127.0.0.1:1/0" in str(caught.value)


async def test_killing_redis_mid_run_falls_back_without_hanging(
    own_redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exotel_trunking")
    with anyio.fail_after(5):
        async with limiter_for(own_redis_server.url, key_prefix) as limiter:
            for _ in range(5):
                await limiter.acquire()
            shared_before = not limiter.using_fallback  # a name: mypy would pin the property
            assert shared_before
            own_redis_server.stop()
            for _ in range(20):
                await limiter.acquire()

            assert limiter.using_fallback
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1


async def test_killing_redis_mid_run_raises_promptly_when_asked_to(
    own_redis_server: RedisServer, key_prefix: str
) -> None:
    async with limiter_for(own_redis_server.url, key_prefix, on_unavailable="raise") as limiter:
        await limiter.acquire()
        own_redis_server.stop()
        with anyio.fail_after(2), pytest.raises(RedisUnavailableError):
            await limiter.acquire()
        await limiter.cool_down(0.1)  # never raises: the pause holds in this process

        assert limiter.blocked_for > 0


async def test_a_frozen_redis_times_out_and_falls_back(
    own_redis_server: RedisServer, key_prefix: str
) -> None:
    with anyio.fail_after(5):
        async with limiter_for(own_redis_server.url, key_prefix, timeout=0.2) as limiter:
            await limiter.acquire()
            own_redis_server.pause()
            took = await elapsed(limiter.acquire())

            assert limiter.using_fallback
        # ...and leaving the block does not wait on the frozen server either

    assert took < 1.0  # the 0.2 s timeout, not a hang


async def test_the_limiter_shares_the_limit_again_once_redis_is_back(
    own_redis_server: RedisServer, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exotel_trunking")
    with anyio.fail_after(5):
        async with limiter_for(own_redis_server.url, key_prefix, reconnect_interval=0.2) as limiter:
            own_redis_server.stop()
            await limiter.acquire()
            fell_back = limiter.using_fallback  # a name: mypy would pin the property
            assert fell_back
            own_redis_server.start()
            await anyio.sleep(0.25)
            await limiter.acquire()

            assert not limiter.using_fallback
    assert "answers again" in caplog.records[-1].getMessage()


async def test_a_coredis_client_can_be_given_instead_of_a_url(
    redis_server: RedisServer, key_prefix: str
) -> None:
    client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_server.url)
    async with (
        client,
        RedisRateLimiter(client=client, account_sid=ACCOUNT, key_prefix=key_prefix) as limiter,
    ):
        await limiter.acquire()

        assert await client.exists([limiter.keys[0]]) == 1


# -- a batch through a client, while Redis dies ----------------------------------------------


async def test_a_batch_loses_no_item_when_redis_dies_mid_run(
    own_redis_server: RedisServer, key_prefix: str, emulator: Emulator
) -> None:
    def kill_redis_at_40(done: int, total: int | None) -> None:
        if done == 40:
            own_redis_server.stop()

    with anyio.fail_after(10):
        async with (
            limiter_for(own_redis_server.url, key_prefix, rate_limit=BATCH) as limiter,
            client_for(emulator, limiter) as client,
        ):
            trunk = await client.trunks.create("bulk")
            result = await client.bulk.map_phone_numbers(
                trunk.trunk_sid, numbers(120), concurrency=10, on_progress=kill_redis_at_40
            )

            assert limiter.using_fallback
    assert len(result.created) == 120
    assert len(emulator.state.phone_numbers(trunk.trunk_sid)) == 120


async def test_a_batch_accounts_for_every_item_when_redis_dies_and_raising_is_asked(
    own_redis_server: RedisServer, key_prefix: str, emulator: Emulator
) -> None:
    def kill_redis_at_40(done: int, total: int | None) -> None:
        if done == 40:
            own_redis_server.stop()

    with anyio.fail_after(10):
        async with (
            limiter_for(
                own_redis_server.url, key_prefix, rate_limit=BATCH, on_unavailable="raise"
            ) as limiter,
            client_for(emulator, limiter) as client,
        ):
            trunk = await client.trunks.create("bulk")
            result = await client.bulk.map_phone_numbers(
                trunk.trunk_sid, numbers(120), concurrency=10, on_progress=kill_redis_at_40
            )

    assert len(result.outcomes) == 120
    assert len(result.created) >= 40
    assert len(result.created) + len(result.failed) == 120
    assert all(isinstance(o.error, RedisUnavailableError) for o in result.failed)
    assert all(isinstance(o.error, ExotelError) for o in result.failed)
