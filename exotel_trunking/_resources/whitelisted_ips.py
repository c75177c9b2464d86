"""``client.whitelisted_ips``: the addresses allowed to send SIP traffic on a trunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

from .._converter import structure
from .._models import WhitelistedIp
from .._transport import Call, Envelope, ListIterator
from .._validation import parse_ip
from ._base import Resource, decoded, decoded_or, list_call

__all__ = ["WhitelistedIps"]


class WhitelistedIps(Resource):
    """Whitelist IPv4 addresses and ranges, change and remove them."""

    async def add(self, trunk_sid: str, ip: str, *, mask: int | None = None) -> WhitelistedIp:
        """Whitelist a public IPv4 address or range.

        Args:
            trunk_sid: The trunk.
            ip: ``"203.0.113.50"`` or a CIDR range ``"203.0.113.0/24"``.
            mask: The prefix length, 16-32; 32 (one address) when ``None``. A CIDR ``ip``
                carries its own mask; giving both with different values is an error.

        Raises:
            InvalidParameterError: before sending, for a private, reserved or malformed
                address, a mask outside 16-32, or host bits set below the mask.
            ConflictError: the address is already whitelisted.
        """
        listing = list_call("whitelisted_ips.list", trunk_sid, "whitelisted-ips")
        address, prefix = parse_ip(ip, mask)

        def find_existing() -> Awaitable[Envelope | None]:
            return self._found(
                listing, lambda r: r.get("ip") == address and str(r.get("mask")) == str(prefix)
            )

        body = {"ip": address, "mask": prefix}
        envelope = await self._add(listing, body, "whitelisted_ips.add", find_existing)
        return structure(
            envelope.data,
            WhitelistedIp,
            where="whitelisted_ips.add",
            request_id=envelope.request_id,
        )

    async def update(self, trunk_sid: str, ip: str, new_ip: str) -> WhitelistedIp:
        """Change a whitelisted entry to another address or range (``PUT .../{id}``).

        Known only from Exotel's Postman collection: the answer is read if it holds the
        entry, else the entry is read back from the trunk's listing.

        Args:
            trunk_sid: The trunk.
            ip: The entry as whitelisted: ``"a.b.c.d"`` (a /32) or ``"a.b.c.d/nn"``.
            new_ip: What it becomes, checked as for ``add``.

        Raises:
            InvalidParameterError: before sending, for a malformed ``ip`` or a ``new_ip``
                that ``add`` would refuse.
            NotOnTrunkError: the entry is not on this trunk.
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("whitelisted_ips.list", trunk_sid, "whitelisted-ips")
        address, prefix = parse_ip(ip, public=False)
        new_address, new_prefix = parse_ip(new_ip, argument="new_ip")
        entry = await self._entry(listing, address, prefix)
        body = {"ip": new_address, "mask": new_prefix}
        envelope = await self._requester.request(
            self._put(listing, entry.id, body, "whitelisted_ips.update")
        )
        updated = decoded(envelope, WhitelistedIp)
        if updated is not None:
            return updated
        what = f"whitelisted entry {entry.id}"
        return await self._listed(
            listing, lambda r: str(r.get("id")) == entry.id, WhitelistedIp, what
        )

    async def remove(self, trunk_sid: str, ip: str) -> WhitelistedIp:
        """Remove a whitelisted address or range (``DELETE .../whitelisted-ips?id=``).

        The SDK finds the entry's id in the trunk's listing. Known only from Exotel's Postman
        collection: the answer is read if it holds the entry, else the listed one is returned.
        A repeat after an unknown outcome that answers 404 counts as removed.

        Args:
            trunk_sid: The trunk.
            ip: ``"a.b.c.d"`` (the /32 entry) or ``"a.b.c.d/nn"``; private ranges are accepted
                here, so that an entry the service took can always be removed.

        Raises:
            InvalidParameterError: before sending, for a malformed address or range.
            NotOnTrunkError: no such entry on this trunk (the message names an entry with the
                same address and another mask, if there is one).
            NotFoundError: the trunk does not exist.
        """
        listing = list_call("whitelisted_ips.list", trunk_sid, "whitelisted-ips")
        address, prefix = parse_ip(ip, public=False)
        entry = await self._entry(listing, address, prefix)
        envelope = await self._remove(listing, {"id": entry.id}, "whitelisted_ips.remove")
        return decoded_or(envelope, WhitelistedIp, entry)

    async def _entry(self, listing: Call, address: str, prefix: int) -> WhitelistedIp:
        """The entry ``address/prefix`` of the trunk, by its listing."""
        same_address: list[str] = []

        def match(record: dict[str, Any]) -> bool:
            if record.get("ip") != address:
                return False
            if str(record.get("mask")) == str(prefix):
                return True
            same_address.append(f"{address}/{record.get('mask')}")
            return False

        record = await self._find(listing, match)
        if record is None:
            hint = f"; it has {', '.join(same_address)}" if same_address else ""
            raise self._not_on_trunk(listing, f"{address}/{prefix}", hint)
        return structure(record, WhitelistedIp, where="whitelisted_ips.list")

    def iter(self, trunk_sid: str) -> AsyncIterator[WhitelistedIp]:
        """Iterate over a trunk's whitelisted addresses, fetching each page as it is reached.

        Raises:
            InvalidParameterError: at once, for a bad ``trunk_sid``.
        """
        return self._pages(trunk_sid)

    async def list(self, trunk_sid: str) -> list[WhitelistedIp]:
        """Return every whitelisted address of a trunk (all pages)."""
        return await self._pages(trunk_sid).collect()

    def _pages(self, trunk_sid: str) -> ListIterator[WhitelistedIp]:
        return self._iter(
            list_call("whitelisted_ips.list", trunk_sid, "whitelisted-ips"), WhitelistedIp
        )
