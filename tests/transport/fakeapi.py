"""A small in-memory Exotel for the transport tests, with scripted and random faults.

:class:`FakeExotel` speaks the reference envelopes for the endpoints the retry rules care
about (trunks, numbers, whitelisted IPs, destinations, the alias). It is independent of HTTP:
:meth:`FakeExotel.mock_transport` serves it through ``httpx2.MockTransport`` (with injected
time), and :class:`~.loopback.LoopbackServer` serves it over a real socket.

A fault either answers instead of the store (``Status``), breaks the connection before or
after the store applied the request (``DropBefore`` / ``DropAfter``), refuses the connection
(``Refuse``), or delays / drips the answer (``Delay``).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote

import anyio
import attrs
import httpx2

ACCOUNT = "acme"
ROOT = f"/v2/accounts/{ACCOUNT}/"
CREATED = "2025-01-22T10:30:00Z"


@attrs.frozen
class Request:
    """What the fake server received."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@attrs.frozen
class Reply:
    """An HTTP answer; ``delay`` holds back the status line, ``drip`` spaces body chunks."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drip: float | None = None
    chunk: int = 1


@attrs.frozen
class Drop:
    """Close the connection without answering (over MockTransport: raise ``error``)."""

    error: type[httpx2.TransportError] = httpx2.RemoteProtocolError


# Scripted faults, consumed in order by the matching requests.


@attrs.frozen
class Status:
    """Answer ``status`` (an error envelope unless ``body`` is given) without applying."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


@attrs.frozen
class DropBefore:
    """Break the connection without applying the request."""

    error: type[httpx2.TransportError] = httpx2.RemoteProtocolError


@attrs.frozen
class DropAfter:
    """Apply the request, then break the connection before answering."""

    error: type[httpx2.TransportError] = httpx2.RemoteProtocolError


@attrs.frozen
class Refuse:
    """Refuse the connection: nothing reaches the server (MockTransport only)."""


@attrs.frozen
class Delay:
    """Apply the request and answer normally, ``seconds`` late, extra headers, body dripped."""

    seconds: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    drip: float | None = None


Fault = Status | DropBefore | DropAfter | Refuse | Delay


@attrs.define
class _Script:
    method: str
    fragment: str
    faults: list[Fault]


@attrs.frozen
class Seen:
    """One request as the server saw it, and what became of it."""

    at: float
    method: str
    path: str
    outcome: str  # "200", "429", "drop", "refused", ...


@attrs.frozen
class Outage:
    """Answer ``status`` to every request arriving before ``until`` (on the server's clock)."""

    until: float
    status: Status


@attrs.define
class Chaos:
    """Random faults: ``drop_after`` applies then drops, ``unavailable`` answers 503."""

    rng: random.Random
    drop_after: float = 0.0
    unavailable: float = 0.0


class Bucket:
    """A server-side token bucket: ``rate`` per second, ``burst`` deep, 429 beyond it."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def take(self) -> float:
        """Take a token; return 0, or the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


def envelope(method: str, response: Any, *, request_id: str, http_code: int = 200) -> bytes:
    body = {"request_id": request_id, "method": method, "http_code": http_code}
    return json.dumps({**body, "response": response}).encode()


def success(data: Any) -> dict[str, Any]:
    return {"status": "success", "code": 200, "data": data}


def failure(code: int, error_code: int, message: str) -> dict[str, Any]:
    return {
        "status": "failure",
        "code": code,
        "error_data": {"code": error_code, "message": message, "description": message},
    }


_ERROR_CODES = {400: 1000, 401: 1010, 403: 1009, 404: 1003, 409: 1002, 422: 1001, 429: 1030}


