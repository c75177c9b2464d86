"""The emulator's realism knobs, validated on every assignment.

Faults are not knobs (they live in :class:`~._faults.FaultPlan`); everything else that changes
how the emulator behaves, rather than what it stores, is here.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import attrs

from ._ratelimit import RateLimitConfig, to_rate_limit

__all__ = ["Knobs", "Latency", "to_latency"]

#: Fixed seconds, or a ``(low, high)`` range drawn uniformly per request.
Latency = float | tuple[float, float]


def to_latency(value: object) -> Latency:
    """Accept seconds, ``(low, high)``, or the strings ``"0.05"`` and ``"0.01-0.1"``.

    Raises:
        ValueError: For a negative value, a reversed range or anything else.
    """
    if isinstance(value, str):
        low, dash, high = value.partition("-")
        value = (float(low), float(high)) if dash else float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low_s, high_s = float(value[0]), float(value[1])
        if not 0.0 <= low_s <= high_s:
            raise ValueError(f"latency={value!r} is invalid: expected 0 <= low <= high")
        return (low_s, high_s)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"latency={value!r} is invalid: expected seconds >= 0 or (low, high)")


def _optional_positive_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is invalid: expected a positive int or None")
    return value


def _optional_positive_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{value!r} is invalid: expected positive seconds or None")
    return float(value)


def _non_negative_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{value!r} is invalid: expected seconds >= 0")
    return float(value)


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is invalid: expected true or false")
    return value


def _optional_bool(value: object) -> bool | None:
    return None if value is None else _strict_bool(value)


def _page_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ValueError(f"page_size={value!r} is invalid: expected an int from 1 to 1000")
    return value


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r} is invalid: expected a positive int")
    return value


def _retry_after(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"fault_retry_after={value!r} is invalid: expected whole seconds >= 0")
    return value


@attrs.define
class Knobs:
    """How the emulator behaves; assign any attribute (or use ``Emulator.configure``).

    Attributes:
        latency: Seconds from an API request's arrival to its handling, or a ``(low, high)``
            jitter range.
        rate_limit: A token bucket (``"200/60"``, ``(200, 60.0)``, :class:`RateLimitConfig`);
            beyond it requests answer 429 / 1030 with ``Retry-After``. ``None``: no limit.
        concurrency_limit: Requests in flight beyond this many answer 429. ``None``: no limit.
        page_size: Default page size of live list answers.
        issue_credentials: Whether new trunks get SIP credentials right away; ``None``
            follows the dialect (reference: yes; live: no, as the live service gives none).
        require_whitelisted_destinations: Refuse IP destinations that are not whitelisted;
            ``None`` follows the dialect (live: yes, reference: no).
        slow_seconds: How long a ``slow`` fault delays its answer.
        slow_applies: Whether a ``slow`` request's change is applied even if the client gives
            up waiting (like a real slow server), or only once the delay has passed.
        fault_retry_after: ``Retry-After`` seconds sent with an injected ``429`` fault.
        idle_timeout: The served emulator closes keep-alive connections idle this long.
        max_logged_requests: How many requests the request log keeps (oldest dropped first).
    """

    latency: Latency = attrs.field(default=0.0, converter=to_latency)
    rate_limit: RateLimitConfig | None = attrs.field(default=None, converter=to_rate_limit)
    concurrency_limit: int | None = attrs.field(default=None, converter=_optional_positive_int)
    page_size: int = attrs.field(default=50, converter=_page_size)
    issue_credentials: bool | None = attrs.field(default=None, converter=_optional_bool)
    require_whitelisted_destinations: bool | None = attrs.field(
        default=None, converter=_optional_bool
    )
    slow_seconds: float = attrs.field(default=30.0, converter=_non_negative_float)
    slow_applies: bool = attrs.field(default=True, converter=_strict_bool)
    fault_retry_after: int = attrs.field(default=1, converter=_retry_after)
    idle_timeout: float | None = attrs.field(default=None, converter=_optional_positive_float)
    max_logged_requests: int = attrs.field(default=10_000, converter=_positive_int)

    def sample_latency(self, rng: random.Random) -> float:
        """Seconds to wait for one request (draws from ``rng`` only for a range)."""
        if isinstance(self.latency, tuple):
            low, high = self.latency
            return rng.uniform(low, high)
        return self.latency

    def update(self, changes: Mapping[str, Any]) -> None:
        """Assign several knobs at once; all are checked before any is changed.

        Raises:
            ValueError: For an unknown knob or an invalid value (nothing is changed).
        """
        names = {field.name for field in attrs.fields(Knobs)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}; known: {sorted(names)}")
        # Build a candidate first so that one bad value leaves every knob untouched.
        candidate = attrs.evolve(self, **changes)
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        data = attrs.asdict(self, recurse=False)
        data["latency"] = list(self.latency) if isinstance(self.latency, tuple) else self.latency
        data["rate_limit"] = None if self.rate_limit is None else self.rate_limit.to_dict()
        return data
