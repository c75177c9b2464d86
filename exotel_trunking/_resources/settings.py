"""``client.settings``: trunk settings such as the caller-ID alias."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._converter import structure
from .._exceptions import NotFoundError, ResponseDecodeError
from .._models import TrunkSetting
from .._transport import Call, Envelope, ListIterator
from .._validation import normalize_phone_number, validate_path_segment
from ._base import Resource, list_call, trunk_path

__all__ = ["Settings"]

ALIAS = "trunk_external_alias"


class Settings(Resource):
    """Set, list and delete trunk settings."""

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
            # Listing settings is known only from Postman (not every account may answer it);
            # a repeat answering 409 means the alias already holds the value we sent.
            return Envelope(request_id=None, items=[record])

        body = {"settings": [{"name": ALIAS, "value": number}]}
        call = Call(
            "POST",
            sid_path,
            json=body,
            repeatable=True,
            recover=as_sent,
            operation="settings.set_alias",
            template="trunks/{trunk_sid}/settings",
            trunk_sid=trunk_sid,
        )
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

    def iter(self, trunk_sid: str) -> AsyncIterator[TrunkSetting]:
        """Iterate over a trunk's settings, fetching each page as it is reached.

        Raises:
            InvalidParameterError: at once, for a bad ``trunk_sid``.
        """
        return self._pages(trunk_sid)

    async def list(self, trunk_sid: str) -> list[TrunkSetting]:
        """Return every setting of a trunk (``GET .../settings``, all pages).

        Known only from Exotel's Postman collection: both list shapes are read, and fields
        beyond ``name`` and ``value`` are optional.

        Raises:
            InvalidParameterError: before sending, for a bad ``trunk_sid``.
            NotFoundError: the trunk does not exist.
        """
        return await self._pages(trunk_sid).collect()

    async def delete(self, trunk_sid: str, name: str) -> None:
        """Delete a setting of a trunk (``DELETE .../settings?name=``), e.g. the alias.

        Known only from Exotel's Postman collection; its answer is not read. A repeat after an
        unknown outcome that answers 404 counts as deleted.

        Args:
            trunk_sid: The trunk.
            name: The setting, e.g. ``"trunk_external_alias"`` (the only one documented).

        Raises:
            InvalidParameterError: before sending, for a bad sid or name.
            NotFoundError: the trunk does not exist, or does not have that setting.
        """
        listing = list_call("settings.list", trunk_sid, "settings")
        setting = validate_path_segment(name, "name")

        async def already_deleted() -> Envelope:
            return Envelope(request_id=None)

        call = Call(
            "DELETE",
            listing.path,
            params={"name": setting},
            recover=already_deleted,
            recover_on=NotFoundError,
            operation="settings.delete",
            template=listing.template,
            trunk_sid=trunk_sid,
        )
        await self._requester.request(call)

    def _pages(self, trunk_sid: str) -> ListIterator[TrunkSetting]:
        return self._iter(list_call("settings.list", trunk_sid, "settings"), TrunkSetting)
