"""The :class:`Emulator`: an in-memory Exotel account, its knobs, faults and inspection."""

from __future__ import annotations

import functools
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import attrs

from ._admin import AdminApi, is_admin_path
from ._app import ApiApp
from ._dialects import Dialect, envelopes_for
from ._errors import EmulatedError
from ._faults import (
    Fault,
    FaultKind,
    FaultPlan,
    FaultRule,
    RequestDraws,
    ScriptedFault,
    error_status,
)
from ._inspection import ConnectionStats, Counters, RequestRecord
from ._knobs import Knobs, Latency
from ._messages import EmulatedRequest, EmulatedResponse, Exchange
from ._ratelimit import BucketDecision, RateLimitConfig, TokenBucket
from ._server import serve as _serve
from ._state import AccountState, SipCredentials
from ._transport import EmulatorTransport

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_API_KEY",
    "DEFAULT_API_TOKEN",
    "Emulator",
    "FaultSpec",
]

DEFAULT_API_KEY = "emulator-key"
DEFAULT_API_TOKEN = "emulator-token"  # noqa: S105 - a fixed test credential, not a secret
DEFAULT_ACCOUNT_SID = "emulator"

#: Faults given as ``{"503": 0.1, "429": 0.05}``, or as :class:`FaultRule` objects (or dicts
#: of their fields: ``{"kind": "503", "probability": 0.1, "method": "POST", "path": ...}``).
FaultSpec = Mapping[str, float] | Iterable[FaultRule | Mapping[str, Any]]

_BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


#: Faults that keep the request from being applied, and where the connection fails for them.
_UNDELIVERED: dict[str, Literal["connect", "write"] | None] = {
    "drop_before": None,
    "refuse": "connect",
    "write_error": "write",
}

#: What :meth:`Emulator.handle` reports if it ends before an answer was made (cancelled).
_UNANSWERED = Exchange(None)


