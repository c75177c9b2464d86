"""The server-side rate limit: a token bucket on an injectable monotonic clock."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["BucketDecision", "RateLimitConfig", "TokenBucket", "to_rate_limit"]

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*(?:/\s*(\d+)\s*)?")


def _positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name}={value!r} is invalid: expected a positive number")


@attrs.frozen
class RateLimitConfig:
    """Allow ``calls`` per ``period`` seconds, with bursts of up to ``burst`` calls.

    Attributes:
        calls: Calls refilled per period (and the ``X-RateLimit-Limit`` header).
        period: The period in seconds.
        burst: The bucket's capacity; ``None`` means ``calls``.
    """

    calls: int = attrs.field(validator=_positive)
    period: float = attrs.field(default=1.0, converter=float, validator=_positive)
    burst: int | None = attrs.field(default=None, validator=_positive)

    @classmethod
    def parse(cls, text: str) -> RateLimitConfig:
        """Parse ``"calls/period"`` or ``"calls/period/burst"``, e.g. ``"200/60"``, ``"10/1/20"``.

        Raises:
            ValueError: If ``text`` is not of that form.
        """
        match = _SPEC.fullmatch(text)
        if match is None:
            raise ValueError(
                f"rate_limit={text!r} is invalid: expected 'calls/period[/burst]', e.g. '200/60'"
            )
        calls, period, burst = match.groups()
        return cls(int(calls), float(period), int(burst) if burst else None)

    @property
    def capacity(self) -> int:
        """How many calls may arrive at once after a quiet spell."""
        return self.burst if self.burst is not None else self.calls

    @property
    def rate(self) -> float:
        """Tokens refilled per second."""
        return self.calls / self.period

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return attrs.asdict(self)


def to_rate_limit(value: object) -> RateLimitConfig | None:
    """Accept a :class:`RateLimitConfig`, ``"calls/period[/burst]"``, a tuple or a mapping.

    Raises:
        ValueError: For anything else.
    """
    if value is None or isinstance(value, RateLimitConfig):
        return value
    if isinstance(value, str):
        return RateLimitConfig.parse(value)
    if isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
        return RateLimitConfig(*value)
    if isinstance(value, dict):
        return RateLimitConfig(**value)
    raise ValueError(f"rate_limit={value!r} is invalid: expected e.g. '200/60' or (200, 60.0)")


@attrs.frozen
class BucketDecision:
    """The bucket's answer for one request.

    Attributes:
        allowed: Whether the request may proceed.
        limit: The configured calls per period.
        remaining: Whole tokens left after this request.
        retry_after: Seconds until a token is available (0 when allowed).
        reset_after: Seconds until the bucket is full again.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float

    def headers(self, epoch_now: float) -> list[tuple[str, str]]:
        """``X-RateLimit-*`` headers, plus ``Retry-After`` (whole seconds) when refused."""
        headers = [
            ("x-ratelimit-limit", str(self.limit)),
            ("x-ratelimit-remaining", str(self.remaining)),
            ("x-ratelimit-reset", str(math.ceil(epoch_now + self.reset_after))),
        ]
        if not self.allowed:
            headers.append(("retry-after", str(max(1, math.ceil(self.retry_after)))))
        return headers


class TokenBucket:
    """A token bucket: starts full, refills continuously, one token per request.

    Args:
        config: The limit.
        clock: A monotonic clock in seconds (injectable, so tests need not sleep).
    """

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._clock = clock
        self._tokens = float(config.capacity)
        self._stamp = clock()

    def __repr__(self) -> str:
        return f"TokenBucket({self.config!r}, tokens={self._tokens:.2f})"

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self.config.capacity), self._tokens + elapsed * self.config.rate)

    def take(self) -> BucketDecision:
        """Take a token if there is one, and say what the headers should report."""
        self._refill()
        rate = self.config.rate
        allowed = self._tokens >= 1.0
        if allowed:
            self._tokens -= 1.0
        return BucketDecision(
            allowed=allowed,
            limit=self.config.calls,
            remaining=math.floor(self._tokens),
            retry_after=0.0 if allowed else (1.0 - self._tokens) / rate,
            reset_after=(self.config.capacity - self._tokens) / rate,
        )
