"""``client.trunks``: create and delete SIP trunks."""

from __future__ import annotations

from .._converter import structure
from .._exceptions import InvalidParameterError, NotFoundError
from .._models import Trunk
from .._transport import Call, Envelope
from .._validation import validate_path_segment, validate_trunk_name
from ._base import Resource

__all__ = ["Trunks"]


class Trunks(Resource):
    """Create and delete trunks."""

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
        )
        await self._requester.request(call)


def _require_token(argument: str, value: object) -> None:
    if not isinstance(value, str) or not value or any(char.isspace() for char in value):
        raise InvalidParameterError(argument, value, "expected a non-empty str without spaces")
