"""Exotel's wire format in both dialects, for the tests: envelopes, records, clients and mocks.

The ``"reference"`` dialect is the shape of ``reference/exotel-voice-trunking-api.md``: one
envelope whose ``response.data`` is a record or an array, ``data: null`` on delete, ids such as
``"pn_abc123def456"``, UUID request ids. The ``"live"`` dialect is the one
``reference/live-api-notes.md`` describes: paged lists of per-item envelopes with
``metadata.next_page_uri``, ``"error_data": null`` on success, numeric-string ids, 32-hex
request ids, and fields the reference does not list, at every level of the body.

respx is a test-only dependency: it speaks httpx 0.x, so it brings httpx 0.x into the test
environment only (the SDK itself depends on httpx2 alone). :func:`respx_transport` bridges the
two, mirroring each ``httpx2.Request`` into an ``httpx.Request`` for a respx router and turning
its ``httpx.Response`` back into an ``httpx2.Response``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import httpx
import httpx2
import respx

from exotel_trunking import AsyncTrunkingClient, __version__
from exotel_trunking.emulator import Emulator

Dialect = Literal["reference", "live"]
DIALECTS: tuple[Dialect, ...] = ("reference", "live")

API_KEY = "key_7d41c0e2"
API_TOKEN = "tok_Q9vX2mL7pR4sW8"  # distinctive, so that a leak is easy to spot
ACCOUNT_SID = "acme"
BASE_URL = "https://api.in.exotel.com"
ACCOUNT_PATH = f"/v2/accounts/{ACCOUNT_SID}"
ACCOUNT_URL = BASE_URL + ACCOUNT_PATH
TRUNK_SID = "trind1a2b3c4d5e6f7890abcdef"
SIP_PASSWORD = "Xy9#mK2$pL5nQ8"
BASIC_CREDENTIALS = base64.b64encode(f"{API_KEY}:{API_TOKEN}".encode()).decode()
BASIC_AUTH = f"Basic {BASIC_CREDENTIALS}"
#: Every string that must never show in a repr, a message, a log line or a URL.
SECRETS = (API_TOKEN, SIP_PASSWORD, BASIC_CREDENTIALS)

REQUEST_IDS: Mapping[Dialect, str] = {
    "reference": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "live": "785471d2c1a04e3f9b6a2d8e0f1c3b5a",
}
TIMESTAMPS: Mapping[Dialect, str] = {
    "reference": "2025-01-22T10:30:00Z",
    "live": "2026-01-14T10:22:31+05:30",
}
#: What ``TIMESTAMPS`` must decode to: timezone-aware, offset kept.
DATETIMES: Mapping[Dialect, datetime] = {
    "reference": datetime(2025, 1, 22, 10, 30, tzinfo=UTC),
    "live": datetime(2026, 1, 14, 10, 22, 31, tzinfo=timezone(timedelta(hours=5, minutes=30))),
}

# Fields no version of the API documents, added by the live dialect at every level.
_BODY_EXTRAS = {"api_version": "v2.1", "server": {"region": "ap-south-1", "build": 7}}
_ENVELOPE_EXTRAS = {"trace": {"shard": 3, "tags": ["a", "b"]}}
_RECORD_EXTRAS = {"links": {"self": {"href": "/x", "verbs": ["GET"]}}, "flags": [1, {"k": None}]}


# -- records ----------------------------------------------------------------------------------


def _record(
    dialect: Dialect, fields: dict[str, Any], live_fields: dict[str, Any]
) -> dict[str, Any]:
    if dialect == "live":
        return {**fields, **live_fields, **_RECORD_EXTRAS}
    return fields


def trunk_record(dialect: Dialect, *, trunk_name: str = "my_trunk") -> dict[str, Any]:
    """A trunk as Create Trunk (and, live, Delete Trunk) answers it."""
    return _record(
        dialect,
        {
            "trunk_sid": TRUNK_SID,
            "trunk_name": trunk_name,
            "domain_name": f"{ACCOUNT_SID}.pstn.exotel.com",
            "nso_code": "ANY-ANY",
            "date_created": TIMESTAMPS[dialect],
            "date_updated": TIMESTAMPS[dialect],
        },
        {
            "status": "active",
            "auth_type": "ip",
            "registration_enabled": False,
            "edge_preference": None,
            "secure_trunking": True,
            "phone_numbers_uri": f"{ACCOUNT_PATH}/trunks/{TRUNK_SID}/phone-numbers",
        },
    )


def record_id(dialect: Dialect, prefix: str, index: int) -> str:
    """A record id: ``"pn_00000"`` in the reference, a numeric string ``"41512"`` live."""
    return str(41512 + index) if dialect == "live" else f"{prefix}_{index:05d}"


def phone_number_record(
    dialect: Dialect, index: int = 0, *, phone_number: str = "+919876543210"
) -> dict[str, Any]:
    """A phone number mapping."""
    return _record(
        dialect,
        {
            "id": record_id(dialect, "pn", index),
            "phone_number": phone_number,
            "trunk_sid": TRUNK_SID,
            "date_created": TIMESTAMPS[dialect],
        },
        {"mode": "flow", "date_updated": TIMESTAMPS[dialect]},
    )


def whitelisted_ip_record(
    dialect: Dialect, index: int = 0, *, ip: str = "203.0.113.50", mask: int = 32
) -> dict[str, Any]:
    """A whitelist entry."""
    return _record(
        dialect,
        {
            "id": record_id(dialect, "wl", index),
            "ip": ip,
            "mask": mask,
            "trunk_sid": TRUNK_SID,
            "date_created": TIMESTAMPS[dialect],
        },
        {"friendly_name": f"sbc-{index}"},
    )


def destination_uri_record(
    dialect: Dialect, index: int = 0, *, destination: str = "sip:203.0.113.50:5061;transport=tls"
) -> dict[str, Any]:
    """A destination URI (the API answers with the ``sip:`` prefix)."""
    return _record(
        dialect,
        {
            "id": record_id(dialect, "du", index),
            "destination": destination,
            "trunk_sid": TRUNK_SID,
            "date_created": TIMESTAMPS[dialect],
        },
        {"type": "ip", "priority": 1, "weight": 10},
    )


def credentials_record(dialect: Dialect) -> dict[str, Any]:
    """A trunk's SIP credentials."""
    return _record(
        dialect, {"username": TRUNK_SID, "password": SIP_PASSWORD}, {"realm": "pstn.exotel.com"}
    )


