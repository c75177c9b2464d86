"""The pure retry rules: Retry-After and X-RateLimit-Reset parsing, backoff, what to repeat."""

from __future__ import annotations

import email.utils
import math

import attrs
import httpx2
import pytest

from exotel_trunking import RetryPolicy
from exotel_trunking._transport._retry import (
    Failure,
    backoff_delay,
    failure_for_status,
    may_repeat,
    parse_rate_limit_reset,
    parse_retry_after,
)

NOW = 1_700_000_000.0
DAY = 86_400.0


def now() -> float:
    return NOW


def http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


def retry_after(*values: str) -> float | None:
    return parse_retry_after(httpx2.Headers([("Retry-After", value) for value in values]), now)


# Retry-After (painpoint 8).


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param((http_date(5),), 5.0, id="http-date-5s-ahead"),
        pytest.param((http_date(-3600),), 0.0, id="http-date-in-the-past"),
        pytest.param(("9999999999",), DAY, id="huge-seconds-clamped-to-a-day"),
        pytest.param(("-1",), None, id="negative"),
        pytest.param(("-3",), None, id="negative-not-read-as-a-year"),
        pytest.param(("nan",), None, id="nan"),
        pytest.param(("inf",), None, id="inf"),
        pytest.param(("1e999",), None, id="overflowing-float"),
        pytest.param(("1.5",), 1.5, id="fractional-seconds"),
        pytest.param(("0",), 0.0, id="zero"),
        pytest.param(("abc",), None, id="garbage"),
        pytest.param(("",), None, id="empty"),
        pytest.param((" 120 ",), 120.0, id="padded-seconds"),
        pytest.param(("12:00",), None, id="time-of-day-is-not-a-date"),
        pytest.param(("Wed, 21 Oct 2015 07:28:00",), None, id="date-without-zone"),
        pytest.param(("Xyz, 99 Foo 2015 07:28:00 GMT",), None, id="malformed-date"),
        pytest.param(("3", "7"), 7.0, id="duplicated-seconds-longest-wins"),
        pytest.param(("abc", "4"), 4.0, id="duplicated-garbage-and-seconds"),
        pytest.param((http_date(5), http_date(9)), 9.0, id="duplicated-dates-longest-wins"),
        pytest.param((http_date(9), "2"), 9.0, id="duplicated-date-then-shorter-seconds"),
        pytest.param((http_date(9), "20"), 20.0, id="duplicated-date-then-longer-seconds"),
        pytest.param(("Sunday, 06-Nov-94 08:49:37 GMT", "4"), 4.0, id="rfc850-date-past-and-4"),
        pytest.param(("20", http_date(9)), 20.0, id="duplicated-seconds-then-date"),
    ],
)
def test_parse_retry_after_reads_seconds_and_dates_and_rejects_nonsense(
    values: tuple[str, ...], expected: float | None
) -> None:
    parsed = retry_after(*values)

    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert parsed == pytest.approx(expected)
        assert 0.0 <= parsed <= DAY


def test_parse_retry_after_without_the_header_is_none() -> None:
    assert parse_retry_after(httpx2.Headers(), now) is None


def test_parse_retry_after_uses_the_injected_wall_clock_for_dates() -> None:
    headers = httpx2.Headers({"Retry-After": http_date(30)})

    assert parse_retry_after(headers, lambda: NOW + 25) == pytest.approx(5.0)
    assert parse_retry_after(headers, lambda: NOW + 60) == 0.0


# X-RateLimit-Reset (painpoint 9).


def rate_limit_reset(remaining: str | None, reset: str | None) -> float | None:
    headers = httpx2.Headers()
    if remaining is not None:
        headers["X-RateLimit-Remaining"] = remaining
    if reset is not None:
        headers["X-RateLimit-Reset"] = reset
    return parse_rate_limit_reset(headers, now)


