"""What tests can look at after the fact: the request log, counters and connection stats.

Nothing here ever holds a header: the log keeps the method, path, query, outcome and timing
of each request, so the API token cannot end up in it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

__all__ = ["ConnectionStats", "Counters", "RequestRecord"]


@attrs.frozen
class RequestRecord:
    """One API request the emulator received.

    Attributes:
        method: The HTTP method.
        path: The request path (percent-encoded, no query).
        query: The raw query string.
        status: The HTTP status answered, or ``None`` if no answer was sent (a dropped
            connection, a client that timed out or went away).
        fault: The injected fault applied, if any (``"503"``, ``"drop_after"``, ...).
        duration: Seconds from arrival to answer, on the emulator's clock (to the head of a
            ``slow_body`` answer: the record is made before its body drips out).
        arrived: When the request arrived, on the emulator's clock.
    """

    method: str
    path: str
    query: str
    status: int | None
    fault: str | None
    duration: float
    arrived: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return attrs.asdict(self)


@attrs.define
class Counters:
    """Running totals of API requests.

    Attributes:
        total: Requests received.
        by_status: Answers sent, by HTTP status.
        by_fault: Injected faults applied, by kind.
        rate_limited: Requests refused by the token bucket.
        concurrency_limited: Requests refused by the concurrency limit.
        unanswered: Requests that got no answer (drops, timeouts, clients gone).
    """

    total: int = 0
    by_status: Counter[int] = attrs.field(factory=Counter)
    by_fault: Counter[str] = attrs.field(factory=Counter)
    rate_limited: int = 0
    concurrency_limited: int = 0
    unanswered: int = 0

    def record(self, status: int | None, fault: str | None) -> None:
        """Count one finished request."""
        self.total += 1
        if status is None:
            self.unanswered += 1
        else:
            self.by_status[status] += 1
        if fault is not None:
            self.by_fault[fault] += 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (status keys become strings, as JSON requires)."""
        return {
            "total": self.total,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_fault": dict(sorted(self.by_fault.items())),
            "rate_limited": self.rate_limited,
            "concurrency_limited": self.concurrency_limited,
            "unanswered": self.unanswered,
        }


@attrs.define
class ConnectionStats:
    """TCP connections of the served emulator.

    Attributes:
        opened: Connections accepted.
        closed: Connections closed (by either side).
        current: Connections open now.
        peak: The most connections open at once.
        requests: Requests read over all connections (keep-alive reuse shows as
            ``requests > opened``).
        idle_closed: Keep-alive connections the emulator closed after the ``idle_timeout``.
    """

    opened: int = 0
    closed: int = 0
    current: int = 0
    peak: int = 0
    requests: int = 0
    idle_closed: int = 0

    def connection_opened(self) -> None:
        """Count an accepted connection."""
        self.opened += 1
        self.current += 1
        self.peak = max(self.peak, self.current)

    def connection_closed(self) -> None:
        """Count a closed connection."""
        self.closed += 1
        self.current -= 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return attrs.asdict(self)
