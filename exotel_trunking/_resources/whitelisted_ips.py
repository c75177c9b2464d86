"""``client.whitelisted_ips``: the addresses allowed to send SIP traffic on a trunk."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._converter import structure
from .._models import WhitelistedIp
from .._transport import Call, Envelope, ListIterator
from .._validation import parse_ip
from ._base import Resource, trunk_path

__all__ = ["WhitelistedIps"]


class WhitelistedIps(Resource):
    """Whitelist IPv4 addresses and ranges."""

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
        path = trunk_path(trunk_sid, "whitelisted-ips")
        address, prefix = parse_ip(ip, mask)

        async def find_existing() -> Envelope | None:
            async for record in self._records(path):
                if record.get("ip") == address and str(record.get("mask")) == str(prefix):
                    return Envelope(request_id=None, data=record)
            return None

        call = Call(
            "POST",
            path,
            json={"ip": address, "mask": prefix},
            repeatable=True,
            recover=find_existing,
        )
        envelope = await self._requester.request(call)
        return structure(
            envelope.data,
            WhitelistedIp,
            where="whitelisted_ips.add",
            request_id=envelope.request_id,
        )

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
            trunk_path(trunk_sid, "whitelisted-ips"), WhitelistedIp, "whitelisted_ips.list"
        )
