"""Pure retry logic: the policy as data, and the functions that decide what to repeat and when.

Nothing here sleeps or touches the network: the request loop in ``_http.py`` asks these
functions and does what they say, so every decision is testable without waiting.
"""

from __future__ import annotations

import email.utils
import enum
import math
import random
from collections.abc import Callable, Mapping

import attrs

__all__ = [
    "Failure",
    "RetryPolicy",
    "backoff_delay",
    "parse_rate_limit_reset",
    "parse_retry_after",
]

#: Retry-After values beyond this are nonsense (overflow guards); they are clamped to it.
_MAX_PARSED_DELAY = 86_400.0


@attrs.frozen
class RetryPolicy:
    """How a client repeats failed requests. Immutable; derive variants with ``attrs.evolve``.

    Attributes:
        max_retries: Repeats after the first attempt; 0 disables retries.
        initial_delay: Backoff before the first retry, in seconds (doubles per retry).
        max_delay: The largest backoff, in seconds. Backoff uses full jitter: a random delay
            between 0 and ``min(max_delay, initial_delay * 2**retry)``.
        max_retry_after: The longest ``Retry-After`` the client will sleep through. A longer
            one raises at once (:class:`RateLimitError` carrying ``retry_after``) instead of
            retrying early or blocking for minutes.
        deadline: An overall limit in seconds for one call, attempts and sleeps included, or
            ``None``. A retry whose wait would end past the deadline is not made.
    """

    max_retries: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    initial_delay: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    max_retry_after: float = attrs.field(default=120.0, validator=attrs.validators.ge(0))
    deadline: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )


class Failure(enum.Enum):
    """What went wrong with one attempt, as far as repeating it is concerned."""

    #: Nothing reached the server (connect error, no pooled connection): safe to repeat.
    NOT_SENT = "not sent"
    #: The request may have been applied (connection broke after sending, read timeout).
    UNKNOWN_OUTCOME = "outcome unknown"
    #: 429: the server refused because of the rate limit; nothing was applied.
    RATE_LIMITED = "rate limited"
    #: 503: the server refused the request; nothing was applied.
    UNAVAILABLE = "unavailable"
    #: 502 / 504: a proxy could not get an answer; the request may have been applied.
    GATEWAY = "gateway error"


#: Failures after which the request was certainly not applied.
_NEVER_APPLIED = frozenset({Failure.NOT_SENT, Failure.RATE_LIMITED, Failure.UNAVAILABLE})


def failure_for_status(status_code: int) -> Failure | None:
    """Classify an error status, or return ``None`` if it is never retried."""
    if status_code == 429:
        return Failure.RATE_LIMITED
    if status_code == 503:
        return Failure.UNAVAILABLE
    if status_code in (502, 504):
        return Failure.GATEWAY
    return None


def may_repeat(failure: Failure, *, repeatable: bool) -> bool:
    """Whether a request that failed this way may be sent again.

    ``repeatable`` says a repeat is harmless even if the first attempt was applied (GET,
    DELETE, and the POSTs whose duplicate is detected as a 409 and resolved).
    """
    return failure in _NEVER_APPLIED or repeatable


def backoff_delay(policy: RetryPolicy, retry: int, rand: Callable[[], float]) -> float:
    """Return the full-jitter backoff before retry number ``retry`` (1 for the first retry)."""
    ceiling: float = min(policy.max_delay, policy.initial_delay * 2.0 ** (retry - 1))
    return ceiling * rand()


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float]) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds, or ``None``.

    Seconds (``"3"``, ``"1.5"``) and HTTP dates are both understood; a date in the past means
    0. Garbage, negative, NaN and infinite values give ``None`` (use backoff instead); huge
    values are clamped to a day. When the header is repeated, the longest valid wait wins:
    the client never retries earlier than the server asked.
    """
    raw = headers.get("retry-after")
    if raw is None:
        return None
    waits = [w for part in _split_header(raw) if (w := _one_retry_after(part, now)) is not None]
    return max(waits) if waits else None


_WEEKDAYS = frozenset(
    ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday")
) | frozenset(("thursday", "friday", "saturday", "sunday"))


def _split_header(raw: str) -> list[str]:
    # httpx2 joins repeated headers with ", ", but an HTTP date contains ", " itself: glue a
    # weekday back to the date that follows it ("3, Wed, 21 Oct 2015 07:28:00 GMT" is 2 values).
    values: list[str] = []
    glue = False
    for part in raw.split(","):
        if glue:
            values[-1] += "," + part
        else:
            values.append(part)
        glue = part.strip().lower() in _WEEKDAYS
    return values


def _one_retry_after(text: str, now: Callable[[], float]) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _retry_after_date(text, now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, _MAX_PARSED_DELAY)


def _retry_after_date(text: str, now: Callable[[], float]) -> float | None:
    if not text[:1].isalpha():
        return None  # "-3" or "12:00" is not a date, whatever a lenient parser thinks
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - now()), _MAX_PARSED_DELAY)


def parse_rate_limit_reset(headers: Mapping[str, str], now: Callable[[], float]) -> float | None:
    """Return seconds until the rate limit resets, if ``X-RateLimit-Remaining`` is 0.

    ``X-RateLimit-Reset`` is read as epoch seconds (Exotel's documented form), epoch
    milliseconds, or, for small values, a delay in seconds. A reset in the past gives 0.
    """
    remaining = headers.get("x-ratelimit-remaining")
    if remaining is None:  # the usual case: one look-up
        return None
    reset = headers.get("x-ratelimit-reset")
    if reset is None:
        return None
    try:
        if float(remaining) > 0:
            return None
        value = float(reset)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    if value > 1e12:  # epoch milliseconds
        value = value / 1000.0 - now()
    elif value > 1e9:  # epoch seconds
        value = value - now()
    return min(max(0.0, value), _MAX_PARSED_DELAY)


def default_random() -> float:
    """The default source of jitter."""
    return random.random()  # noqa: S311 - jitter, not cryptography
