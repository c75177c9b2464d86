"""Pure decoding of Exotel's response envelope, in both the reference and the live dialect.

A body is ``{request_id, method, http_code, response, metadata?}``. ``response`` is one
envelope ``{status, code, data, error_data}`` or a list of them (live list pages, multi-item
POSTs, and ``[]`` for "no credentials yet"). This module turns a status and body into an
:class:`Envelope`, or raises the error the caller should see.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from .._exceptions import (
    APIStatusError,
    ConflictError,
    NotFoundError,
    ResponseDecodeError,
    status_error_class,
)

__all__ = ["Envelope", "decode", "excerpt"]

_EXCERPT_LIMIT = 200
#: The live service's 403 for a trunk sid that is unknown or another account's.
_FOREIGN_TRUNK = 1003
#: The live service's duplicate, reported under HTTP 200 (envelope code 409).
_DUPLICATE = 1008
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
#: A secret inside a body that is shown as an excerpt (a truncated credentials response).
_SECRET_VALUE = re.compile(
    r'("(?:password|api_token|token|secret)"\s*:\s*")[^"]*("?)', re.IGNORECASE
)


@attrs.frozen
class Envelope:
    """A decoded success response.

    Attributes:
        request_id: The API's request id, if any.
        data: ``response.data`` of a single envelope (a record, a list of records, or None).
        items: For a list of per-item envelopes: each item's ``data``, or the error it failed
            with. ``None`` when the response was a single envelope.
        next_page_uri: ``metadata.next_page_uri`` of a paged list, if more pages exist.
    """

    request_id: str | None
    data: Any = None
    items: list[dict[str, Any] | APIStatusError] | None = None
    next_page_uri: str | None = None


def excerpt(body: bytes) -> str:
    """Return a short, single-line excerpt of a body that is not an envelope (tags removed)."""
    text = body[: _EXCERPT_LIMIT * 4].decode("utf-8", errors="replace")
    text = _SECRET_VALUE.sub(r"\1***\2", text)
    text = _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
    return text[:_EXCERPT_LIMIT] + ("..." if len(text) > _EXCERPT_LIMIT else "")


def decode(status_code: int, body: bytes, *, method: str = "", path: str = "") -> Envelope:
    """Decode one HTTP response.

    Raises:
        APIStatusError: (the subclass for the status) for an error status, whatever the body,
            or for a single envelope whose ``response.status`` is ``failure``; the class then
            follows ``response.code``, so a duplicate under HTTP 200 is a ``ConflictError``.
        ResponseDecodeError: for a success status whose body is not an envelope.
    """
    payload = _parse_json(body)
    where = _Where(method, path)
    if status_code >= 300:  # redirects are never followed: a 3xx is not an answer
        raise _status_error(status_code, payload, body, where)
    if not isinstance(payload, dict) or "response" not in payload:
        raise ResponseDecodeError(
            "the response is not an Exotel envelope",
            status_code=status_code,
            excerpt=excerpt(body),
            method=where.method,
            path=where.path,
        )
    request_id = _request_id(payload)
    response = payload["response"]
    if isinstance(response, list):
        metadata = payload.get("metadata")
        next_page = metadata.get("next_page_uri") if isinstance(metadata, dict) else None
        items = [_item(entry, request_id, where) for entry in response]
        return Envelope(request_id, items=items, next_page_uri=next_page or None)
    if not isinstance(response, dict):
        raise ResponseDecodeError(
            "the envelope's 'response' is neither an object nor a list",
            status_code=status_code,
            excerpt=excerpt(body),
            request_id=request_id,
            method=where.method,
            path=where.path,
        )
    if _failed(response):
        raise _envelope_error(response, request_id, where)
    return Envelope(request_id, data=response.get("data"))


@attrs.frozen
class _Where:
    method: str
    path: str


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _request_id(payload: dict[str, Any]) -> str | None:
    value = payload.get("request_id")
    return value if isinstance(value, str) else None


def _failed(response: dict[str, Any]) -> bool:
    status = response.get("status")
    if status is not None:
        return bool(status != "success")
    code = response.get("code")
    return isinstance(code, int) and code >= 400


def _item(entry: Any, request_id: str | None, where: _Where) -> dict[str, Any] | APIStatusError:
    if not isinstance(entry, dict):
        return APIStatusError(
            "the API returned an item that is not an envelope",
            status_code=200,
            request_id=request_id,
            method=where.method,
            path=where.path,
        )
    if _failed(entry):
        return _envelope_error(entry, request_id, where)
    data = entry.get("data")
    if not isinstance(data, dict):
        return APIStatusError(
            "the API returned a success item without data",
            status_code=200,
            request_id=request_id,
            method=where.method,
            path=where.path,
        )
    return data


def _error_fields(response: Any) -> tuple[int | None, str | None, str | None]:
    if not isinstance(response, dict):
        return None, None, None
    error_data = response.get("error_data")
    if not isinstance(error_data, dict):
        return None, None, None
    code = error_data.get("code")
    message = error_data.get("message")
    description = error_data.get("description")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else None,
        description if isinstance(description, str) else None,
    )


def _envelope_error(
    response: dict[str, Any], request_id: str | None, where: _Where
) -> APIStatusError:
    code = response.get("code")
    status = code if isinstance(code, int) and code >= 400 else 400
    return _error(status, response, request_id, where, "the API reported a failure")


def _status_error(status_code: int, payload: Any, body: bytes, where: _Where) -> APIStatusError:
    response = payload.get("response") if isinstance(payload, dict) else None
    request_id = _request_id(payload) if isinstance(payload, dict) else None
    fallback = excerpt(body) or f"HTTP {status_code} with an empty body"
    return _error(status_code, response, request_id, where, fallback)


def _error(
    status: int, response: Any, request_id: str | None, where: _Where, fallback: str
) -> APIStatusError:
    """The error for ``status``, with what ``response.error_data`` says (else ``fallback``)."""
    error_code, message, description = _error_fields(response)
    return _error_class(status, error_code)(
        message or description or fallback,
        status_code=status,
        error_code=error_code,
        description=description,
        request_id=request_id,
        method=where.method,
        path=where.path,
    )


def _error_class(status: int, error_code: int | None) -> type[APIStatusError]:
    """The class for ``status``, except where the live service's error code says more.

    403 with 1003 is the live service's "no such trunk (of yours)": a :class:`NotFoundError`,
    as its other answer for an unknown trunk (404 / 1000) is. 1008 is a duplicate whatever
    status carries it. The reference's 403 (1011, access denied) stays a permission error.
    """
    if status == 403 and error_code == _FOREIGN_TRUNK:
        return NotFoundError
    if error_code == _DUPLICATE:
        return ConflictError
    return status_error_class(status)