def setting_record(dialect: Dialect, *, value: str = "+919876543210") -> dict[str, Any]:
    """The caller-ID alias setting."""
    return _record(
        dialect,
        {
            "name": "trunk_external_alias",
            "value": value,
            "trunk_sid": TRUNK_SID,
            "date_created": TIMESTAMPS[dialect],
        },
        {"scope": "trunk"},
    )


# -- envelopes --------------------------------------------------------------------------------


def _body(dialect: Dialect, method: str, http_code: int, response: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_id": REQUEST_IDS[dialect],
        "method": method,
        "http_code": http_code,
        "response": response,
    }
    if dialect == "live":
        body.update(_BODY_EXTRAS)
    return body


def item_ok(dialect: Dialect, data: Any, *, code: int = 200) -> dict[str, Any]:
    """One success envelope ``{status, code, data}`` (``error_data: null`` and extras live)."""
    item: dict[str, Any] = {"status": "success", "code": code, "data": data}
    if dialect == "live":
        item = {"code": code, "error_data": None, **item, **_ENVELOPE_EXTRAS}
    return item


def item_failed(
    dialect: Dialect,
    code: int,
    error_code: int,
    message: str,
    description: str | None = None,
) -> dict[str, Any]:
    """One failure envelope ``{status: failure, code, error_data}``."""
    error_data: dict[str, Any] = {"code": error_code, "message": message}
    if description is not None:
        error_data["description"] = description
    item: dict[str, Any] = {"status": "failure", "code": code, "error_data": error_data}
    if dialect == "live":
        item = {**item, "data": None, **_ENVELOPE_EXTRAS}
    return item


def single(dialect: Dialect, data: Any, *, method: str = "GET") -> dict[str, Any]:
    """A success body whose ``response`` is one envelope."""
    return _body(dialect, method, 200, item_ok(dialect, data))


