"""``client.credentials``: the SIP credentials a PBX registers with."""

from __future__ import annotations

from .._converter import structure
from .._models import Credentials
from .._transport import Call
from ._base import Resource, trunk_path

__all__ = ["CredentialsResource"]


class CredentialsResource(Resource):
    """Read a trunk's SIP credentials."""

    async def get(self, trunk_sid: str) -> Credentials | None:
        """Return the trunk's SIP credentials, or ``None`` if it has none yet.

        The password is in ``.password``; it never shows in ``repr()``.
        """
        envelope = await self._requester.request(Call("GET", trunk_path(trunk_sid, "credentials")))
        data = envelope.data
        if envelope.items is not None:
            data = next(iter(envelope.items), None)  # live: a list of one envelope, or []
            if data is not None and not isinstance(data, dict):
                raise data
        if not data:
            return None
        return structure(data, Credentials, where="credentials.get", request_id=envelope.request_id)
