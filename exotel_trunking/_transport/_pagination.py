"""Follow a list's pages lazily: ``metadata.next_page_uri`` after ``metadata.next_page_uri``.

A list call answers either one envelope whose ``data`` is the whole array (the reference), or
a page of per-item envelopes with a link to the next page (the live service). :func:`records`
yields the records of both, one page at a time, and asks for the next page only when the
caller has taken every record of the current one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx2

from .._exceptions import APIStatusError, ResponseDecodeError
from ._envelope import Envelope
from ._http import Call, Requester

__all__ = ["records"]


async def records(requester: Requester, call: Call) -> AsyncIterator[dict[str, Any]]:
    """Yield every record of the list ``call`` and of the pages after it, in order.

    Raises:
        APIStatusError: a page failed, or one of its items did.
        ResponseDecodeError: a page holds no list, or its next page is on another host,
            outside the account, or a page already followed.
    """
    seen: set[str] = set()
    while True:
        envelope = await requester.request(call)
        for record in _page_records(requester, envelope, call):
            yield record
        next_page = envelope.next_page_uri
        if not next_page:
            return
        if next_page in seen:
            raise ResponseDecodeError(
                f"the API sent the same next_page_uri twice ({next_page!r})",
                status_code=200,
                request_id=envelope.request_id,
            )
        seen.add(next_page)
        call = attrs.evolve(call, **_next_call(requester, next_page, envelope))


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
    if url.is_absolute_url and not requester.root.startswith(
        f"{url.scheme}://{url.netloc.decode()}"
    ):
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
