"""``client.credentials``: the SIP credentials a PBX or a voice-AI platform authenticates with.

Two shapes exist. The reference document's ``{username, password}`` pair, read with
:meth:`CredentialsResource.get`; and the live service's SIP digest credentials (``user_name``,
``friendly_name``, never a password once created), managed with ``create``, ``list``,
``update``, ``rotate`` and ``delete``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

import attrs

from .._converter import structure
from .._exceptions import (
    ExotelError,
    InvalidParameterError,
    NotFoundError,
    ResponseDecodeError,
)
from .._models import Credentials, SipCredential
from .._passwords import generate_password
from .._transport import Call, ListIterator
from .._validation import (
    validate_friendly_name,
    validate_password,
    validate_path_segment,
    validate_user_name,
)
from ._base import Resource, decoded, decoded_or, list_call, trunk_path

__all__ = ["CredentialsResource"]


class CredentialsResource(Resource):
    """Create, list, change, rotate and delete a trunk's SIP credentials."""

    async def get(self, trunk_sid: str) -> Credentials | None:
        """Return the trunk's SIP credentials in the reference's shape, or ``None`` if none yet.

        The password is in ``.password``; it never shows in ``repr()``. The live service
        answers SIP digest credentials instead, which carry no password: read those with
        :meth:`list`.

        Raises:
            ResponseDecodeError: the answer holds digest credentials (use :meth:`list`).
        """
        call = Call(
            "GET",
            trunk_path(trunk_sid, "credentials"),
            operation="credentials.get",
            template="trunks/{trunk_sid}/credentials",
            trunk_sid=trunk_sid,
        )
        envelope = await self._requester.request(call)
        data = envelope.data
        if envelope.items is not None:
            data = next(iter(envelope.items), None)  # live: a list of one envelope, or []
            if data is not None and not isinstance(data, dict):
                raise data
        if not data:
            return None
        if isinstance(data, dict) and "user_name" in data and "password" not in data:
            raise ResponseDecodeError(
                "the trunk's credentials are SIP digest credentials (user_name, and never a "
                "password), which credentials.get cannot return: read them with "
                "credentials.list()",
                status_code=200,
                request_id=envelope.request_id,
            )
        return structure(data, Credentials, where="credentials.get", request_id=envelope.request_id)

    async def create(
        self,
        trunk_sid: str,
        user_name: str,
        password: str | None = None,
        *,
        friendly_name: str | None = None,
    ) -> SipCredential:
        """Create a SIP digest credential on the trunk; its password is on the result, once.

        With ``password=None`` a strong password is generated (letters and digits, from the
        ``secrets`` module). The service never returns a password: keep the result's
        ``.password`` now (it never shows in ``repr()``, logs or errors). Creating is never
        repeated once the request may have reached Exotel: a repeat could fail as a duplicate
        or leave a second credential, so the error says to look before creating again.

        Args:
            trunk_sid: The trunk.
            user_name: The SIP user name: letters, digits and ``. _ ~ + -``.
            password: At least 12 printable ASCII characters without spaces; generated if
                ``None``.
            friendly_name: A label of 1-32 characters; not sent when ``None``.

        Raises:
            InvalidParameterError: before sending, for a bad sid, user name, password (never
                shown) or label.
            ConflictError: the trunk has a credential with this user name.
            NotFoundError: the trunk does not exist.
            APIConnectionError: the network failed; the message says whether the credential
                may have been created.
        """
        listing = list_call("credentials.list", trunk_sid, "credentials")
        name = validate_user_name(user_name)
        secret = generate_password() if password is None else validate_password(password)
        body = {"user_name": name, "password": secret}
        label = validate_friendly_name(friendly_name)
        if label is not None:
            body["friendly_name"] = label
        call = Call(
            "POST",
            listing.path,
            json=body,
            repeatable=False,
            unknown_outcome=(
                f"the credential {name!r} may have been created: look for it with "
                f"credentials.list({trunk_sid!r}); if it is there, its password was lost with "
                "this error, so give it a new one with credentials.rotate()"
            ),
            operation="credentials.create",
            template=listing.template,
            trunk_sid=trunk_sid,
        )
        envelope = await self._requester.request(call)
        created = decoded(envelope, SipCredential)
        if created is None:  # created, but the answer does not say as what: look it up
            record = await self._find(listing, lambda r: r.get("user_name") == name)
            if record is None:
                raise ResponseDecodeError(
                    f"the answer to creating the credential {name!r} holds no credential, and "
                    "the trunk's listing has none by that name",
                    status_code=200,
                    request_id=envelope.request_id,
                )
            created = structure(record, SipCredential, where="credentials.list")
        return attrs.evolve(created, password=secret)

    def iter(self, trunk_sid: str) -> AsyncIterator[SipCredential]:
        """Iterate over the trunk's SIP digest credentials, fetching each page as reached.

        Raises:
            InvalidParameterError: at once, for a bad ``trunk_sid``.
        """
        return self._pages(trunk_sid)

    async def list(self, trunk_sid: str) -> list[SipCredential]:
        """Return every SIP digest credential of the trunk (all pages); never a password.

        Raises:
            InvalidParameterError: before sending, for a bad ``trunk_sid``.
            NotFoundError: the trunk does not exist.
            ResponseDecodeError: the answer is the reference's ``{username, password}`` pair
                (read that with :meth:`get`).
        """
        return await self._pages(trunk_sid).collect()

    async def update(
        self,
        trunk_sid: str,
        credential_id: str,
        *,
        user_name: str | None = None,
        password: str | None = None,
        friendly_name: str | None = None,
    ) -> SipCredential:
        """Change a credential's user name, password or label; send only those given.

        Repeated safely after an unknown outcome (it sets, it does not add). The result's
        ``.password`` is the password sent, if one was.

        Raises:
            InvalidParameterError: before sending, for a bad value (a password is never
                shown), or nothing to change.
            NotOnTrunkError: no such credential on the trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("credentials.list", trunk_sid, "credentials")
        cid = validate_path_segment(credential_id, "credential_id")
        body: dict[str, Any] = {}
        if user_name is not None:
            body["user_name"] = validate_user_name(user_name)
        if password is not None:
            body["password"] = validate_password(password)
        if friendly_name is not None:
            body["friendly_name"] = validate_friendly_name(friendly_name)
        if not body:
            raise InvalidParameterError(
                "user_name", None, "give user_name, password or friendly_name to change"
            )
        try:
            envelope = await self._requester.request(
                self._put(listing, cid, body, "credentials.update")
            )
        except NotFoundError:
            # One 404 for an unknown trunk and an unknown credential: the listing tells which
            # (it raises for the trunk, or NotOnTrunkError for the credential).
            try:
                await self._credential(listing, cid)
            except NotFoundError:
                raise
            except ExotelError:
                pass  # the listing cannot tell (another service's shape): the 404 stands
            raise
        updated = decoded(envelope, SipCredential)
        if updated is None:
            updated = await self._credential(listing, cid)
        return attrs.evolve(updated, password=password)

    async def rotate(self, trunk_sid: str, credential_id: str) -> SipCredential:
        """Give a credential a new generated password; it is on the result's ``.password``.

        As :meth:`update` with a password from the ``secrets`` module (as :meth:`create`
        makes). Keep it now: it cannot be read back.
        """
        return await self.update(trunk_sid, credential_id, password=generate_password())

    async def delete(self, trunk_sid: str, credential_id: str) -> SipCredential:
        """Delete a credential (``DELETE .../credentials?id=``); return it as it was.

        The SDK reads the credential first (the listing's ``id`` filter). A repeat after an
        unknown outcome that answers 404 counts as deleted.

        Raises:
            InvalidParameterError: before sending, for a bad sid or id.
            NotOnTrunkError: no such credential on the trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("credentials.list", trunk_sid, "credentials")
        cid = validate_path_segment(credential_id, "credential_id")
        current = await self._credential(listing, cid)
        envelope = await self._remove(listing, {"id": current.id}, "credentials.delete")
        return decoded_or(envelope, SipCredential, current)

    async def _credential(self, listing: Call, credential_id: str) -> SipCredential:
        """The credential ``credential_id``, by the listing (filtered by ``id``)."""
        filtered = attrs.evolve(listing, params={"id": credential_id})
        return await self._listed(
            filtered,
            lambda r: str(r.get("id")) == credential_id,
            SipCredential,
            f"credential {credential_id}",
        )

    async def _current(self, trunk_sid: str) -> Credentials | builtins.list[SipCredential] | None:
        """The trunk's credentials in the service's form: the digest list, or the reference pair.

        One request a page, whichever form the service answers: for ``provision``'s report,
        which cannot know beforehand which form it will meet.
        """
        listing = list_call("credentials.list", trunk_sid, "credentials")
        envelope = await self._requester.request(listing)
        if envelope.items is None and not isinstance(envelope.data, list):
            data = envelope.data
            if not data:
                return None
            if isinstance(data, dict) and "user_name" in data:  # one digest record, unlisted
                return [structure(data, SipCredential, where="credentials.list")]
            where = "credentials.get"
            return structure(data, Credentials, where=where, request_id=envelope.request_id)
        pages = self._iter(listing, SipCredential)
        pages.begin_with(envelope)  # a list: its further pages follow from this one
        return await pages.collect()

    def _pages(self, trunk_sid: str) -> ListIterator[SipCredential]:
        return self._iter(list_call("credentials.list", trunk_sid, "credentials"), SipCredential)
