"""What every resource shares: the transport it calls and how it builds paths."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from .._converter import structure
from .._transport import HTTPTransport
from .._validation import validate_path_segment

T = TypeVar("T")


class Resource:
    """Base of the resources hung on the client (``client.trunks``, ...)."""

    def __init__(self, transport: HTTPTransport, account_sid: str) -> None:
        self._transport = transport
        self._account_sid = account_sid

    def __repr__(self) -> str:
        return f"<{type(self).__name__} account_sid={self._account_sid!r}>"


def trunk_path(trunk_sid: object, *rest: str) -> str:
    """Return ``trunks/{trunk_sid}/...`` with the sid validated and percent-encoded."""
    sid = validate_path_segment(trunk_sid, "trunk_sid")
    return "/".join(("trunks", quote(sid, safe=""), *rest))


def structure_list(records: list[dict[str, Any]], cls: type[T], where: str) -> list[T]:
    """Structure every record of a list response."""
    return [
        structure(record, cls, where=where, path=f"$.data[{index}]")
        for index, record in enumerate(records)
    ]
