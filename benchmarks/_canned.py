"""Canned Exotel envelopes, and in-process transports that answer with them.

The same bytes serve the SDK and the bare-httpx2 baseline, so both decode identical responses.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2

API_KEY = "bench-key"
API_TOKEN = "bench-token"  # a fixed credential for local servers, not a secret
ACCOUNT_SID = "bench"
TRUNK_SID = "trbench0000000000000000001"
NUMBER = "+919876543210"
#: Records in the canned list response (one page, as a small trunk has).
LIST_SIZE = 10
AUTHORIZATION = "Basic " + base64.b64encode(f"{API_KEY}:{API_TOKEN}".encode()).decode()


def _record(index: int, number: str = NUMBER) -> dict[str, Any]:
    return {
        "id": f"pn_bench{index:06d}",
        "phone_number": number,
        "trunk_sid": TRUNK_SID,
        "date_created": "2026-01-05T10:00:00Z",
    }


def _envelope(method: str, data: Any) -> bytes:
    return json.dumps(
        {
            "request_id": "5f0a8c1e4b9d4a0f9a3c2b1d0e9f8a7b",
            "method": method,
            "http_code": 200,
            "response": {"status": "success", "code": 200, "data": data},
        }
    ).encode()


LIST_BODY = _envelope("GET", [_record(i, f"+9198765{i:05d}") for i in range(LIST_SIZE)])
MAP_BODY = _envelope("POST", _record(0))
HEADERS = [("content-type", "application/json")]


def canned_handler(request: httpx2.Request) -> httpx2.Response:
    """Answer a GET with the canned list and anything else with the canned record."""
    body = LIST_BODY if request.method == "GET" else MAP_BODY
    return httpx2.Response(200, headers=HEADERS, content=body)


def mock_transport() -> httpx2.MockTransport:
    return httpx2.MockTransport(canned_handler)


_MAP_TEMPLATE = (
    '{"request_id": "r%d", "method": "POST", "http_code": 200, "response": {"status": '
    '"success", "code": 200, "data": {"id": "pn_%d", "phone_number": "%s", "trunk_sid": '
    '"%s", "date_created": "2026-01-05T10:00:00Z"}}}'
)


class EchoTransport(httpx2.AsyncBaseTransport):
    """Answers every mapping with a success for the number sent, keeping no state.

    Unlike the emulator, whose account grows with every number mapped, this keeps nothing, so
    memory measured while using it is the client's own.
    """

    def __init__(self) -> None:
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        number = json.loads(await request.aread())["phone_number"]
        body = _MAP_TEMPLATE % (self.requests, self.requests, number, TRUNK_SID)
        return httpx2.Response(200, headers=HEADERS, content=body.encode())


def numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct valid E.164 numbers."""
    return [f"+9198{i:08d}" for i in range(start, start + count)]