def per_item(
    dialect: Dialect,
    items: Sequence[dict[str, Any]],
    *,
    method: str = "POST",
    http_code: int = 200,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A body whose ``response`` is a list of per-item envelopes (built with ``item_*``)."""
    body = _body(dialect, method, http_code, list(items))
    if metadata is not None:
        body["metadata"] = metadata
    return body


def failure(
    dialect: Dialect,
    http_code: int,
    error_code: int,
    message: str,
    description: str | None = None,
    *,
    method: str = "POST",
    code: int | None = None,
) -> dict[str, Any]:
    """An error body; ``code`` (``response.code``) defaults to ``http_code``."""
    item = item_failed(
        dialect, http_code if code is None else code, error_code, message, description
    )
    return _body(dialect, method, http_code, item)


def duplicate(dialect: Dialect, *, method: str = "POST") -> tuple[int, dict[str, Any]]:
    """How each dialect reports a duplicate: ``(HTTP status, body)``.

    The reference answers HTTP 409 with error 1002; the live service answers HTTP 200 with
    ``response.code`` 409 and error 1008.
    """
    if dialect == "live":
        return 200, failure(
            "live", 200, 1008, "Duplicate resource", "Resource already exists", code=409
        )
    return 409, failure("reference", 409, 1002, "Resource exists", "Trunk already exists")


def list_pages(
    dialect: Dialect, records: Sequence[dict[str, Any]], *, path: str, page_size: int = 2
) -> list[dict[str, Any]]:
    """The bodies a list call answers with, page by page.

    The reference answers one body with ``response.data`` as an array; the live service answers
    pages of ``page_size`` per-item envelopes linked by ``metadata.next_page_uri``.
    """
    if dialect == "reference":
        return [single("reference", list(records))]
    chunks = [records[i : i + page_size] for i in range(0, len(records), page_size)] or [[]]
    bodies = []
    for number, chunk in enumerate(chunks):
        offset = number * page_size
        has_next = number + 1 < len(chunks)
        metadata = {
            "page_size": page_size,
            "first_page_uri": page_uri(path, 0, page_size),
            "prev_page_uri": page_uri(path, offset - page_size, page_size) if number else None,
            "next_page_uri": page_uri(path, offset + page_size, page_size) if has_next else None,
            "total_hint": len(records),  # an unknown metadata field
        }
        items = [item_ok("live", record) for record in chunk]
        bodies.append(per_item("live", items, method="GET", metadata=metadata))
    return bodies


def page_uri(path: str, offset: int, page_size: int) -> str:
    """A live ``next_page_uri``: the account path with ``offset`` and ``page_size``."""
    return f"{ACCOUNT_PATH}/{path}?offset={offset}&page_size={page_size}"


def responses(bodies: Sequence[dict[str, Any]], status_code: int = 200) -> list[httpx.Response]:
    """JSON responses, for a respx ``side_effect`` (respx answers with httpx 0.x responses)."""
    return [httpx.Response(status_code, json=body) for body in bodies]


# -- clients and mocks ------------------------------------------------------------------------


def make_client(
    server: respx.Router | Emulator | None = None, **options: Any
) -> AsyncTrunkingClient:
    """A client with the test credentials, wired to ``server``; no pacing, no retries.

    ``server`` is a respx router (see :func:`mock_exotel`), the shipped emulator (in process,
    through ``emulator.transport()``; build it with this module's ``API_KEY``, ``API_TOKEN``
    and ``ACCOUNT_SID``), or ``None`` for a client with no transport given. Any option can be
    overridden (``max_retries=3``, ``transport=...``, ``http_client=...``).
    """
    settings: dict[str, Any] = {"base_url": BASE_URL, "rate_limit": None, "max_retries": 0}
    if isinstance(server, respx.Router):
        settings["transport"] = respx_transport(server)
    elif isinstance(server, Emulator):
        settings["transport"] = server.transport()
    elif server is not None:
        raise TypeError(f"make_client() takes a respx router, an Emulator or None, not {server!r}")
    settings.update(options)
    return AsyncTrunkingClient(API_KEY, API_TOKEN, ACCOUNT_SID, **settings)


def respx_transport(router: respx.Router) -> httpx2.MockTransport:
    """An ``httpx2.MockTransport`` answered by ``router``, a respx router (which speaks httpx).

    Each ``httpx2.Request`` is mirrored into an ``httpx.Request`` (method, URL, raw headers, the
    read body and the extensions, such as the ``"timeout"`` the SDK gives each attempt), which
    is what the router matches and records (``route.calls``); the ``httpx.Response`` it returns
    becomes an ``httpx2.Response`` (status, raw headers and the read body). An exception a
    route's ``side_effect`` raises propagates as it is: a side effect that simulates a network
    failure must raise an httpx2 exception for the SDK to see one.
    """

    async def handler(request: httpx2.Request) -> httpx2.Response:
        mirrored = httpx.Request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=await request.aread(),
            extensions=dict(request.extensions),
        )
        response = await router.async_handler(mirrored)
        content = await response.aread()
        return httpx2.Response(response.status_code, headers=response.headers.raw, content=content)

    return httpx2.MockTransport(handler)


def mock_exotel(base_url: str = ACCOUNT_URL) -> respx.MockRouter:
    """A respx router for the account's URL, to pass to :func:`make_client`.

    It patches nothing (the client gets it through :func:`respx_transport` as its transport,
    which works on asyncio and trio and builds no TLS context), answers an unrouted request
    with an ``AllMockedAssertionError`` and, on leaving the ``with`` block, fails if a route
    was never called. The SDK lets that ``AssertionError`` through as it is (it is no httpx2
    error), so a test that expects an SDK error and "sends nothing" fails if a request went
    out; respx does not record an unrouted request in ``router.calls``.
    """
    return respx.mock(base_url=base_url, assert_all_called=True, assert_all_mocked=True, using=None)


def assert_request(
    request: httpx.Request | httpx2.Request,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]] = (),
    body: Any = None,
) -> None:
    """Assert that ``request`` is exactly the documented call, headers included.

    ``path`` is below the account (``"trunks"``); ``body`` is the expected JSON, or ``None`` for
    a request without a body.
    """
    assert request.method == method
    assert request.url.scheme == "https"
    assert request.url.host == "api.in.exotel.com"
    assert request.url.userinfo == b""  # credentials never travel in the URL
    assert request.url.path == f"{ACCOUNT_PATH}/{path}"
    assert list(request.url.params.multi_items()) == list(query)
    assert request.headers["authorization"] == BASIC_AUTH
    assert request.headers["user-agent"].startswith(f"exotel-trunking/{__version__}")
    if body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == body
