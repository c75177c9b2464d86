"""The emulated account's state: trunks and everything hanging off them, and nothing about HTTP.

Like moto's ``models.py``, this module knows the rules of the domain (what is valid, what is a
duplicate, what deleting a trunk takes with it) and raises :class:`EmulatedError` when a rule
is broken; how a request reaches it and how an answer is worded is ``_app.py``'s business.
Records are immutable attrs classes; :class:`AccountState` is the only mutable object.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from . import _rules
from ._errors import EmulatedError
from ._ids import IdFactory
from ._rules import RefusedError

__all__ = [
    "ALIAS_SETTING",
    "AccountState",
    "CredentialRecord",
    "DestinationRecord",
    "PhoneNumberRecord",
    "SettingRecord",
    "SipCredentials",
    "TrunkRecord",
    "WhitelistedIpRecord",
    "format_timestamp",
]

R = TypeVar("R")

#: The one trunk setting the API documents.
ALIAS_SETTING = "trunk_external_alias"

_NSO_CODE = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
# Underscores are tolerated because account sids (the first label) may contain them.
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_DOMAIN_SUFFIX = ".pstn.exotel.com"


@functools.lru_cache(maxsize=64)
def format_timestamp(moment: datetime) -> str:
    """Render ``moment`` as ISO 8601 UTC with a ``Z``, e.g. ``2025-01-22T10:30:00Z``.

    A naive ``moment`` is taken to be UTC already. Cached: records made within the same
    second share their timestamps, and every answer renders some.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class PhoneNumberRecord:
    """A phone number mapped to a trunk. ``mode`` is ``None`` when the caller gave none."""

    id: str
    phone_number: str
    trunk_sid: str
    mode: str | None
    date_created: datetime
    date_updated: datetime


@attrs.frozen
class WhitelistedIpRecord:
    """An IPv4 address or range allowed to send SIP traffic on a trunk."""

    id: str
    ip: str
    mask: int
    trunk_sid: str
    date_created: datetime
    date_updated: datetime
    friendly_name: str | None = None

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The range this entry covers."""
        return ipaddress.IPv4Network(f"{self.ip}/{self.mask}")


@attrs.frozen
class DestinationRecord:
    """Where inbound calls of a trunk are sent; ``destination`` is ``host:port;transport=…``."""

    id: str
    destination: str
    trunk_sid: str
    date_created: datetime
    date_updated: datetime
    type: str = "public"
    priority: int = 0
    weight: int = 1

    @property
    def uri(self) -> str:
        """The destination as the API echoes it, with a ``sip:`` prefix."""
        return f"sip:{self.destination}"


@attrs.frozen
class SettingRecord:
    """One trunk setting, e.g. the external caller-id alias."""

    name: str
    value: str
    trunk_sid: str
    date_created: datetime
    date_updated: datetime


@attrs.frozen
class SipCredentials:
    """A trunk's SIP credentials as the reference has them; the password stays out of ``repr``."""

    username: str
    password: str = attrs.field(repr=False)


@attrs.frozen
class CredentialRecord:
    """A SIP digest credential, as the live service keeps them; never answered with its password.

    Attributes:
        id: The credential's id.
        trunk_sid: The trunk it belongs to.
        user_name: The SIP digest user name, unique on the trunk.
        friendly_name: A label of up to 32 characters, or ``None``.
        date_created: When it was created.
        date_updated: When it was last changed.
        password: The password (kept out of ``repr``; no answer carries it).
    """

    id: str
    trunk_sid: str
    user_name: str
    friendly_name: str | None
    date_created: datetime
    date_updated: datetime
    password: str = attrs.field(repr=False)


@attrs.define
class TrunkRecord:
    """A trunk and its sub-resources, each kept in creation order."""

    trunk_sid: str
    trunk_name: str
    domain_name: str
    nso_code: str
    date_created: datetime
    date_updated: datetime
    status: str = "active"
    auth_type: str = "IP-WHITELIST"
    registration_enabled: str = "disabled"
    edge_preference: str = "auto"
    secure_trunking: str = "disabled"
    phone_numbers: dict[str, PhoneNumberRecord] = attrs.field(factory=dict)
    whitelisted_ips: dict[str, WhitelistedIpRecord] = attrs.field(factory=dict)
    destinations: dict[str, DestinationRecord] = attrs.field(factory=dict)
    settings: dict[str, SettingRecord] = attrs.field(factory=dict)
    credentials: SipCredentials | None = None
    digest_credentials: dict[str, CredentialRecord] = attrs.field(factory=dict)