@pytest.mark.parametrize(
    ("remaining", "reset", "expected"),
    [
        pytest.param("0", str(int(NOW) + 2), 2.0, id="epoch-seconds"),
        pytest.param("0", "2", 2.0, id="delta-seconds"),
        pytest.param("0", "0.5", 0.5, id="fractional-delta"),
        pytest.param("0", str(int(NOW) - 100), 0.0, id="epoch-in-the-past"),
        pytest.param("0", str(int((NOW + 2) * 1000)), 2.0, id="epoch-milliseconds"),
        pytest.param("0", "9999999999", DAY, id="far-epoch-clamped-to-a-day"),
        pytest.param("0", "abc", None, id="garbage"),
        pytest.param("0", "nan", None, id="nan"),
        pytest.param("0", "-5", None, id="negative"),
        pytest.param("0", "", None, id="empty"),
        pytest.param("abc", "2", None, id="garbage-remaining"),
        pytest.param("5", str(int(NOW) + 2), None, id="quota-left"),
        pytest.param("0", None, None, id="no-reset"),
        pytest.param(None, "2", None, id="no-remaining"),
    ],
)
def test_parse_rate_limit_reset_reads_epoch_milliseconds_and_delta_forms(
    remaining: str | None, reset: str | None, expected: float | None
) -> None:
    parsed = rate_limit_reset(remaining, reset)

    if expected is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(expected)


# Backoff.


@pytest.mark.parametrize(
    ("retry", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)]
)
def test_backoff_delay_is_full_jitter_below_a_doubling_ceiling_capped_at_max_delay(
    retry: int, ceiling: float
) -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=30.0)

    assert backoff_delay(policy, retry, lambda: 0.0) == 0.0
    assert backoff_delay(policy, retry, lambda: 0.5) == pytest.approx(ceiling / 2)
    assert backoff_delay(policy, retry, lambda: math.nextafter(1.0, 0.0)) < ceiling
    assert backoff_delay(policy, retry, lambda: math.nextafter(1.0, 0.0)) == pytest.approx(ceiling)


def test_backoff_delay_with_zero_initial_delay_never_waits() -> None:
    policy = RetryPolicy(initial_delay=0.0)

    assert all(backoff_delay(policy, retry, lambda: 0.99) == 0.0 for retry in range(1, 20))


# Classification (painpoint 13).


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (400, None),
        (401, None),
        (403, None),
        (404, None),
        (409, None),
        (415, None),
        (422, None),
        (429, Failure.RATE_LIMITED),
        (500, None),
        (501, None),
        (502, Failure.GATEWAY),
        (503, Failure.UNAVAILABLE),
        (504, Failure.GATEWAY),
    ],
)
def test_failure_for_status_retries_only_429_502_503_504(
    status: int, failure: Failure | None
) -> None:
    assert failure_for_status(status) is failure


@pytest.mark.parametrize(
    ("failure", "when_repeatable", "when_not_repeatable"),
    [
        (Failure.NOT_SENT, True, True),
        (Failure.RATE_LIMITED, True, True),
        (Failure.UNAVAILABLE, True, True),
        (Failure.UNKNOWN_OUTCOME, True, False),
        (Failure.GATEWAY, True, False),
    ],
)
def test_may_repeat_a_call_that_may_have_been_applied_only_when_it_is_repeatable(
    failure: Failure, when_repeatable: bool, when_not_repeatable: bool
) -> None:
    assert may_repeat(failure, repeatable=True) is when_repeatable
    assert may_repeat(failure, repeatable=False) is when_not_repeatable


# The policy as data.


def test_retry_policy_is_immutable_data_with_documented_defaults() -> None:
    policy = RetryPolicy()

    assert (policy.max_retries, policy.max_retry_after, policy.deadline) == (5, 120.0, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_retries = 1  # type: ignore[misc]
    assert attrs.evolve(policy, deadline=3.0).deadline == 3.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -0.1},
        {"max_delay": -1.0},
        {"max_retry_after": -1.0},
        {"deadline": 0.0},
    ],
)
def test_retry_policy_refuses_negative_values_and_a_zero_deadline(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
