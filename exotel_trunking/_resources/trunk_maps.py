"""``client.trunk_maps``: which trunk a phone number is mapped to, account-wide."""

from __future__ import annotations

from .._converter import structure
from .._models import TrunkMap
from .._transport import Call
from .._validation import normalize_phone_number
from ._base import Resource, answer_records

__all__ = ["TrunkMaps"]

#: Where an answer may name the number: the mapping's own field, or the query's name for it.
_NUMBER_FIELDS = ("phone_number", "exophone")


class TrunkMaps(Resource):
    """Look up the trunk that holds a number."""

    async def lookup(self, phone_number: str) -> TrunkMap | None:
        """Return the mapping of ``phone_number`` (with ``.trunk_sid``), or ``None``.

        One call (``GET /trunk-maps?exophone=``) that answers "is this number on my trunk or on
        another?", e.g. after a 409 from ``phone_numbers.map``. Known from Exotel's sample
        scripts, with no example answer: a single envelope or a list is read, the number may
        be named ``phone_number`` or ``exophone`` (or not at all), and fields beyond
        ``trunk_sid`` are optional. The reference dialect has no such call; its error is raised.

        Returns:
            The mapping, or ``None`` when the answer holds none (the number is on no trunk).

        Raises:
            InvalidParameterError: before sending, for a number that is not E.164.
            ResponseDecodeError: the answer holds a record without a ``trunk_sid``.
        """
        number = normalize_phone_number(phone_number, possible=False)  # names one that exists
        call = Call(
            "GET",
            "trunk-maps",
            params={"exophone": number},
            operation="trunk_maps.lookup",
            template="trunk-maps",
        )
        envelope = await self._requester.request(call)
        for record in answer_records(envelope):
            named = next((record[key] for key in _NUMBER_FIELDS if record.get(key)), None)
            if named is None or _same_number(str(named), number):
                return structure(
                    {**record, "phone_number": number},
                    TrunkMap,
                    where="trunk_maps.lookup",
                    request_id=envelope.request_id,
                )
        return None


def _same_number(named: str, number: str) -> bool:
    """Whether an answer's ``named`` number is ``number``, in E.164 or a national form.

    A record for another number would mean the service did not apply the filter.
    """
    digits = "".join(char for char in named if char.isdigit()).lstrip("0")
    return len(digits) >= 7 and number[1:].endswith(digits)
