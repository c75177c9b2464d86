"""``client.destination_uris``: where Exotel sends a trunk's inbound calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._converter import structure
from .._exceptions import APIStatusError, InvalidParameterError, PartialFailureError
from .._models import DestinationUri
from .._transport import Call, Envelope, ListIterator
from .._validation import normalize_destination
from ._base import Resource, decoded, decoded_or, list_call

__all__ = ["DestinationUris"]


def _bare(destination: str) -> str:
    """A destination as compared: no ``sip:`` prefix, lower case, UDP without ``;transport=``."""
    text = destination.strip().lower()
    text = text[4:] if text.startswith("sip:") else text
    return text.removesuffix(";transport=udp")


class DestinationUris(Resource):
    """Add, list, change and remove destination URIs."""

    async def add(self, trunk_sid: str, destinations: str | Sequence[str]) -> list[DestinationUri]:
        """Add one or more destinations in one request.

        Args:
            trunk_sid: The trunk.
            destinations: ``"host:port"`` (UDP), ``"host:port;transport=tcp|tls"``, or a
                sequence of them; a leading ``sip:`` is accepted and stripped, and
                ``;transport=udp`` is sent as ``host:port``. An IP host must be whitelisted
                first.

        Returns:
            The created destinations, in the order given.

        Raises:
            InvalidParameterError: before sending, for a malformed destination or none at all.
            PartialFailureError: some destinations failed (``.succeeded`` holds the created
                ones, ``.failed`` the ``(destination, error)`` pairs).
        """
        listing = list_call("destination_uris.list", trunk_sid, "destination-uris")
        wanted = _normalize_all(destinations)

        async def find_existing() -> Envelope | None:
            existing = {
                _bare(str(record.get("destination", ""))): record
                async for record in self._records(listing)
            }
            if all(item in existing for item in wanted):
                return Envelope(request_id=None, items=[existing[item] for item in wanted])
            return None

        body = {"destinations": [{"destination": item} for item in wanted]}
        envelope = await self._add(listing, body, "destination_uris.add", find_existing)
        return _created(envelope, wanted)

    async def update(
        self,
        trunk_sid: str,
        destination: str,
        *,
        priority: int | None = None,
        weight: int | None = None,
    ) -> DestinationUri:
        """Change a destination's routing priority or weight (``PUT .../destination-uris/{id}``).

        Known only from Exotel's Postman collection (which gives no limits): the answer is read
        if it holds the destination, else the destination is read back from the listing.

        Args:
            trunk_sid: The trunk.
            destination: The destination as added (compared as ``add`` normalises it).
            priority: Lower is preferred; not sent when ``None``.
            weight: Higher takes more traffic; not sent when ``None``.

        Raises:
            InvalidParameterError: before sending, for a malformed destination, a priority or
                weight that is not an int >= 0, or neither of them given.
            NotOnTrunkError: the destination is not on this trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("destination_uris.list", trunk_sid, "destination-uris")
        wanted = normalize_destination(destination, "destination")
        body = {
            name: _non_negative(name, value)
            for name, value in (("priority", priority), ("weight", weight))
            if value is not None
        }
        if not body:
            raise InvalidParameterError("priority", None, "give priority or weight to change")
        current = await self._destination(listing, wanted)
        envelope = await self._requester.request(
            self._put(listing, current.id, body, "destination_uris.update")
        )
        updated = decoded(envelope, DestinationUri)
        if updated is not None:
            return updated
        return await self._listed(
            listing, lambda r: str(r.get("id")) == current.id, DestinationUri, wanted
        )

    async def remove(self, trunk_sid: str, destination: str) -> DestinationUri:
        """Remove a destination (``DELETE .../destination-uris?id=``); return it.

        The SDK finds the destination's id in the trunk's listing. Known only from Exotel's
        Postman collection: the answer is read if it holds the destination, else the listed one
        is returned. A repeat after an unknown outcome that answers 404 counts as removed.

        Raises:
            InvalidParameterError: before sending, for a malformed destination.
            NotOnTrunkError: the destination is not on this trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("destination_uris.list", trunk_sid, "destination-uris")
        wanted = normalize_destination(destination, "destination")
        current = await self._destination(listing, wanted)
        envelope = await self._remove(listing, {"id": current.id}, "destination_uris.remove")
        return decoded_or(envelope, DestinationUri, current)

    async def _destination(self, listing: Call, wanted: str) -> DestinationUri:
        """The trunk's destination ``wanted`` (normalised), by its listing."""
        return await self._listed(
            listing,
            lambda r: _bare(str(r.get("destination", ""))) == wanted,
            DestinationUri,
            wanted,
        )

    def iter(self, trunk_sid: str) -> AsyncIterator[DestinationUri]:
        """Iterate over a trunk's destinations, fetching each page as it is reached.

        Raises:
            InvalidParameterError: at once, for a bad ``trunk_sid``.
        """
        return self._pages(trunk_sid)

    async def list(self, trunk_sid: str) -> list[DestinationUri]:
        """Return every destination of a trunk (all pages)."""
        return await self._pages(trunk_sid).collect()

    def _pages(self, trunk_sid: str) -> ListIterator[DestinationUri]:
        return self._iter(
            list_call("destination_uris.list", trunk_sid, "destination-uris"), DestinationUri
        )


def _non_negative(argument: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterError(argument, value, "expected an int >= 0")
    return value


def _normalize_all(destinations: object) -> list[str]:
    if isinstance(destinations, str):
        return [normalize_destination(destinations)]
    if not isinstance(destinations, Sequence) or isinstance(destinations, (bytes, bytearray)):
        raise InvalidParameterError(
            "destinations", destinations, "expected a str or a sequence of str"
        )
    if not destinations:
        raise InvalidParameterError("destinations", destinations, "expected at least one")
    return [normalize_destination(item) for item in destinations]


def _created(envelope: Envelope, wanted: list[str]) -> list[DestinationUri]:
    items: list[Any] = envelope.items if envelope.items is not None else []
    if envelope.items is None and isinstance(envelope.data, list):
        items = envelope.data
    elif envelope.items is None and isinstance(envelope.data, dict):
        items = [envelope.data]
    succeeded: list[DestinationUri] = []
    failed: list[tuple[str, APIStatusError]] = []
    for index, item in enumerate(items):
        label = wanted[index] if index < len(wanted) else f"item {index}"
        if isinstance(item, APIStatusError):
            failed.append((label, item))
        else:
            succeeded.append(
                structure(
                    item,
                    DestinationUri,
                    where="destination_uris.add",
                    request_id=envelope.request_id,
                )
            )
    if failed:
        raise PartialFailureError(succeeded, failed, request_id=envelope.request_id)
    return succeeded
