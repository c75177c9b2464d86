"""What every resource shares: the requester it calls, how it builds paths and reads lists."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from .._converter import converter, structure
from .._transport import Call, ListIterator, Requester, records
from .._validation import validate_path_segment

T = TypeVar("T")


class Resource:
    """Base of the resources hung on the client (``client.trunks``, ...)."""

    def __init__(self, requester: Requester, account_sid: str) -> None:
        self._requester = requester
        self._account_sid = account_sid

    def __repr__(self) -> str:
        return f"<{type(self).__name__} account_sid={self._account_sid!r}>"

    def _records(self, path: str) -> ListIterator[dict[str, Any]]:
        """The raw records of the list at ``path``, page by page, fetched as they are taken."""
        return records(self._requester, Call("GET", path))

    def _iter(self, path: str, cls: type[T], where: str) -> ListIterator[T]:
        """The records of the list at ``path`` as ``cls``, page by page, fetched as taken."""
        hook = converter.get_structure_hook(cls)

        def convert(record: dict[str, Any], index: int) -> T:
            try:
                return hook(record, cls)  # type: ignore[no-any-return]
            except Exception:
                return structure(record, cls, where=where, path=f"$.data[{index}]")

        return ListIterator(self._requester, Call("GET", path), convert)


def trunk_path(trunk_sid: object, *rest: str) -> str:
    """Return ``trunks/{trunk_sid}/...`` with the sid validated and percent-encoded."""
    sid = validate_path_segment(trunk_sid, "trunk_sid")
    return "/".join(("trunks", quote(sid, safe=""), *rest))
