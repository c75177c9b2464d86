"""``client.destination_uris``: where Exotel sends a trunk's inbound calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._converter import structure
from .._exceptions import APIStatusError, InvalidParameterError, PartialFailureError
from .._models import DestinationUri
from .._transport import Call, Envelope, ListIterator
from .._validation import normalize_destination
from ._base import Resource, trunk_path

__all__ = ["DestinationUris"]


def _bare(destination: str) -> str:
    """A destination as compared: no ``sip:`` prefix, lower case."""
    text = destination.strip().lower()
    return text[4:] if text.startswith("sip:") else text


class DestinationUris(Resource):
    """Add and list destination URIs."""

    async def add(self, trunk_sid: str, destinations: str | Sequence[str]) -> list[DestinationUri]:
        """Add one or more destinations in one request.

        Args:
            trunk_sid: The trunk.
            destinations: ``"host:port;transport=tcp|tls"`` or a sequence of them; a leading
                ``sip:`` is accepted and stripped. An IP host must be whitelisted first.

        Returns:
            The created destinations, in the order given.

        Raises:
            InvalidParameterError: before sending, for a malformed destination or none at all.
            PartialFailureError: some destinations failed (``.succeeded`` holds the created
                ones, ``.failed`` the ``(destination, error)`` pairs).
        """
        path = trunk_path(trunk_sid, "destination-uris")
        wanted = _normalize_all(destinations)

        async def find_existing() -> Envelope | None:
            existing = {
                _bare(str(record.get("destination", ""))): record
                async for record in self._records(path)
            }
            if all(item in existing for item in wanted):
                return Envelope(request_id=None, items=[existing[item] for item in wanted])
            return None

        body = {"destinations": [{"destination": item} for item in wanted]}
        call = Call("POST", path, json=body, repeatable=True, recover=find_existing)
        envelope = await self._requester.request(call)
        return _created(envelope, wanted)

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
            trunk_path(trunk_sid, "destination-uris"), DestinationUri, "destination_uris.list"
        )


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
