"""What every resource shares: the requester it calls, how it builds paths and reads lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from .._converter import converter, structure
from .._exceptions import APIStatusError, NotFoundError, NotOnTrunkError, ResponseDecodeError
from .._transport import Call, Envelope, ListIterator, Requester, records
from .._validation import validate_path_segment

T = TypeVar("T")


class Resource:
    """Base of the resources hung on the client (``client.trunks``, ...)."""

    def __init__(self, requester: Requester, account_sid: str) -> None:
        self._requester = requester
        self._account_sid = account_sid

    def __repr__(self) -> str:
        return f"<{type(self).__name__} account_sid={self._account_sid!r}>"

    def _records(self, call: Call) -> ListIterator[dict[str, Any]]:
        """The raw records of the list ``call``, page by page, fetched as they are taken."""
        return records(self._requester, call)

    def _iter(self, call: Call, cls: type[T]) -> ListIterator[T]:
        """The records of the list ``call`` as ``cls``, page by page, fetched as taken."""
        hook = converter.get_structure_hook(cls)
        where = call.operation

        def convert(record: dict[str, Any], index: int) -> T:
            try:
                return hook(record, cls)  # type: ignore[no-any-return]
            except Exception:
                return structure(record, cls, where=where, path=f"$.data[{index}]")

        return ListIterator(self._requester, call, convert)

    async def _find(
        self, listing: Call, match: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """The first raw record of the list ``listing`` that ``match``es, reading no further."""
        async for record in self._records(listing):
            if match(record):
                return record
        return None

    async def _found(
        self, listing: Call, match: Callable[[dict[str, Any]], bool]
    ) -> Envelope | None:
        """The first record of ``listing`` that ``match``es, as the answer adding it gave.

        For :meth:`_add`'s ``find_existing``: a repeat refused as a duplicate is answered
        with the record the first attempt added.
        """
        record = await self._find(listing, match)
        return None if record is None else Envelope(request_id=None, data=record)

    async def _listed(
        self, listing: Call, match: Callable[[dict[str, Any]], bool], cls: type[T], what: str
    ) -> T:
        """The first record of ``listing`` that ``match``es, as ``cls``.

        Raises:
            NotOnTrunkError: the listing holds no such record (``what`` names it).
        """
        record = await self._find(listing, match)
        if record is None:
            raise self._not_on_trunk(listing, what)
        return structure(record, cls, where=listing.operation)

    def _not_on_trunk(self, listing: Call, what: str, hint: str = "") -> NotOnTrunkError:
        """The error for a record the trunk's listing does not hold (no API error behind it)."""
        return NotOnTrunkError(
            f"{what} is not on trunk {listing.trunk_sid} (its listing holds no such record)" + hint,
            status_code=404,
            method=listing.method,
            path=self._requester.account_path + listing.path,
        )

    async def _add(
        self,
        listing: Call,
        body: dict[str, Any],
        operation: str,
        find_existing: Callable[[], Awaitable[Envelope | None]],
    ) -> Envelope:
        """POST ``body`` to the list ``listing``, repeated after an unknown outcome.

        A repeat refused as a duplicate is answered with the record ``find_existing`` reads
        (the first attempt had in fact added it).
        """
        call = Call(
            "POST",
            listing.path,
            json=body,
            repeatable=True,
            recover=find_existing,
            operation=operation,
            template=listing.template,
            trunk_sid=listing.trunk_sid,
        )
        return await self._requester.request(call)

    async def _remove(self, listing: Call, record: dict[str, Any], operation: str) -> Envelope:
        """DELETE the record of ``listing`` by its id (``?id=``); a repeat's 404 is success."""
        record_id = validate_path_segment(str(record.get("id", "")), "id")

        async def already_removed() -> Envelope:
            return Envelope(request_id=None, data=record)

        call = Call(
            "DELETE",
            listing.path,
            params={"id": record_id},
            recover=already_removed,
            recover_on=NotFoundError,
            operation=operation,
            template=listing.template,
            trunk_sid=listing.trunk_sid,
        )
        return await self._requester.request(call)

    async def _remove_listed(
        self, trunk_sid: str, part: str, operation: str, record_id: str
    ) -> None:
        """DELETE the record ``record_id`` of the trunk's ``part``, an id read from its listing.

        For ``provision(prune=True)``, which has read the whole listing already: one request
        per record instead of a listing scan each. Retried as every removal is.
        """
        listing = list_call(f"{part.replace('-', '_')}.list", trunk_sid, part)
        await self._remove(listing, {"id": record_id}, operation)

    def _put(self, listing: Call, record_id: str, body: dict[str, Any], operation: str) -> Call:
        """The PUT of the record ``record_id`` of ``listing`` (repeatable: it sets, not adds)."""
        segment = quote(validate_path_segment(record_id, "id"), safe="")
        return Call(
            "PUT",
            f"{listing.path}/{segment}",
            json=body,
            repeatable=True,
            operation=operation,
            template=f"{listing.template}/{{id}}",
            trunk_sid=listing.trunk_sid,
        )


def trunk_path(trunk_sid: object, *rest: str) -> str:
    """Return ``trunks/{trunk_sid}/...`` with the sid validated and percent-encoded."""
    sid = validate_path_segment(trunk_sid, "trunk_sid")
    return "/".join(("trunks", quote(sid, safe=""), *rest))


def list_call(operation: str, trunk_sid: str, part: str) -> Call:
    """The GET of the list ``trunks/{trunk_sid}/{part}`` (its first page)."""
    return Call(
        "GET",
        trunk_path(trunk_sid, part),
        operation=operation,
        template=f"trunks/{{trunk_sid}}/{part}",
        trunk_sid=trunk_sid,
    )


def answer_records(envelope: Envelope) -> list[dict[str, Any]]:
    """The records an answer holds, wherever it holds them (an item that failed raises its error).

    For the operations whose answers no capture shows: per-item envelopes, ``response.data`` as
    an array, or one record.
    """
    if envelope.items is not None:
        for item in envelope.items:
            if isinstance(item, APIStatusError):
                raise item
        return envelope.items  # type: ignore[return-value]  # all dicts, checked above
    data = envelope.data
    if isinstance(data, dict):
        return [data] if data else []
    if isinstance(data, list):
        return [record for record in data if isinstance(record, dict)]
    return []


def decoded(envelope: Envelope, cls: type[T]) -> T | None:
    """The answer's record as ``cls`` if it holds one that decodes, else ``None``.

    Tolerant decoding for undocumented answers: an empty body, ``data: null`` or a record of
    another shape is not an error; the caller knows the record some other way.
    """
    record = next(iter(answer_records(envelope)), None)
    if record is None:
        return None
    try:
        return structure(record, cls, where=cls.__name__, request_id=envelope.request_id)
    except ResponseDecodeError:
        return None


def decoded_or(envelope: Envelope, cls: type[T], fallback: T) -> T:
    """The answer's record as ``cls`` (see :func:`decoded`), else ``fallback``."""
    record = decoded(envelope, cls)
    return fallback if record is None else record