def _require_string(value: object, argument: str, expected: str) -> str:
    if not isinstance(value, str) or not value:
        raise RefusedError(argument, value, expected)
    return value


class AccountState:
    """One Exotel account's trunks, phone numbers, whitelisted IPs, destinations and settings.

    Every operation checks its arguments with the server's own rules (:mod:`._rules`, not the
    SDK's validators) and raises :class:`EmulatedError`.

    Args:
        account_sid: The account's sid, used in the trunks' sub-resource paths.
        ids: Makes the ids of new records (its flavour follows the dialect).
        now: Returns the current time, timezone-aware, for ``date_created``/``date_updated``.
    """

    def __init__(self, account_sid: str, *, ids: IdFactory, now: Callable[[], datetime]) -> None:
        self.account_sid = account_sid
        self._ids = ids
        self._now = now
        self._trunks: dict[str, TrunkRecord] = {}
        # Account-wide uniqueness: a number is mapped to at most one trunk.
        self._number_owner: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"AccountState(account_sid={self.account_sid!r}, trunks={len(self._trunks)})"

    # -- trunks ---------------------------------------------------------------------------

    @property
    def trunks(self) -> list[TrunkRecord]:
        """Every trunk, in creation order."""
        return list(self._trunks.values())

    def get_trunk(self, trunk_sid: str) -> TrunkRecord:
        """Return the trunk, or raise 404 / 1003."""
        trunk = self._trunks.get(trunk_sid)
        if trunk is None:
            raise EmulatedError.trunk_not_found(trunk_sid)
        return trunk

    def find_trunk(self, trunk_name: str) -> TrunkRecord | None:
        """Return the trunk called ``trunk_name``, if there is one."""
        return next((t for t in self._trunks.values() if t.trunk_name == trunk_name), None)

    def create_trunk(
        self,
        trunk_name: object,
        nso_code: object = "ANY-ANY",
        domain_name: object = None,
        *,
        issue_credentials: bool = True,
    ) -> TrunkRecord:
        """Create a trunk; names are unique in the account.

        Args:
            trunk_name: 1-16 characters of letters, digits and underscores.
            nso_code: The network service operator code, e.g. ``"ANY-ANY"``.
            domain_name: ``<something>.pstn.exotel.com``; ``None`` means the account's own.
            issue_credentials: Whether the trunk gets SIP credentials right away.

        Raises:
            EmulatedError: 400 / 1001 for an invalid value, 409 for a duplicate name.
        """
        try:
            name = _rules.trunk_name(trunk_name)
            code = _require_string(nso_code, "nso_code", "expected a code such as 'ANY-ANY'")
            if len(code) > 32 or not _NSO_CODE.fullmatch(code):
                raise RefusedError("nso_code", nso_code, "expected e.g. 'ANY-ANY'")
            domain = self._validate_domain(
                f"{self.account_sid}{_DOMAIN_SUFFIX}" if domain_name is None else domain_name
            )
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        if self.find_trunk(name) is not None:
            raise EmulatedError.duplicate(f"Trunk with name '{name}' already exists")
        sid = self._unique(self._ids.trunk_sid, self._trunks)
        moment = self._now()
        trunk = TrunkRecord(
            trunk_sid=sid,
            trunk_name=name,
            domain_name=domain,
            nso_code=code,
            date_created=moment,
            date_updated=moment,
        )
        self._trunks[sid] = trunk
        if issue_credentials:
            self.issue_credentials(sid)
        return trunk

    def update_trunk(
        self, trunk_sid: str, *, trunk_name: object = None, nso_code: object = None
    ) -> TrunkRecord:
        """Rename a trunk or change its NSO code (``None``: unchanged).

        Raises:
            EmulatedError: 404 for an unknown trunk, 400 / 1001 for an invalid value, 409 for
                a name another trunk has.
        """
        trunk = self.get_trunk(trunk_sid)
        try:
            name = None if trunk_name is None else _rules.trunk_name(trunk_name)
            code = None
            if nso_code is not None:
                code = _require_string(nso_code, "nso_code", "expected a code such as 'ANY-ANY'")
                if len(code) > 32 or not _NSO_CODE.fullmatch(code):
                    raise RefusedError("nso_code", nso_code, "expected e.g. 'ANY-ANY'")
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        holder = None if name is None else self.find_trunk(name)
        if holder is not None and holder is not trunk:
            raise EmulatedError.duplicate(f"Trunk with name '{name}' already exists")
        trunk.trunk_name = name or trunk.trunk_name
        trunk.nso_code = code or trunk.nso_code
        trunk.date_updated = self._now()
        return trunk

    @staticmethod
    def _validate_domain(value: object) -> str:
        expected = "expected '<your_sid>.pstn.exotel.com'"
        domain = _require_string(value, "domain_name", expected).lower()
        labels = domain.split(".")
        if (
            not domain.endswith(_DOMAIN_SUFFIX)
            or len(domain) > 253
            or len(labels) < 4
            or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        ):
            raise RefusedError("domain_name", value, expected)
        return domain

    def delete_trunk(self, trunk_sid: str) -> TrunkRecord:
        """Delete a trunk with all its mappings; return it as it was. 404 if unknown."""
        trunk = self.get_trunk(trunk_sid)
        del self._trunks[trunk_sid]
        for record in trunk.phone_numbers.values():
            self._number_owner.pop(record.phone_number, None)
        return trunk

    # -- phone numbers --------------------------------------------------------------------

    def map_phone_number(
        self, trunk_sid: str, phone_number: object, mode: object = None
    ) -> PhoneNumberRecord:
        """Map an E.164 number to a trunk; a number can be mapped once in the account.

        Raises:
            EmulatedError: 404 for an unknown trunk, 400 / 1001 for an invalid number or mode,
                409 when the number is already mapped (to this or another trunk).
        """
        trunk = self.get_trunk(trunk_sid)
        try:
            number = _rules.phone_number(phone_number, "phone_number")
            checked_mode = _rules.mode(mode)
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        owner = self._number_owner.get(number)
        if owner is not None:
            where = "this trunk" if owner == trunk_sid else f"trunk {owner}"
            raise EmulatedError.duplicate(f"Phone number {number} is already mapped to {where}")
        moment = self._now()
        record = PhoneNumberRecord(
            id=self._unique(self._ids.phone_number_id, trunk.phone_numbers),
            phone_number=number,
            trunk_sid=trunk_sid,
            mode=checked_mode,
            date_created=moment,
            date_updated=moment,
        )
        trunk.phone_numbers[record.id] = record
        self._number_owner[number] = trunk_sid
        return record

    def phone_numbers(self, trunk_sid: str) -> list[PhoneNumberRecord]:
        """The numbers mapped to a trunk, in mapping order. 404 if unknown."""
        return list(self.get_trunk(trunk_sid).phone_numbers.values())

    def update_phone_number(
        self, trunk_sid: str, number_id: str, phone_number: object, mode: object
    ) -> PhoneNumberRecord:
        """Change a mapping's mode; ``phone_number`` must be the mapping's own number.

        Raises:
            EmulatedError: 404 for an unknown trunk or mapping, 400 / 1001 for another number
                or a mode other than ``pstn`` / ``flow``.
        """
        record = _record(self.get_trunk(trunk_sid).phone_numbers, number_id, "Phone number")
        if phone_number != record.phone_number:
            raise EmulatedError.invalid_parameter(
                f"phone_number={phone_number!r} is invalid: mapping {number_id} is "
                f"{record.phone_number}"
            )
        if mode not in ("pstn", "flow"):
            raise EmulatedError.invalid_parameter(
                f"mode={mode!r} is invalid: expected 'pstn' or 'flow'"
            )
        updated = attrs.evolve(record, mode=mode, date_updated=self._now())
        self.get_trunk(trunk_sid).phone_numbers[number_id] = updated
        return updated

    def remove_phone_number(self, trunk_sid: str, number_id: str) -> PhoneNumberRecord:
        """Unmap a number (it may then be mapped anywhere); return the mapping. 404 if unknown."""
        record = _pop(self.get_trunk(trunk_sid).phone_numbers, number_id, "Phone number")
        self._number_owner.pop(record.phone_number, None)
        return record

    def lookup_number(
        self, phone_number: object, trunk_sid: str | None = None
    ) -> PhoneNumberRecord | None:
        """The mapping of a number in the account (on ``trunk_sid`` only, if given).

        Raises:
            EmulatedError: 400 / 1001 for a number that is not E.164 exactly.
        """
        try:
            number = _rules.phone_number(phone_number, "exophone")
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        owner = self._number_owner.get(number)
        if owner is None or (trunk_sid is not None and owner != trunk_sid):
            return None
        mappings = self._trunks[owner].phone_numbers.values()
        return next(record for record in mappings if record.phone_number == number)

    # -- whitelisted IPs ------------------------------------------------------------------

    def whitelist_ip(self, trunk_sid: str, ip: object, mask: object) -> WhitelistedIpRecord:
        """Whitelist a public IPv4 address (``mask`` 32) or range (``mask`` 16-31).

        Raises:
            EmulatedError: 404 for an unknown trunk, 400 / 1001 for an invalid address or mask
                (a CIDR suffix inside ``ip`` included: the API takes the mask separately),
                409 when the same ``(ip, mask)`` is already on the trunk.
        """
        trunk = self.get_trunk(trunk_sid)
        try:
            address, prefix = _rules.ipv4_network(ip, mask)
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        if any((r.ip, r.mask) == (address, prefix) for r in trunk.whitelisted_ips.values()):
            raise EmulatedError.duplicate(f"IP {address}/{prefix} is already whitelisted")
        moment = self._now()
        record = WhitelistedIpRecord(
            id=self._unique(self._ids.whitelisted_ip_id, trunk.whitelisted_ips),
            ip=address,
            mask=prefix,
            trunk_sid=trunk_sid,
            date_created=moment,
            date_updated=moment,
        )
        trunk.whitelisted_ips[record.id] = record
        return record

    def whitelisted_ips(self, trunk_sid: str) -> list[WhitelistedIpRecord]:
        """The trunk's whitelist, in creation order. 404 if unknown."""
        return list(self.get_trunk(trunk_sid).whitelisted_ips.values())

    def update_whitelisted_ip(
        self, trunk_sid: str, ip_id: str, ip: object, mask: object
    ) -> WhitelistedIpRecord:
        """Change a whitelist entry's address or mask, with the rules of :meth:`whitelist_ip`.

        Raises:
            EmulatedError: 404 for an unknown trunk or entry, 400 / 1001 for an invalid value,
                409 when another entry of the trunk is that ``(ip, mask)``.
        """
        entries = self.get_trunk(trunk_sid).whitelisted_ips
        record = _record(entries, ip_id, "Whitelisted IP")
        try:
            address, prefix = _rules.ipv4_network(ip, mask)
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        if any((r.ip, r.mask) == (address, prefix) and r.id != ip_id for r in entries.values()):
            raise EmulatedError.duplicate(f"IP {address}/{prefix} is already whitelisted")
        updated = attrs.evolve(record, ip=address, mask=prefix, date_updated=self._now())
        entries[ip_id] = updated
        return updated

    def remove_whitelisted_ip(self, trunk_sid: str, ip_id: str) -> WhitelistedIpRecord:
        """Remove a whitelist entry; return it. 404 for an unknown trunk or entry."""
        return _pop(self.get_trunk(trunk_sid).whitelisted_ips, ip_id, "Whitelisted IP")

    def is_whitelisted(self, trunk_sid: str, address: str) -> bool:
        """Whether any whitelisted range of the trunk covers ``address``."""
        ip = ipaddress.IPv4Address(address)
        return any(ip in r.network for r in self.get_trunk(trunk_sid).whitelisted_ips.values())

    # -- destination URIs -----------------------------------------------------------------

    def add_destination(
        self,
        trunk_sid: str,
        destination: object,
        *,
        require_whitelisted: bool = False,
        allow_udp: bool = False,
    ) -> DestinationRecord:
        """Add one destination URI (``host:port;transport=tcp|tls``, ``sip:`` optional).

        The emulator parses destinations itself (not with the SDK's rules), so that a
        destination the SDK lets through is checked by the server's rules, per dialect.

        Args:
            trunk_sid: The trunk.
            destination: The destination; its host is lower-cased.
            require_whitelisted: Refuse an IP host that no whitelisted range covers (the live
                service's rule; FQDN hosts never need whitelisting).
            allow_udp: Accept ``host:port`` with no transport, a UDP destination (the live
                service's rule); it is kept as ``host:port``.

        Raises:
            EmulatedError: 404 for an unknown trunk, 400 for an invalid or not whitelisted
                destination, 409 when the trunk already has it.
        """
        trunk = self.get_trunk(trunk_sid)
        normalized = _parse_destination(destination, allow_udp=allow_udp)
        host = normalized.partition(":")[0]
        if require_whitelisted and _is_ipv4(host) and not self.is_whitelisted(trunk_sid, host):
            raise EmulatedError.not_whitelisted()
        if any(r.destination == normalized for r in trunk.destinations.values()):
            raise EmulatedError.duplicate(f"Destination sip:{normalized} already exists")
        moment = self._now()
        record = DestinationRecord(
            id=self._unique(self._ids.destination_id, trunk.destinations),
            destination=normalized,
            trunk_sid=trunk_sid,
            date_created=moment,
            date_updated=moment,
        )
        trunk.destinations[record.id] = record
        return record

    def destinations(self, trunk_sid: str) -> list[DestinationRecord]:
        """The trunk's destination URIs, in creation order. 404 if unknown."""
        return list(self.get_trunk(trunk_sid).destinations.values())

    def update_destination(
        self, trunk_sid: str, destination_id: str, *, priority: object, weight: object
    ) -> DestinationRecord:
        """Change a destination's priority or weight (``None``: unchanged).

        Raises:
            EmulatedError: 404 for an unknown trunk or destination, 400 / 1001 for a value
                that is not an int >= 0.
        """
        destinations = self.get_trunk(trunk_sid).destinations
        record = _record(destinations, destination_id, "Destination")
        changes: dict[str, Any] = {}
        for name, value in (("priority", priority), ("weight", weight)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EmulatedError.invalid_parameter(
                    f"{name}={value!r} is invalid: expected an int >= 0"
                )
            changes[name] = value
        updated = attrs.evolve(record, **changes, date_updated=self._now())
        destinations[destination_id] = updated
        return updated

    def remove_destination(self, trunk_sid: str, destination_id: str) -> DestinationRecord:
        """Remove a destination; return it. 404 for an unknown trunk or destination."""
        return _pop(self.get_trunk(trunk_sid).destinations, destination_id, "Destination")

    # -- settings and credentials ---------------------------------------------------------

    def set_setting(self, trunk_sid: str, name: object, value: object) -> SettingRecord:
        """Set (or replace) a trunk setting; only ``trunk_external_alias`` (E.164) exists.

        Raises:
            EmulatedError: 404 for an unknown trunk, 400 / 1001 for an unknown name or a value
                that is not E.164.
        """
        trunk = self.get_trunk(trunk_sid)
        if name != ALIAS_SETTING:
            raise EmulatedError.invalid_parameter(
                f"name={name!r} is invalid: the only setting is '{ALIAS_SETTING}'"
            )
        try:
            number = _rules.phone_number(value, "value")
        except RefusedError as error:
            raise EmulatedError.refused(error) from None
        moment = self._now()
        previous = trunk.settings.get(ALIAS_SETTING)
        record = SettingRecord(
            name=ALIAS_SETTING,
            value=number,
            trunk_sid=trunk_sid,
            date_created=previous.date_created if previous else moment,
            date_updated=moment,
        )
        trunk.settings[ALIAS_SETTING] = record
        return record

    def settings(self, trunk_sid: str) -> list[SettingRecord]:
        """The trunk's settings. 404 if unknown."""
        return list(self.get_trunk(trunk_sid).settings.values())

    def delete_setting(self, trunk_sid: str, name: str) -> SettingRecord:
        """Delete a setting; return it. 404 for an unknown trunk or a setting not set."""
        return _pop(self.get_trunk(trunk_sid).settings, name, "Setting")

    def get_credentials(self, trunk_sid: str) -> SipCredentials | None:
        """The trunk's SIP credentials, or ``None`` if it has none yet. 404 if unknown."""
        return self.get_trunk(trunk_sid).credentials

    def issue_credentials(self, trunk_sid: str) -> SipCredentials:
        """Give the trunk SIP credentials (username = trunk sid, a new random password).

        The reference's pair; the live dialect lists them as a digest credential whose
        ``user_name`` is the trunk sid (the one kept here, replaced on a second issue).
        """
        trunk = self.get_trunk(trunk_sid)
        trunk.credentials = SipCredentials(username=trunk_sid, password=self._ids.password())
        issued = next(
            (r for r in trunk.digest_credentials.values() if r.user_name == trunk_sid), None
        )
        if issued is not None:
            del trunk.digest_credentials[issued.id]
        self._add_credential(trunk, trunk_sid, trunk.credentials.password, None)
        return trunk.credentials

    def credentials(self, trunk_sid: str) -> list[CredentialRecord]:
        """The trunk's SIP digest credentials, in creation order. 404 if unknown."""
        return list(self.get_trunk(trunk_sid).digest_credentials.values())

    def create_credential(
        self, trunk_sid: str, user_name: object, password: object, friendly_name: object = None
    ) -> CredentialRecord:
        """Create a SIP digest credential.

        Raises:
            EmulatedError: 404 for an unknown trunk, 400 / 1001 for an invalid value, 409 when
                the trunk has a credential with this user name.
        """
        trunk = self.get_trunk(trunk_sid)
        name = _credential_text(user_name, "user_name")
        secret = _credential_text(password, "password")
        label = _friendly_name(friendly_name)
        if any(r.user_name == name for r in trunk.digest_credentials.values()):
            raise EmulatedError.duplicate(f"Credential with user_name '{name}' already exists")
        return self._add_credential(trunk, name, secret, label)

    def _add_credential(
        self, trunk: TrunkRecord, user_name: str, password: str, friendly_name: str | None
    ) -> CredentialRecord:
        moment = self._now()
        record = CredentialRecord(
            id=self._unique(self._ids.credential_id, trunk.digest_credentials),
            trunk_sid=trunk.trunk_sid,
            user_name=user_name,
            friendly_name=friendly_name,
            date_created=moment,
            date_updated=moment,
            password=password,
        )
        trunk.digest_credentials[record.id] = record
        return record

    def update_credential(
        self, trunk_sid: str, credential_id: str, changes: dict[str, Any]
    ) -> CredentialRecord:
        """Change a credential's ``user_name``, ``password`` or ``friendly_name`` (``changes``).

        Raises:
            EmulatedError: 404 for an unknown trunk or credential, 400 / 1001 for an invalid
                value, 409 for a user name another credential of the trunk has.
        """
        trunk = self.get_trunk(trunk_sid)
        record = _record(trunk.digest_credentials, credential_id, "Credential")
        fields: dict[str, Any] = {}
        if "user_name" in changes:
            fields["user_name"] = _credential_text(changes["user_name"], "user_name")
            taken = (
                r.id != credential_id and r.user_name == fields["user_name"]
                for r in trunk.digest_credentials.values()
            )
            if any(taken):
                raise EmulatedError.duplicate(
                    f"Credential with user_name '{fields['user_name']}' already exists"
                )
        if "password" in changes:
            fields["password"] = _credential_text(changes["password"], "password")
        if "friendly_name" in changes:
            fields["friendly_name"] = _friendly_name(changes["friendly_name"])
        updated = attrs.evolve(record, **fields, date_updated=self._now())
        trunk.digest_credentials[credential_id] = updated
        return updated

    def delete_credential(self, trunk_sid: str, credential_id: str) -> CredentialRecord:
        """Delete a credential; return it. 404 for an unknown trunk or credential."""
        return _pop(self.get_trunk(trunk_sid).digest_credentials, credential_id, "Credential")

    # -- inspection -----------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every trunk."""
        self._trunks.clear()
        self._number_owner.clear()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of the whole account; SIP passwords are left out."""
        return {
            "account_sid": self.account_sid,
            "trunks": [_trunk_snapshot(trunk) for trunk in self._trunks.values()],
        }

    @staticmethod
    def _unique(make: Callable[[], str], taken: dict[str, Any]) -> str:
        # Random ids can collide in theory; a collision must never overwrite a record.
        while (new := make()) in taken:
            pass
        return new


def _record_dict(record: Any) -> dict[str, Any]:
    return {
        key: format_timestamp(value) if isinstance(value, datetime) else value
        for key, value in attrs.asdict(record, recurse=False).items()
    }


def _trunk_snapshot(trunk: TrunkRecord) -> dict[str, Any]:
    credentials = trunk.credentials
    return {
        "trunk_sid": trunk.trunk_sid,
        "trunk_name": trunk.trunk_name,
        "domain_name": trunk.domain_name,
        "nso_code": trunk.nso_code,
        "date_created": format_timestamp(trunk.date_created),
        "date_updated": format_timestamp(trunk.date_updated),
        "phone_numbers": [_record_dict(r) for r in trunk.phone_numbers.values()],
        "whitelisted_ips": [_record_dict(r) for r in trunk.whitelisted_ips.values()],
        "destination_uris": [
            {**_record_dict(r), "destination": r.uri} for r in trunk.destinations.values()
        ],
        "settings": [_record_dict(r) for r in trunk.settings.values()],
        "credentials": None if credentials is None else {"username": credentials.username},
        "sip_credentials": [
            {key: value for key, value in _record_dict(r).items() if key != "password"}
            for r in trunk.digest_credentials.values()
        ],
    }


_DESTINATION = re.compile(
    r"(?:sip:)?(?P<host>[^:;]+):(?P<port>\d{1,5})(?:;transport=(?P<transport>[a-z]*))?",
    re.IGNORECASE,
)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _parse_destination(destination: object, *, allow_udp: bool) -> str:
    """``host:port;transport=tcp|tls``, or (``allow_udp``) ``host:port`` with no transport.

    The emulator's own reading of the server's rule (the SDK's is checked against it):
    an IPv4 or DNS host, a port 1-65535, the transport tcp or tls, or none at all where the
    dialect takes that as UDP; ``;transport=udp`` itself is refused (as the January 2026
    docs say). A leading ``sip:`` is dropped, the host and transport lower-cased.

    Raises:
        EmulatedError: 400 / 1001 (live: 1002) describing what is expected.
    """
    expected = (
        "expected 'host:port' (UDP) or 'host:port;transport=tcp|tls'"
        if allow_udp
        else "expected 'host:port;transport=tcp|tls'"
    )
    match = _DESTINATION.fullmatch(destination.strip()) if isinstance(destination, str) else None
    transport = None if match is None else match["transport"]
    if (
        match is None
        or not 1 <= int(match["port"]) <= 65535
        or (transport is None and not allow_udp)
        or (transport is not None and transport.lower() not in ("tcp", "tls"))
    ):
        error = RefusedError("destination", destination, f"{expected}, port 1-65535")
        raise EmulatedError.invalid_destination(error)
    host = match["host"].lower()
    if not _is_ipv4(host) and (
        host.replace(".", "").isdigit()
        or len(host) > 253
        or not all(_HOST_LABEL.fullmatch(label) for label in host.rstrip(".").split("."))
    ):
        error = RefusedError("destination", destination, "expected an IPv4 or DNS host")
        raise EmulatedError.invalid_destination(error)
    port = int(match["port"])
    return f"{host}:{port}" if transport is None else f"{host}:{port};transport={transport.lower()}"


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _record(records: dict[str, R], record_id: str, what: str) -> R:
    """``records[record_id]``, or 404 naming ``what``."""
    record = records.get(record_id)
    if record is None:
        raise EmulatedError.record_not_found(what, record_id)
    return record


def _pop(records: dict[str, R], record_id: str, what: str) -> R:
    """Remove and return ``records[record_id]``, or 404 naming ``what``."""
    record = _record(records, record_id, what)
    del records[record_id]
    return record


def _credential_text(value: object, argument: str) -> str:
    """A user name or password: a non-empty string without whitespace (never echoed)."""
    if not isinstance(value, str) or not value or any(char.isspace() for char in value):
        shown = "<redacted>" if argument == "password" else repr(value)
        raise EmulatedError.invalid_parameter(
            f"{argument}={shown} is invalid: expected a non-empty string without spaces"
        )
    return value


def _friendly_name(value: object) -> str | None:
    """A credential's label: ``None``, or a string of at most 32 characters."""
    if value is None or (isinstance(value, str) and len(value) <= 32):
        return value
    raise EmulatedError.invalid_parameter(
        f"friendly_name={value!r} is invalid: expected at most 32 characters"
    )
