"""``client.trunks``: create, list, find, change and delete SIP trunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from .._converter import structure
from .._exceptions import ConflictError, InvalidParameterError, NotFoundError
from .._models import Trunk
from .._transport import Call, Envelope, ListIterator
from .._validation import validate_path_segment, validate_trunk_name
from ._base import Resource, decoded

__all__ = ["Trunks"]


class Trunks(Resource):
    """Create, list, find, change and delete trunks."""

    async def create(
        self, trunk_name: str, *, nso_code: str = "ANY-ANY", domain_name: str | None = None
    ) -> Trunk:
        """Create a trunk.

        Args:
            trunk_name: 1-16 characters of letters, digits and underscores, unique per account.
            nso_code: The network service operator code; ``"ANY-ANY"`` for standard routing.
            domain_name: The SIP domain; ``"{account_sid}.pstn.exotel.com"`` by default.

        Raises:
            InvalidParameterError: before sending, for a bad name, code or domain.
            ConflictError: a trunk with this name exists.
            APIConnectionError: the network failed. Creating a trunk is never repeated once the
                request may have reached Exotel; the error then says the trunk may exist.
        """
        name = validate_trunk_name(trunk_name)
        _require_token("nso_code", nso_code)
        domain = f"{self._account_sid}.pstn.exotel.com" if domain_name is None else domain_name
        _require_token("domain_name", domain)
        body = {"trunk_name": name, "nso_code": nso_code, "domain_name": domain}
        call = Call(
            "POST",
            "trunks",
            json=body,
            unknown_outcome=(
                f"the trunk {name!r} may have been created; creating it again answers 409 "
                "(ConflictError) if it was"
            ),
            operation="trunks.create",
            template="trunks",
        )
        envelope = await self._requester.request(call)
        return structure(
            envelope.data, Trunk, where="trunks.create", request_id=envelope.request_id
        )

    async def delete(self, trunk_sid: str) -> None:
        """Delete a trunk with its numbers, IPs and destinations. This cannot be undone.

        A repeat after an unknown outcome that answers 404 counts as deleted.

        Raises:
            NotFoundError: the trunk does not exist.
        """
        sid = validate_path_segment(trunk_sid, "trunk_sid")

        async def already_deleted() -> Envelope:
            return Envelope(request_id=None)

        call = Call(
            "DELETE",
            "trunks",
            params={"trunk_sid": sid},
            recover=already_deleted,
            recover_on=NotFoundError,
            operation="trunks.delete",
            template="trunks",
            trunk_sid=sid,
        )
        await self._requester.request(call)

    def iter(self) -> AsyncIterator[Trunk]:
        """Iterate over the account's trunks, fetching each page as it is reached.

        Known from Exotel's sample scripts, with no example answer: both list shapes are read.
        The reference dialect has no such call; its error is raised.
        """
        return self._pages()

    async def list(self) -> list[Trunk]:
        """Return every trunk of the account (``GET /trunks``, all pages); see :meth:`iter`."""
        return await self._pages().collect()

    async def find(self, trunk_name: str) -> Trunk | None:
        """Return the trunk called ``trunk_name``, or ``None``; every page is read.

        The way back to a trunk whose sid was lost (an interrupted run, a crashed job). Names
        are meant to be unique; if the listing has two trunks of the name, neither is
        guessed at.

        Raises:
            InvalidParameterError: before sending, for a name ``create`` would refuse.
            ConflictError: more than one trunk has the name; the message names their sids.
        """
        name = validate_trunk_name(trunk_name)
        found = [trunk async for trunk in self._pages() if trunk.trunk_name == name]
        if len(found) > 1:
            sids = ", ".join(trunk.trunk_sid for trunk in found)
            raise ConflictError(
                f"{len(found)} trunks are named {name!r} ({sids}): pass the sid of the one "
                "meant (trunk_sid)",
                status_code=409,
                method="GET",
                path=self._requester.account_path + self._listing().path,
            )
        return found[0] if found else None

    async def get(self, trunk_sid: str) -> Trunk:
        """Return one trunk (``GET /trunks?trunk_sid=``, the listing's filter).

        Raises:
            InvalidParameterError: before sending, for a bad ``trunk_sid``.
            NotFoundError: no trunk of the account has this sid.
        """
        sid = validate_path_segment(trunk_sid, "trunk_sid")
        call = self._listing({"trunk_sid": sid}, operation="trunks.get")
        # The filter is known from sample scripts only: check every record, not just the first.
        async for trunk in self._iter(call, Trunk):
            if trunk.trunk_sid == sid:
                return trunk
        raise NotFoundError(
            f"no trunk of this account has the sid {sid!r}",
            status_code=404,
            method="GET",
            path=self._requester.account_path + call.path,
        )

    async def update(
        self, trunk_sid: str, *, trunk_name: str | None = None, nso_code: str | None = None
    ) -> Trunk:
        """Rename a trunk or change its NSO code (``PUT /trunks/{trunk_sid}``); send only those.

        Known only from Exotel's Postman collection: the answer is read if it holds the trunk,
        else the trunk is read back with :meth:`get`.

        Raises:
            InvalidParameterError: before sending, for a bad sid, name or code, or neither.
            NotFoundError: the trunk does not exist.
            ConflictError: another trunk has the name.
        """
        sid = validate_path_segment(trunk_sid, "trunk_sid")
        body: dict[str, Any] = {}
        if trunk_name is not None:
            body["trunk_name"] = validate_trunk_name(trunk_name)
        if nso_code is not None:
            _require_token("nso_code", nso_code)
            body["nso_code"] = nso_code
        if not body:
            raise InvalidParameterError(
                "trunk_name", trunk_name, "give trunk_name or nso_code to change"
            )
        call = Call(
            "PUT",
            f"trunks/{quote(sid, safe='')}",
            json=body,
            repeatable=True,
            operation="trunks.update",
            template="trunks/{trunk_sid}",
            trunk_sid=sid,
        )
        envelope = await self._requester.request(call)
        updated = decoded(envelope, Trunk)
        return updated if updated is not None else await self.get(sid)

    def _listing(
        self, params: dict[str, str] | None = None, *, operation: str = "trunks.list"
    ) -> Call:
        return Call("GET", "trunks", params=params, operation=operation, template="trunks")

    def _pages(self) -> ListIterator[Trunk]:
        return self._iter(self._listing(), Trunk)


def _require_token(argument: str, value: object) -> None:
    if not isinstance(value, str) or not value or any(char.isspace() for char in value):
        raise InvalidParameterError(argument, value, "expected a non-empty str without spaces")