@functools.lru_cache(maxsize=1)
def _utc_second(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


def _utc_now() -> datetime:
    """The current UTC time to the second (one ``datetime`` made per second, not per call)."""
    return _utc_second(int(time.time()))


def _rules(faults: FaultSpec) -> list[FaultRule]:
    if isinstance(faults, Mapping):
        return [FaultRule(kind, probability) for kind, probability in faults.items()]
    return [rule if isinstance(rule, FaultRule) else FaultRule(**rule) for rule in faults]


class Emulator:
    """An in-memory Exotel account that answers the Voice Trunking API.

    Use it in process (``httpx2.AsyncClient(transport=emulator.transport())``) or over real
    HTTP (``async with emulator.serve() as base_url``). Everything random comes from ``seed``:
    ids, passwords and latency jitter from one ``random.Random(seed)``, probabilistic faults
    from draws keyed on the seed and the request, so that concurrent calls meet the same
    faults run after run.

    Args:
        api_key: The Basic-auth username the emulator accepts.
        api_token: The Basic-auth password it accepts (never shown in a repr or log).
        account_sid: The account; other sids in a path answer 403.
        dialect: ``"reference"`` (the reference document's shapes) or ``"live"``.
        seed: Seeds the random generator.
        latency: Seconds from an API request's arrival to its handling (the served emulator counts
            from when its first bytes came), or a ``(low, high)`` jitter range.
        rate_limit: A token bucket, e.g. ``"200/60"`` or ``(200, 60.0)``; 429 beyond it.
        concurrency_limit: Requests in flight beyond this many answer 429.
        faults: Probabilistic faults, e.g. ``{"503": 0.1}`` (see :meth:`set_faults`).
        page_size: Default page size of live list answers.
        issue_credentials: Whether new trunks get SIP credentials right away; ``None``
            follows the dialect (reference: yes; live: no, as the live service gives none).
        require_whitelisted_destinations: Refuse IP destinations not whitelisted first;
            ``None`` follows the dialect (live: yes, reference: no).
        slow_seconds: How long a ``slow`` fault delays its answer.
        slow_applies: Whether a ``slow`` request's change lands even if the client gives up.
        fault_retry_after: ``Retry-After`` seconds of an injected ``429``.
        idle_timeout: The served emulator closes keep-alive connections idle this long.
        max_logged_requests: How many requests the request log keeps.
        clock: A monotonic clock in seconds, for the rate limit and request durations.
        sleep: The async sleep that latency and slow answers wait with. Give ``clock`` and
            ``sleep`` of one virtual clock to run the emulator in a test's virtual time.
        now: Returns the wall-clock time (timezone-aware) for record timestamps and the
            ``X-RateLimit-Reset`` header.

    Every knob can be changed later with :meth:`configure` (see :class:`Knobs`).

    Raises:
        ValueError: For an unknown dialect, knob or fault, or an invalid value.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        api_token: str = DEFAULT_API_TOKEN,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        *,
        dialect: Dialect = "reference",
        seed: int | None = 0,
        latency: Latency | str = 0.0,
        rate_limit: RateLimitConfig | str | tuple[float, ...] | None = None,
        concurrency_limit: int | None = None,
        faults: FaultSpec | None = None,
        page_size: int = 50,
        issue_credentials: bool | None = None,
        require_whitelisted_destinations: bool | None = None,
        slow_seconds: float = 30.0,
        slow_applies: bool = True,
        fault_retry_after: int = 1,
        idle_timeout: float | None = None,
        max_logged_requests: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._envelopes = envelopes_for(dialect, account_sid)
        knobs = {
            "latency": latency,
            "rate_limit": rate_limit,
            "concurrency_limit": concurrency_limit,
            "page_size": page_size,
            "issue_credentials": issue_credentials,
            "require_whitelisted_destinations": require_whitelisted_destinations,
            "slow_seconds": slow_seconds,
            "slow_applies": slow_applies,
            "fault_retry_after": fault_retry_after,
            "idle_timeout": idle_timeout,
            "max_logged_requests": max_logged_requests,
        }
        self._api_key = api_key
        self._api_token = api_token
        self._account_sid = account_sid
        self._seed = seed
        self._clock = clock
        self._sleep = sleep if sleep is not None else _sleep_at_least
        self._now = now
        self.knobs = Knobs()
        self.knobs.update(knobs)
        self.faults = FaultPlan()
        if faults is not None:
            self.set_faults(faults)
        self.connections = ConnectionStats()
        self._in_flight = 0
        self._bucket: TokenBucket | None = None
        self._admin = AdminApi(self)
        self._start()

    def _start(self) -> None:
        """(Re)build everything that the seed and a reset start afresh."""
        # Seeded on purpose: reproducible ids and faults; nothing here protects anything.
        self._rng = random.Random(self._seed)  # noqa: S311
        self._fault_draws = RequestDraws(self._seed)  # per request: see its docstring
        ids = self._envelopes.make_ids(self._rng)
        self.state = AccountState(self._account_sid, ids=ids, now=self._now)
        self._app = ApiApp(
            state=self.state,
            envelopes=self._envelopes,
            ids=ids,
            knobs=self.knobs,
            api_key=self._api_key,
            api_token=self._api_token,
        )
        self._log: deque[RequestRecord] = deque(maxlen=self.knobs.max_logged_requests)
        self.counters = Counters()
        self._bucket = None

    def __repr__(self) -> str:
        return (
            f"Emulator(account_sid={self._account_sid!r}, dialect={self.dialect!r}, "
            f"trunks={len(self.state.trunks)}, requests={self.counters.total})"
        )

    # -- configuration --------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        """``"reference"`` or ``"live"``."""
        return self._envelopes.name

    @property
    def account_sid(self) -> str:
        """The emulated account's sid."""
        return self._account_sid

    @property
    def api_key(self) -> str:
        """The accepted API key (the token is deliberately not exposed)."""
        return self._api_key

    def configure(self, **changes: Any) -> None:
        """Change knobs (see :class:`Knobs`); ``faults=`` replaces the probabilistic faults.

        Raises:
            ValueError: For an unknown knob or an invalid value; nothing is changed then.
        """
        faults = changes.pop("faults", None)
        rules = _rules(faults) if faults is not None else None
        self.knobs.update(changes)
        if "rate_limit" in changes:
            self._bucket = None  # a new limit starts with a full bucket
        if "max_logged_requests" in changes:
            self._log = deque(self._log, maxlen=self.knobs.max_logged_requests)
        if rules is not None:
            self.faults.rules[:] = rules

    def set_faults(self, faults: FaultSpec) -> None:
        """Replace the probabilistic faults.

        Args:
            faults: ``{"503": 0.10, "429": 0.05, "drop_after": 0.03}`` (every request), or
                :class:`FaultRule` objects limited to a method and/or path pattern. The
                probabilities stack: one draw per request picks at most one fault.
        """
        self.faults.rules[:] = _rules(faults)

    def add_fault(
        self,
        kind: FaultKind,
        probability: float = 1.0,
        *,
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes | str | None = None,
        seconds: float | None = None,
    ) -> FaultRule:
        """Add one probabilistic fault, optionally limited to a method and a path pattern.

        ``path`` may be a full path or one relative to ``/v2/accounts/{sid}``; ``*`` matches
        within a segment, ``**`` across segments: ``"/trunks/*/phone-numbers"``.
        ``headers``, ``body`` and ``seconds`` shape the answer (see :class:`FaultRule`).
        """
        rule = FaultRule(kind, probability, method, path, headers, body, seconds)
        self.faults.rules.append(rule)
        return rule

    def script(
        self,
        method: str | None,
        path: str | None,
        kind: FaultKind,
        *,
        times: int = 1,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes | str | None = None,
        seconds: float | None = None,
    ) -> ScriptedFault:
        """Make the next ``times`` matching requests answer with ``kind``, then behave again.

        Examples::

            emulator.script("POST", "/trunks/*/phone-numbers", "503", times=2)
            emulator.script("GET", "/trunks/*/phone-numbers", "429", headers={"Retry-After": "7"})
            emulator.script("GET", None, "504")  # any HTTP error status, as an error envelope

        Scripts are consumed in the order they were added and take precedence over
        probabilistic faults. ``headers``, ``body`` and ``seconds`` shape the answer (see
        :class:`FaultRule`).
        """
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times={times!r} is invalid: expected a positive int")
        scripted = ScriptedFault(kind, method, path, times, headers, body, seconds)
        self.faults.scripts.append(scripted)
        return scripted

    def clear_faults(self) -> None:
        """Remove every probabilistic fault and script."""
        self.faults.clear()

    def issue_credentials(self, trunk_sid: str) -> SipCredentials:
        """Give a trunk SIP credentials now (e.g. one created with ``issue_credentials=False``).

        Raises:
            EmulatedError: 404 if the trunk does not exist.
        """
        return self.state.issue_credentials(trunk_sid)

    # -- inspection -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """The API requests received, oldest first (admin requests are not logged)."""
        return list(self._log)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the account's state (without SIP passwords)."""
        return self.state.snapshot()

    def reset(self, *, knobs: bool = False, faults: bool = True) -> None:
        """Start afresh: empty state, log and counters, and the seed's sequence from the start.

        Args:
            knobs: Also restore every knob's default.
            faults: Also remove the probabilistic faults and scripts.
        """
        if knobs:
            self.knobs.update({f: getattr(Knobs(), f) for f in self.knobs.to_dict()})
        if faults:
            self.faults.clear()
        # Connections still open stay counted, so that their closing later balances out.
        open_now = self.connections.current
        self.connections = ConnectionStats(current=open_now, peak=open_now)
        self._start()

    # -- front ends -----------------------------------------------------------------------

    def transport(self) -> EmulatorTransport:
        """An ``httpx2.AsyncBaseTransport`` answering from this emulator, whatever the host."""
        return EmulatorTransport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> AbstractAsyncContextManager[str]:
        """Serve over HTTP/1.1 while the ``async with`` block runs; yields the base URL.

        Example::

            async with emulator.serve() as base_url:  # "http://127.0.0.1:54321"
                ...
        """
        return _serve(self, host, port)

    # -- request handling -----------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock the emulator keeps time by (``time.monotonic`` unless injected)."""
        return self._clock

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` as the emulator does for latency and slow answers (injectable)."""
        await self._sleep(seconds)

    async def handle(
        self,
        request: EmulatedRequest,
        *,
        read_timeout: float | None = None,
        arrived: float | None = None,
    ) -> Exchange:
        """Handle one request with latency, limits and faults applied.

        Args:
            request: The request.
            read_timeout: The client's read timeout, if the front end knows it (the in-process
                transport does): a ``slow`` answer then waits only that long and reports
                ``timed_out``.
            arrived: When the request arrived, on :attr:`clock`, if the front end knows (the
                served emulator notes when its first bytes came, before reading it whole): the
                latency counts from then, else from now.

        Returns:
            What to send back, or ``response=None`` to drop the connection.
        """
        if is_admin_path(request.path):
            return Exchange(self._admin.handle(request))
        started = self._clock()
        self._in_flight += 1
        over_concurrency = (
            self.knobs.concurrency_limit is not None
            and self._in_flight > self.knobs.concurrency_limit
        )
        exchange = _UNANSWERED
        fault: Fault | None = None
        try:
            delay = self.knobs.sample_latency(self._rng)
            if arrived is not None:
                delay -= started - arrived
            if delay > 0:
                await self._sleep(delay)
            refusal, decision = self._admit(request, over_concurrency)
            if refusal is not None:
                exchange = Exchange(refusal)
                return exchange
            draw = functools.partial(
                self._fault_draws.draw, request.method, request.path, request.query, request.body
            )
            fault = self.faults.choose(request.method, request.path, draw)
            exchange = await self._respond(request, fault, read_timeout)
            response = exchange.response
            shaped = fault is not None and bool(fault.headers)
            if response is not None and (decision is not None or shaped):
                response = self._with_rate_headers(response, decision)
                if fault is not None and fault.headers:  # the fault's own headers win
                    response = response.with_headers(fault.headers)
                exchange = attrs.evolve(exchange, response=response)
            return exchange
        finally:
            # Also reached when the client gives up mid-answer (cancellation): then the
            # request is logged as unanswered, with the fault that was being applied.
            self._in_flight -= 1
            status = exchange.response.status if exchange.response is not None else None
            if exchange.timed_out:
                status = None
            kind = fault.kind if fault is not None else None
            record = RequestRecord(
                method=request.method,
                path=request.path,
                query=request.query,
                status=status,
                fault=kind,
                duration=max(0.0, self._clock() - started),
                arrived=started if arrived is None else arrived,
            )
            self._log.append(record)
            self.counters.record(status, kind)

    def _admit(
        self, request: EmulatedRequest, over_concurrency: bool
    ) -> tuple[EmulatedResponse | None, BucketDecision | None]:
        """Apply the concurrency limit and the token bucket: a refusal, and the bucket's word."""
        if over_concurrency:
            self.counters.concurrency_limited += 1
            error = EmulatedError.rate_limited("Too many concurrent requests, retry later")
            return self._app.error(request, error).with_headers([("retry-after", "1")]), None
        if self.knobs.rate_limit is None:
            return None, None
        if self._bucket is None or self._bucket.config != self.knobs.rate_limit:
            self._bucket = TokenBucket(self.knobs.rate_limit, self._clock)
        decision = self._bucket.take()
        if decision.allowed:
            return None, decision
        self.counters.rate_limited += 1
        response = self._app.error(request, EmulatedError.rate_limited())
        return self._with_rate_headers(response, decision), decision

    async def _respond(
        self, request: EmulatedRequest, fault: Fault | None, read_timeout: float | None
    ) -> Exchange:
        if fault is None or fault.kind == "ok":  # "ok": answered as usual, shaped later
            return Exchange(self._app.handle(request), fault=None if fault is None else fault.kind)
        return await self._inject(fault, request, read_timeout)

    async def _inject(
        self, fault: Fault, request: EmulatedRequest, read_timeout: float | None
    ) -> Exchange:
        kind = fault.kind
        status = error_status(kind)
        if status is not None:
            return Exchange(self._error_answer(request, fault, status), fault=kind)
        if kind == "502_html":
            headers = (("content-type", "text/html"), ("server", "nginx"))
            return Exchange(EmulatedResponse(502, headers, _BAD_GATEWAY_PAGE), fault=kind)
        if kind in _UNDELIVERED:
            return Exchange(None, fault=kind, failed_at=_UNDELIVERED[kind])
        if kind == "drop_after":
            self._app.handle(request)  # the change lands; the answer never leaves
            return Exchange(None, fault=kind)
        if kind == "slow_body":
            pause = fault.seconds if fault.seconds is not None else 1.0
            return Exchange(self._app.handle(request), fault=kind, drip=pause)
        return await self._slow(request, fault, read_timeout)

    def _error_answer(
        self, request: EmulatedRequest, fault: Fault, status: int
    ) -> EmulatedResponse:
        """The answer of an error-status fault: its envelope (or ``body``); a 429 Retry-After."""
        if fault.body is not None:
            headers = (("content-type", _content_type(fault.body)),)
            response = EmulatedResponse(status, headers, fault.body)
        else:
            response = self._app.error(request, EmulatedError.injected(status))
        if status == 429:
            response = response.with_headers([("retry-after", str(self.knobs.fault_retry_after))])
        return response

    async def _slow(
        self, request: EmulatedRequest, fault: Fault, read_timeout: float | None
    ) -> Exchange:
        delay = fault.seconds if fault.seconds is not None else self.knobs.slow_seconds
        response = self._app.handle(request) if self.knobs.slow_applies else None
        if read_timeout is not None and delay > read_timeout:
            # Wait as long as the client would, then report its timeout; a server that had
            # not applied the change yet never will, since the client is gone.
            await self._sleep(read_timeout)
            return Exchange(response, timed_out=True, fault="slow")
        await self._sleep(delay)
        if response is None:
            response = self._app.handle(request)
        return Exchange(response, fault="slow")

    def _with_rate_headers(
        self, response: EmulatedResponse, decision: BucketDecision | None
    ) -> EmulatedResponse:
        if decision is None:
            return response
        epoch = self._now().timestamp()
        headers = decision.headers(epoch)
        if response.header("retry-after") is not None:
            headers = [h for h in headers if h[0] != "retry-after"]
        return response.with_headers(headers)


def _content_type(body: bytes) -> str:
    """A fault body's type: JSON if it parses, else plain text (its ``headers=`` may differ)."""
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


#: How early a latency wait first aims (see :func:`_sleep_at_least`).
_TIMER_LEAD = 0.001


async def _sleep_at_least(seconds: float) -> None:
    """Sleep ``seconds``: never less, and on asyncio no longer a millisecond more.

    asyncio's timers fire up to a millisecond or so late on Linux: the selector rounds its wait
    up to whole milliseconds, and CPython's ``epoll.poll`` rounds the result up once more, so
    ``anyio.sleep(0.05)`` takes about a millisecond more. Latency is the knob a benchmark computes
    its ideal time from, so the emulator aims a millisecond early and then sleeps out whatever
    is left (none, on asyncio, most of the time).
    """
    deadline = anyio.current_time() + seconds
    await anyio.sleep_until(deadline - _TIMER_LEAD)
    if anyio.current_time() < deadline:
        await anyio.sleep_until(deadline)
