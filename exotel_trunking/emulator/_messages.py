"""Transport-neutral request and response values passed between the front ends and the app.

The in-process transport and the h11 server both turn what they receive into an
:class:`EmulatedRequest` and write out the :class:`EmulatedResponse` they get back, so routing,
envelopes and faults are written once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any, Literal

import attrs

__all__ = ["EmulatedRequest", "EmulatedResponse", "Exchange"]


def _upper(value: str) -> str:
    return value.upper()


def _lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): value for name, value in items}


@attrs.frozen
class EmulatedRequest:
    """One HTTP request as the emulator sees it.

    Attributes:
        method: The upper-case HTTP method.
        path: The percent-encoded path, without the query.
        query: The raw query string, without the ``?``.
        headers: Header names lower-cased; kept out of ``repr`` (it holds ``Authorization``).
        body: The request body.
        client: The peer's IP address, or ``None`` in process.
    """

    method: str = attrs.field(converter=_upper)
    path: str
    query: str = ""
    headers: dict[str, str] = attrs.field(factory=dict, converter=_lower_headers, repr=False)
    body: bytes = attrs.field(default=b"", repr=False)
    client: str | None = None

    def header(self, name: str) -> str | None:
        """Return the header ``name`` (case-insensitive), if present."""
        return self.headers.get(name.lower())


@attrs.frozen
class EmulatedResponse:
    """One HTTP response: status, headers (in order) and body."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()
    ) -> EmulatedResponse:
        """A JSON response (``Content-Type: application/json``)."""
        body = json.dumps(payload).encode()
        return cls(status, (("content-type", "application/json"), *headers), body)

    @property
    def reason(self) -> str:
        """The reason phrase for :attr:`status`."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    def header(self, name: str) -> str | None:
        """Return the first header called ``name`` (case-insensitive), if any."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def with_headers(self, extra: Iterable[tuple[str, str]]) -> EmulatedResponse:
        """A copy with ``extra`` headers added, replacing any of the same names."""
        extra = tuple(extra)
        names = {name.lower() for name, _ in extra}
        kept = tuple(h for h in self.headers if h[0].lower() not in names)
        return attrs.evolve(self, headers=kept + extra)

    def payload(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@attrs.frozen
class Exchange:
    """What the front end should do with a request the emulator has handled.

    Attributes:
        response: The response to send, or ``None`` to drop the connection without answering.
        timed_out: The response took longer than the caller's read timeout (in process only):
            the transport raises ``httpx2.ReadTimeout``.
        fault: The injected fault applied to this request, if any.
        failed_at: With ``response=None``: where the connection failed before the request was
            delivered, ``"connect"`` (refused) or ``"write"`` (broken while being sent); in
            process ``httpx2.ConnectError`` or ``httpx2.WriteError``, served the connection
            closes unanswered. ``None``: dropped after the request arrived.
        drip: Send the body a byte at a time, this many seconds apart (a ``slow_body`` fault).
    """

    response: EmulatedResponse | None
    timed_out: bool = False
    fault: str | None = None
    failed_at: Literal["connect", "write"] | None = None
    drip: float | None = None
