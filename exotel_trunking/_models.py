"""The records the API returns, as immutable attrs classes (section 3 of the API contract).

Every class is frozen and slotted. Fields that only the live service sends default to ``None``;
fields the API may add later are ignored when a response is structured.
"""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = [
    "Credentials",
    "DestinationUri",
    "PhoneNumber",
    "SipCredential",
    "Trunk",
    "TrunkMap",
    "TrunkSetting",
    "WhitelistedIp",
]


@attrs.frozen
class Trunk:
    """A SIP trunk.

    Attributes:
        trunk_sid: The trunk's id; every other call takes it.
        trunk_name: The unique name given at creation.
        domain_name: The SIP domain, ``<account_sid>.pstn.exotel.com`` by default.
        nso_code: The network service operator code, ``ANY-ANY`` for standard routing.
        date_created: When the trunk was created.
        date_updated: When the trunk was last changed.
        status: The trunk's status, where the live service reports one.
    """

    trunk_sid: str
    trunk_name: str
    domain_name: str | None = None
    nso_code: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    status: str | None = None


@attrs.frozen
class PhoneNumber:
    """A phone number (DID) mapped to a trunk.

    Attributes:
        id: The mapping's id.
        phone_number: The number in E.164 form.
        trunk_sid: The trunk it is mapped to.
        date_created: When it was mapped.
        mode: ``"pstn"`` or ``"flow"``, where the live service reports it.
        date_updated: When the mapping was last changed, where reported.
    """

    id: str
    phone_number: str
    trunk_sid: str
    date_created: datetime | None = None
    mode: str | None = None
    date_updated: datetime | None = None


@attrs.frozen
class WhitelistedIp:
    """An IPv4 address or range allowed to send SIP traffic on a trunk.

    Attributes:
        id: The whitelist entry's id.
        ip: The network address.
        mask: The prefix length, 16-32 (32 is a single address).
        trunk_sid: The trunk it belongs to.
        date_created: When it was added.
        friendly_name: A label, where the live service reports one.
    """

    id: str
    ip: str
    mask: int
    trunk_sid: str
    date_created: datetime | None = None
    friendly_name: str | None = None

    @property
    def cidr(self) -> str:
        """The entry as ``"a.b.c.d/nn"``."""
        return f"{self.ip}/{self.mask}"


@attrs.frozen
class DestinationUri:
    """Where Exotel sends a trunk's inbound calls.

    Attributes:
        id: The destination's id.
        destination: The SIP URI, e.g. ``"sip:203.0.113.50:5061;transport=tls"``.
        trunk_sid: The trunk it belongs to.
        date_created: When it was added.
        type: ``"ip"`` or ``"fqdn"``, where reported.
        priority: Routing priority, where reported.
        weight: Routing weight, where reported.
    """

    id: str
    destination: str
    trunk_sid: str
    date_created: datetime | None = None
    type: str | None = None
    priority: int | None = None
    weight: int | None = None


def _mask(_: str) -> str:
    return "'***'"


@attrs.frozen
class Credentials:
    """The SIP credentials a PBX registers with.

    ``password`` holds the real value, but never appears in ``repr()`` or ``str()``.

    Attributes:
        username: The SIP username (the trunk's sid).
        password: The SIP password.
    """

    username: str
    password: str = attrs.field(repr=_mask)


def _mask_if_set(value: str | None) -> str:
    return "None" if value is None else "'***'"


@attrs.frozen
class SipCredential:
    """A SIP digest credential of a trunk: what a voice-AI platform or PBX authenticates with.

    The service never returns a password. ``password`` holds one only on the result of the
    call that sent it (``credentials.create``, ``rotate``, or ``update`` with a password): keep
    it then, it cannot be read back. It never appears in ``repr()`` or ``str()``.

    Attributes:
        id: The credential's id (``update``, ``rotate`` and ``delete`` take it).
        trunk_sid: The trunk it belongs to.
        user_name: The SIP digest user name.
        friendly_name: A label, if one was given.
        date_created: When it was created.
        date_updated: When it was last changed.
        password: The password this call sent, else ``None``.
    """

    id: str
    trunk_sid: str
    user_name: str
    friendly_name: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    password: str | None = attrs.field(default=None, repr=_mask_if_set)


@attrs.frozen
class TrunkMap:
    """Which trunk a phone number (an Exophone) is mapped to: ``trunk_maps.lookup``'s answer.

    Attributes:
        phone_number: The number, in E.164 form.
        trunk_sid: The trunk that holds it.
        id: The mapping's id, where the service reports it.
        mode: ``"pstn"`` or ``"flow"``, where reported.
        date_created: When it was mapped, where reported.
        date_updated: When the mapping was last changed, where reported.
    """

    phone_number: str
    trunk_sid: str
    id: str | None = None
    mode: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None


@attrs.frozen
class TrunkSetting:
    """A trunk setting, such as the caller-ID alias ``trunk_external_alias``.

    Attributes:
        name: The setting's name.
        value: Its value.
        trunk_sid: The trunk it belongs to.
        date_created: When it was set.
    """

    name: str
    value: str
    trunk_sid: str | None = None
    date_created: datetime | None = None
