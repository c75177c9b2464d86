"""``client.phone_numbers``: map numbers (DIDs) to a trunk and list them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._converter import structure
from .._models import PhoneNumber
from .._transport import Call, Envelope, ListIterator
from .._validation import normalize_phone_number, validate_mode
from ._base import Resource, trunk_path

__all__ = ["PhoneNumbers"]


class PhoneNumbers(Resource):
    """Map phone numbers to trunks."""

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
        path = trunk_path(trunk_sid, "phone-numbers")
        number = normalize_phone_number(phone_number)
        body = {"phone_number": number}
        if validate_mode(mode) is not None:
            body["mode"] = mode  # type: ignore[assignment]

        async def find_existing() -> Envelope | None:
            async for record in self._records(path):
                if record.get("phone_number") == number:
                    return Envelope(request_id=None, data=record)
            return None

        call = Call("POST", path, json=body, repeatable=True, recover=find_existing)
        envelope = await self._requester.request(call)
        return structure(
            envelope.data, PhoneNumber, where="phone_numbers.map", request_id=envelope.request_id
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
        path = trunk_path(trunk_sid, "phone-numbers")
        return self._iter(path, PhoneNumber, "phone_numbers.list")