class FakeExotel:
    """The store and the request handler. Not thread-safe; one per test.

    Args:
        clock: Stamps the requests in :attr:`seen` (a virtual clock in the retry tests).
        duplicate_as_200: Report a duplicate as HTTP 200 with ``response.code`` 409, as the
            live service does, instead of HTTP 409.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, duplicate_as_200: bool = False
    ) -> None:
        self.clock = clock
        self.duplicate_as_200 = duplicate_as_200
        self.trunks: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, dict[str, dict[str, Any]]] = {}
        self.ips: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
        self.destinations: dict[str, dict[str, dict[str, Any]]] = {}
        self.settings: dict[str, dict[str, dict[str, Any]]] = {}
        self.seen: list[Seen] = []
        self.applied: list[tuple[str, str]] = []  # (kind, key) of every change made
        self.latency = 0.0
        self.chaos: Chaos | None = None
        self.outage: Outage | None = None
        self.bucket: Bucket | None = None
        self._scripts: list[_Script] = []
        self._ids = itertools.count(1)
        self._request_ids = itertools.count(1)

    # Set-up and inspection.

    def add_trunk(self, trunk_sid: str = "tr1", name: str | None = None) -> dict[str, Any]:
        record = self._trunk_record(trunk_sid, name or trunk_sid)
        self.trunks[trunk_sid] = record
        return record

    def script(self, method: str, fragment: str, *faults: Fault) -> None:
        """Make the next requests with ``method`` whose path contains ``fragment`` fail."""
        self._scripts.append(_Script(method.upper(), fragment, list(faults)))

    def requests(self, method: str | None = None, fragment: str = "") -> list[Seen]:
        """The requests that reached the server (refused connections excluded)."""
        return [
            seen
            for seen in self.seen
            if seen.outcome != "refused"
            and (method is None or seen.method == method)
            and fragment in seen.path
        ]

    def outcomes(self, outcome: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.outcome == outcome]

    # Serving.

    async def handle(self, request: Request) -> Reply | Drop | Refuse:
        """Answer one request (the loopback server and the mock transport both call this)."""
        fault = self._next_fault(request)
        refusal = self._refusal(request, fault)
        if refusal is not None:
            return refusal
        reply = self._apply(request)
        if isinstance(fault, DropAfter):
            self._see(request, "drop")
            return Drop(fault.error)
        self._see(request, str(reply.status))
        if isinstance(fault, Delay):
            return attrs.evolve(
                reply,
                delay=reply.delay + fault.seconds,
                headers=reply.headers + fault.headers,
                drip=fault.drip,
            )
        return reply

    def _refusal(self, request: Request, fault: Fault | None) -> Reply | Drop | Refuse | None:
        """The answer when the request is not applied at all, if it is not."""
        if isinstance(fault, Refuse):
            self._see(request, "refused")
            return fault
        if isinstance(fault, DropBefore):
            self._see(request, "drop")
            return Drop(fault.error)
        status = fault if isinstance(fault, Status) else None
        if status is None and self.outage is not None and self.clock() < self.outage.until:
            status = self.outage.status
        if status is None and self.bucket is not None and (wait := self.bucket.take()) > 0:
            status = Status(429, (("Retry-After", str(max(1, math.ceil(wait)))),))
        if status is None:
            return None
        self._see(request, str(status.status))
        return self._status_reply(request, status)

    def mock_transport(
        self, sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    ) -> httpx2.MockTransport:
        """Serve this store through ``httpx2.MockTransport``; delays use ``sleep``."""

        async def handler(request: httpx2.Request) -> httpx2.Response:
            outcome = await self.handle(
                Request(
                    request.method,
                    request.url.path,
                    dict(request.url.params),
                    await request.aread(),
                )
            )
            if isinstance(outcome, Refuse):
                raise httpx2.ConnectError("connection refused", request=request)
            if isinstance(outcome, Drop):
                raise outcome.error("server disconnected without an answer", request=request)
            if outcome.delay:
                await sleep(outcome.delay)
            return httpx2.Response(outcome.status, headers=outcome.headers, content=outcome.body)

        return httpx2.MockTransport(handler)

    # Internals.

    def _see(self, request: Request, outcome: str) -> None:
        self.seen.append(Seen(self.clock(), request.method, request.path, outcome))

    def _next_fault(self, request: Request) -> Fault | None:
        for script in self._scripts:
            if (
                script.faults
                and script.method == request.method
                and script.fragment in (request.path)
            ):
                return script.faults.pop(0)
        chaos = self.chaos
        if chaos is None:
            return None
        draw = chaos.rng.random()
        if draw < chaos.drop_after:
            return DropAfter()
        if draw < chaos.drop_after + chaos.unavailable:
            return Status(503)
        return None

    def _request_id(self) -> str:
        return f"req-{next(self._request_ids)}"

    def _status_reply(self, request: Request, fault: Status) -> Reply:
        if fault.body is not None:
            return Reply(fault.status, fault.body, fault.headers, delay=self.latency)
        error = failure(fault.status, _ERROR_CODES.get(fault.status, 5000), "scripted failure")
        body = envelope(
            request.method, error, request_id=self._request_id(), http_code=fault.status
        )
        return Reply(fault.status, body, fault.headers, delay=self.latency)

    def _reply(self, request: Request, response: Any, status: int = 200) -> Reply:
        body = envelope(request.method, response, request_id=self._request_id(), http_code=status)
        return Reply(status, body, delay=self.latency)

    def _error(self, request: Request, status: int, message: str) -> Reply:
        code = 200 if status == 409 and self.duplicate_as_200 else status
        response = failure(status, _ERROR_CODES.get(status, 5000), message)
        return self._reply(request, response, code)

    def _apply(self, request: Request) -> Reply:
        if not request.path.startswith(ROOT):
            return self._error(request, 404, "no such account")
        parts = [unquote(part) for part in request.path[len(ROOT) :].split("/")]
        if parts == ["trunks"]:
            if request.method == "POST":
                return self._create_trunk(request)
            if request.method == "DELETE":
                return self._delete_trunk(request)
        if len(parts) == 3 and parts[0] == "trunks":
            sid, collection = parts[1], parts[2]
            if sid not in self.trunks:
                return self._error(request, 404, "trunk not found")
            handler = self._routes().get((request.method, collection))
            if handler is not None:
                return handler(request, sid)
        return self._error(request, 404, "no such endpoint")

    def _routes(self) -> dict[tuple[str, str], Callable[[Request, str], Reply]]:
        return {
            ("POST", "phone-numbers"): self._map_number,
            ("GET", "phone-numbers"): self._list(self.numbers),
            ("POST", "whitelisted-ips"): self._add_ip,
            ("GET", "whitelisted-ips"): self._list(self.ips),
            ("POST", "destination-uris"): self._add_destinations,
            ("GET", "destination-uris"): self._list(self.destinations),
            ("POST", "settings"): self._set_settings,
        }

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def _trunk_record(self, sid: str, name: str) -> dict[str, Any]:
        return {
            "trunk_sid": sid,
            "trunk_name": name,
            "domain_name": f"{ACCOUNT}.pstn.exotel.com",
            "nso_code": "ANY-ANY",
            "date_created": CREATED,
            "date_updated": CREATED,
        }

    def _create_trunk(self, request: Request) -> Reply:
        name = request.json()["trunk_name"]
        if any(trunk["trunk_name"] == name for trunk in self.trunks.values()):
            return self._error(request, 409, "trunk exists")
        record = self._trunk_record(self._new_id("trk"), name)
        self.trunks[record["trunk_sid"]] = record
        self.applied.append(("trunk", name))
        return self._reply(request, success(record))

    def _delete_trunk(self, request: Request) -> Reply:
        sid = request.query.get("trunk_sid", "")
        if self.trunks.pop(sid, None) is None:
            return self._error(request, 404, "trunk not found")
        self.applied.append(("delete", sid))
        return self._reply(request, success(None))

    def _map_number(self, request: Request, sid: str) -> Reply:
        number = request.json()["phone_number"]
        mapped = self.numbers.setdefault(sid, {})
        if number in mapped:
            return self._error(request, 409, "number already mapped")
        mapped[number] = {
            "id": self._new_id("pn"),
            "phone_number": number,
            "trunk_sid": sid,
            "date_created": CREATED,
        }
        self.applied.append(("number", number))
        return self._reply(request, success(mapped[number]))

    def _add_ip(self, request: Request, sid: str) -> Reply:
        body = request.json()
        key = (body["ip"], int(body["mask"]))
        ips = self.ips.setdefault(sid, {})
        if key in ips:
            return self._error(request, 409, "ip already whitelisted")
        ips[key] = {
            "id": self._new_id("wl"),
            "ip": key[0],
            "mask": key[1],
            "trunk_sid": sid,
            "date_created": CREATED,
        }
        self.applied.append(("ip", f"{key[0]}/{key[1]}"))
        return self._reply(request, success(ips[key]))

    def _add_destinations(self, request: Request, sid: str) -> Reply:
        existing = self.destinations.setdefault(sid, {})
        items = []
        for entry in request.json()["destinations"]:
            destination = entry["destination"]
            if destination in existing:
                items.append(failure(409, 1002, "destination exists"))
                continue
            existing[destination] = {
                "id": self._new_id("du"),
                "destination": f"sip:{destination}",
                "trunk_sid": sid,
                "date_created": CREATED,
            }
            self.applied.append(("destination", destination))
            items.append(success(existing[destination]))
        return self._reply(request, items)

    def _set_settings(self, request: Request, sid: str) -> Reply:
        current = self.settings.setdefault(sid, {})
        items = []
        for entry in request.json()["settings"]:
            name, value = entry["name"], entry["value"]
            if name in current and current[name]["value"] == value:
                # Setting the value it already holds is reported as a duplicate.
                items.append(failure(409, 1002, "setting already has this value"))
                continue
            current[name] = {"name": name, "value": value, "trunk_sid": sid}
            current[name]["date_created"] = CREATED
            self.applied.append(("setting", f"{name}={value}"))
            items.append(success(current[name]))
        return self._reply(request, items)

    def _list(
        self, collection: dict[str, dict[Any, dict[str, Any]]]
    ) -> Callable[[Request, str], Reply]:
        def list_records(request: Request, sid: str) -> Reply:
            return self._reply(request, success(list(collection.get(sid, {}).values())))

        return list_records


def peak_share(times: Iterable[float], window: float) -> float:
    """The largest share of ``times`` that fall into any one ``window`` seconds."""
    ordered = sorted(times)
    if not ordered:
        return 0.0
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best / len(ordered)
