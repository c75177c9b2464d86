"""``client.phone_numbers``: map numbers (DIDs) to a trunk and list them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from .._converter import structure
from .._exceptions import InvalidParameterError
from .._models import PhoneNumber
from .._transport import Call, Envelope, ListIterator
from .._validation import normalize_phone_number, validate_mode
from ._base import Resource, decoded_or, list_call

__all__ = ["PhoneNumbers"]


class PhoneNumbers(Resource):
    """Map phone numbers to trunks, change their mode, and unmap them."""

    async def map(
        self, trunk_sid: str, phone_number: str, *, mode: str | None = None
    ) -> PhoneNumber:
        """Map a phone number to a trunk.

        Args:
            trunk_sid: The trunk.
            phone_number: E.164 (``"+919876543210"``); spaces, dashes, dots and parentheses
                are stripped first.
            mode: ``"pstn"`` (Exotel's default) or ``"flow"`` (StreamKit / voice bots); not
                sent when ``None``.

        Raises:
            InvalidParameterError: before sending, for a bad sid, number or mode.
            ConflictError: the number is already mapped.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("phone_numbers.list", trunk_sid, "phone-numbers")
        number = normalize_phone_number(phone_number)
        body = {"phone_number": number}
        if validate_mode(mode) is not None:
            body["mode"] = mode  # type: ignore[assignment]

        def find_existing() -> Awaitable[Envelope | None]:
            return self._found(listing, lambda r: r.get("phone_number") == number)

        envelope = await self._add(listing, body, "phone_numbers.map", find_existing)
        return structure(
            envelope.data, PhoneNumber, where="phone_numbers.map", request_id=envelope.request_id
        )

    async def update(self, trunk_sid: str, phone_number: str, *, mode: str) -> PhoneNumber:
        """Change the mode of a number mapped to the trunk (``PUT .../phone-numbers/{id}``).

        The SDK finds the mapping's id in the trunk's listing.

        Args:
            trunk_sid: The trunk.
            phone_number: The mapped number (punctuation is stripped as for ``map``).
            mode: ``"pstn"`` or ``"flow"``.

        Raises:
            InvalidParameterError: before sending, for a bad sid, number or mode.
            NotOnTrunkError: the number is not mapped to this trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("phone_numbers.list", trunk_sid, "phone-numbers")
        number = normalize_phone_number(phone_number, possible=False)  # names one that exists
        if mode is None or validate_mode(mode) is None:
            raise InvalidParameterError("mode", mode, "expected 'pstn' or 'flow'")
        mapped = await self._mapping(listing, number)
        body = {"phone_number": number, "mode": mode}
        call = self._put(listing, mapped.id, body, "phone_numbers.update")
        envelope = await self._requester.request(call)
        return structure(
            envelope.data, PhoneNumber, where="phone_numbers.update", request_id=envelope.request_id
        )

    async def remove(self, trunk_sid: str, phone_number: str) -> PhoneNumber:
        """Unmap a number from the trunk (``DELETE .../phone-numbers?id=``); return its mapping.

        The SDK finds the mapping's id in the trunk's listing. Known only from Exotel's Postman
        collection: the answer is read if it holds the mapping, else the listed one is returned.
        A repeat after an unknown outcome that answers 404 counts as removed.

        Raises:
            InvalidParameterError: before sending, for a bad sid or number.
            NotOnTrunkError: the number is not mapped to this trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("phone_numbers.list", trunk_sid, "phone-numbers")
        number = normalize_phone_number(phone_number, possible=False)  # names one that exists
        mapped = await self._mapping(listing, number)
        envelope = await self._remove(listing, {"id": mapped.id}, "phone_numbers.remove")
        return decoded_or(envelope, PhoneNumber, mapped)

    async def _mapping(self, listing: Call, number: str) -> PhoneNumber:
        """The trunk's mapping of ``number`` (normalised), by its listing."""
        return await self._listed(
            listing, lambda r: r.get("phone_number") == number, PhoneNumber, number
        )

    def iter(self, trunk_sid: str) -> AsyncIterator[PhoneNumber]:
        """Iterate over the numbers mapped to a trunk, fetching each page as it is reached.

        ``async for number in client.phone_numbers.iter(trunk_sid): ...``; leaving the loop
        early fetches no further page.

        Raises:
            InvalidParameterError: at once, for a bad ``trunk_sid``.
        """
        return self._pages(trunk_sid)

    async def list(self, trunk_sid: str) -> list[PhoneNumber]:
        """Return every number mapped to a trunk (all pages)."""
        return await self._pages(trunk_sid).collect()

    def _pages(self, trunk_sid: str) -> ListIterator[PhoneNumber]:
        return self._iter(list_call("phone_numbers.list", trunk_sid, "phone-numbers"), PhoneNumber)
