"""``client.settings``: trunk settings such as the caller-ID alias."""

from __future__ import annotations

from .._converter import structure
from .._exceptions import ResponseDecodeError
from .._models import TrunkSetting
from .._transport import Call, Envelope
from .._validation import normalize_phone_number
from ._base import Resource, trunk_path

__all__ = ["Settings"]

ALIAS = "trunk_external_alias"


class Settings(Resource):
    """Change trunk settings."""

    async def set_alias(self, trunk_sid: str, phone_number: str) -> TrunkSetting:
        """Set the caller ID shown for the trunk's outbound calls.

        Args:
            trunk_sid: The trunk.
            phone_number: The alias in E.164 (punctuation is stripped as for ``map``).
        """
        sid_path = trunk_path(trunk_sid, "settings")
        number = normalize_phone_number(phone_number)
        record = {"name": ALIAS, "value": number, "trunk_sid": trunk_sid}

        async def as_sent() -> Envelope:
            # There is no call that lists settings; a repeat answering 409 means the alias
            # already holds the value we sent.
            return Envelope(request_id=None, items=[record])

        body = {"settings": [{"name": ALIAS, "value": number}]}
        call = Call("POST", sid_path, json=body, repeatable=True, recover=as_sent)
        envelope = await self._requester.request(call)
        items = envelope.items if envelope.items is not None else [envelope.data]
        if not items or items[0] is None:
            raise ResponseDecodeError(
                "the settings response holds no setting",
                status_code=200,
                request_id=envelope.request_id,
            )
        item = items[0]
        if not isinstance(item, dict):
            raise item
        return structure(
            item, TrunkSetting, where="settings.set_alias", request_id=envelope.request_id
        )
