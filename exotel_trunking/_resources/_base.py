"""What every resource shares: the transport it calls and how it builds paths."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from .._converter import converter, structure
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
    """Structure every record of a list response.

    Raises:
        ResponseDecodeError: naming the first record that does not match, by its index.
    """
    hook = converter.get_structure_hook(cls)
    try:
        return [hook(record, cls) for record in records]
    except Exception:  # noqa: S110 - the slow path below raises the readable error
        pass
    # Only when some record is bad: structure them one by one, each with its path in the
    # response (formatting the paths up front costs as much as structuring the records).
    return [
        structure(record, cls, where=where, path=f"$.data[{index}]")
        for index, record in enumerate(records)
    ]
