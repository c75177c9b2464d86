"""Follow a list's pages lazily: ``metadata.next_page_uri`` after ``metadata.next_page_uri``.

A list call answers either one envelope whose ``data`` is the whole array (the reference), or
a page of per-item envelopes with a link to the next page (the live service). A
:class:`ListIterator` gives the items of both, one page at a time, and asks for the next page
only when the caller has taken every item of the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs
import httpx2

from .._exceptions import APIStatusError, ResponseDecodeError
from ._envelope import Envelope
from ._http import Call, Requester

__all__ = ["ListIterator", "records"]

T = TypeVar("T")
Record = dict[str, Any]


class ListIterator(Generic[T]):
    """The items of a list call and of the pages after it, in order, fetched as they are taken.

    An async iterator, not a generator: leaving a loop over it early (``break``, ``return``,
    an error) leaves nothing to close, on asyncio and on trio.

    Args:
        requester: Sends the page requests.
        call: The list call (its first page).
        convert: Turns a record and its index in the whole list into an item.
    """

    def __init__(
        self, requester: Requester, call: Call, convert: Callable[[Record, int], T]
    ) -> None:
        self._requester = requester
        self._next: Call | None = call
        self._convert = convert
        self._page: list[Record] = []
        self._position = 0
        self._index = 0
        self._seen: set[str] = set()

    def __aiter__(self) -> ListIterator[T]:
        return self

    async def __anext__(self) -> T:
        """The next item, fetching the next page first if this one is used up.

        Raises:
            StopAsyncIteration: after the last item of the last page.
            APIStatusError: a page failed, or one of its items did.
            ResponseDecodeError: a page holds no list, or its next page is on another host,
                outside the account, or a page already followed.
        """
        while self._position >= len(self._page):
            if self._next is None:
                raise StopAsyncIteration
            await self._fetch(self._next)
        record = self._page[self._position]
        self._position += 1
        self._index += 1
        return self._convert(record, self._index - 1)

    async def collect(self) -> list[T]:
        """Every item not yet taken, in order: the rest of this page, then every further page.

        The same as ``[item async for item in iterator]``, one step a page instead of an item.

        Raises:
            APIStatusError, ResponseDecodeError: as :meth:`__anext__`.
        """
        items: list[T] = []
        convert = self._convert
        while True:
            page, start = self._page, self._position
            first = self._index - start
            items.extend(convert(page[i], first + i) for i in range(start, len(page)))
            self._index += len(page) - start
            self._position = len(page)
            if self._next is None:
                return items
            await self._fetch(self._next)

    def begin_with(self, envelope: Envelope) -> None:
        """Take ``envelope``, the answer to this iterator's first call, as its first page.

        For a caller that had to see the first answer before knowing it holds a list: the rest
        follows from it, without asking for the first page again.

        Raises:
            RuntimeError: the iterator has already fetched a page.
            APIStatusError, ResponseDecodeError: as :meth:`__anext__`.
        """
        if self._next is None or self._seen or self._page:
            raise RuntimeError("begin_with() takes the first page, before any is fetched")
        self._accept(envelope, self._next)

    async def _fetch(self, call: Call) -> None:
        self._accept(await self._requester.request(call), call)

    def _accept(self, envelope: Envelope, call: Call) -> None:
        self._page = _page_records(self._requester, envelope, call)
        self._position = 0
        next_page = envelope.next_page_uri
        if not next_page:
            self._next = None
            return
        if next_page in self._seen:
            self._next = None
            raise ResponseDecodeError(
                f"the API sent the same next_page_uri twice ({next_page!r})",
                status_code=200,
                request_id=envelope.request_id,
            )
        self._seen.add(next_page)
        self._next = attrs.evolve(call, **_next_call(self._requester, next_page, envelope))


def records(requester: Requester, call: Call) -> ListIterator[Record]:
    """The raw records of the list ``call`` and of the pages after it, fetched as taken."""
    return ListIterator(requester, call, lambda record, _: record)


def _page_records(requester: Requester, envelope: Envelope, call: Call) -> list[dict[str, Any]]:
    if envelope.items is not None:
        for item in envelope.items:
            if isinstance(item, APIStatusError):
                raise item
        return envelope.items  # type: ignore[return-value]  # all dicts, checked above
    data = envelope.data
    if data is None:
        return []
    if isinstance(data, list) and all(isinstance(record, dict) for record in data):
        return data
    raise ResponseDecodeError(
        f"the list response for {call.method} {requester.account_path}{call.path} holds no list",
        status_code=200,
        request_id=envelope.request_id,
    )


def _next_call(requester: Requester, next_page: str, envelope: Envelope) -> dict[str, Any]:
    url = httpx2.URL(next_page)
    root = httpx2.URL(requester.root)
    if url.is_absolute_url and (url.scheme, url.netloc) != (root.scheme, root.netloc):
        raise ResponseDecodeError(
            f"refusing to follow next_page_uri to another host ({url.host!r})",
            status_code=200,
            request_id=envelope.request_id,
        )
    account_path = requester.account_path
    if not url.path.startswith(account_path):
        raise ResponseDecodeError(
            f"refusing to follow next_page_uri outside the account ({url.path!r})",
            status_code=200,
            request_id=envelope.request_id,
        )
    return {
        "path": url.raw_path.decode("ascii").split("?")[0][len(account_path) :],
        "params": dict(url.params),
    }
