"""How each dialect words an answer: envelopes, record fields, ids, list shapes, errors.

``reference`` follows ``exotel-voice-trunking-api.md`` to the letter; ``live`` follows what the
live service was captured answering (``live-api-notes.md``): per-item list envelopes with
paging metadata, ``error_data: null`` on success, duplicates under HTTP 200, 207 multi-status,
numeric ids, extra record fields, lists newest first, and the live error codes
(``live-api-extended.md``: 1000 not found, 1001 missing, 1002 invalid, 1007 unreadable body,
1008 duplicate, 1010 credentials, 1011 content type).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from ._errors import EmulatedError, ErrorKind
from ._ids import IdFactory, LiveIds, ReferenceIds
from ._messages import EmulatedResponse
from ._state import (
    CredentialRecord,
    DestinationRecord,
    PhoneNumberRecord,
    SettingRecord,
    SipCredentials,
    TrunkRecord,
    WhitelistedIpRecord,
    format_timestamp,
)

__all__ = [
    "DIALECTS",
    "Dialect",
    "Envelopes",
    "LiveEnvelopes",
    "Outcome",
    "Page",
    "ReferenceEnvelopes",
    "envelopes_for",
    "trunk_path",
]

Dialect = Literal["reference", "live"]
DIALECTS: tuple[Dialect, ...] = ("reference", "live")

#: An item of a multi-item answer: the rendered record, or the error it failed with.
Outcome = dict[str, Any] | EmulatedError


@attrs.frozen
class Page:
    """One page of a live list answer.

    Attributes:
        path: The list's path (without query), used to build the paging URIs.
        offset: Index of the first item of this page.
        page_size: Items per page.
        total: Items in the whole list.
    """

    path: str
    offset: int
    page_size: int
    total: int

    def uri(self, offset: int) -> str:
        """The path and query of the page starting at ``offset``."""
        return f"{self.path}?offset={offset}&page_size={self.page_size}"

    def metadata(self) -> dict[str, Any]:
        """The live ``metadata`` object of this page."""
        has_prev = self.offset > 0
        has_next = self.offset + self.page_size < self.total
        return {
            "page_size": self.page_size,
            "first_page_uri": self.uri(0),
            "prev_page_uri": self.uri(max(0, self.offset - self.page_size)) if has_prev else None,
            "next_page_uri": self.uri(self.offset + self.page_size) if has_next else None,
        }


class Envelopes:
    """The reference dialect; :class:`LiveEnvelopes` overrides what the live service changes."""

    name: Dialect = "reference"
    #: Whether list answers are paged (``offset``/``page_size``) with a ``metadata`` object.
    paged = False
    #: Whether an IP destination must be whitelisted on the trunk first.
    requires_whitelisted_destinations = False
    #: Whether a destination may name no transport (then it is UDP).
    udp_destinations = False
    #: Whether new trunks get SIP credentials when the knob leaves it to the dialect.
    issues_credentials = True

    def make_ids(self, rng: random.Random) -> IdFactory:
        """The id factory of this dialect, drawing from ``rng``."""
        return ReferenceIds(rng)

    def order(self, records: Sequence[Any]) -> list[Any]:
        """Records in the order a list answer gives them."""
        return list(records)

    # -- records --------------------------------------------------------------------------

    def trunk(self, trunk: TrunkRecord, *, deleted: bool = False) -> dict[str, Any]:
        """A trunk's ``data`` object."""
        return {
            "trunk_sid": trunk.trunk_sid,
            "trunk_name": trunk.trunk_name,
            "domain_name": trunk.domain_name,
            "nso_code": trunk.nso_code,
            "date_created": format_timestamp(trunk.date_created),
            "date_updated": format_timestamp(trunk.date_updated),
        }

    def phone_number(self, record: PhoneNumberRecord) -> dict[str, Any]:
        """A phone-number mapping's ``data`` object."""
        return {
            "id": record.id,
            "phone_number": record.phone_number,
            "trunk_sid": record.trunk_sid,
            "date_created": format_timestamp(record.date_created),
        }

    def whitelisted_ip(self, record: WhitelistedIpRecord) -> dict[str, Any]:
        """A whitelist entry's ``data`` object."""
        return {
            "id": record.id,
            "ip": record.ip,
            "mask": record.mask,
            "trunk_sid": record.trunk_sid,
            "date_created": format_timestamp(record.date_created),
        }

    def destination(self, record: DestinationRecord) -> dict[str, Any]:
        """A destination URI's ``data`` object (the URI echoed with ``sip:``)."""
        return {
            "id": record.id,
            "destination": record.uri,
            "trunk_sid": record.trunk_sid,
            "date_created": format_timestamp(record.date_created),
        }

    def setting(self, record: SettingRecord) -> dict[str, Any]:
        """A setting's ``data`` object."""
        return {
            "name": record.name,
            "value": record.value,
            "trunk_sid": record.trunk_sid,
            "date_created": format_timestamp(record.date_created),
        }

    def credentials(self, credentials: SipCredentials) -> dict[str, Any]:
        """The credentials' ``data`` object."""
        return {"username": credentials.username, "password": credentials.password}

    def credential(self, record: CredentialRecord) -> dict[str, Any]:
        """A SIP digest credential's ``data`` object: never its password."""
        return {
            "id": record.id,
            "trunk_sid": record.trunk_sid,
            "user_name": record.user_name,
            "friendly_name": record.friendly_name,
            "date_created": format_timestamp(record.date_created),
            "date_updated": format_timestamp(record.date_updated),
        }

    # -- envelopes ------------------------------------------------------------------------

    def _item(self, data: Any) -> dict[str, Any]:
        return {"status": "success", "code": 200, "data": data}

    def _item_failure(self, error: EmulatedError) -> tuple[int, dict[str, Any]]:
        """The failure envelope of ``error`` and the HTTP status it travels under."""
        return error.status, {
            "status": "failure",
            "code": error.status,
            "error_data": {
                "code": error.code,
                "message": error.message,
                "description": error.description,
            },
        }

    @staticmethod
    def _top(
        method: str, request_id: str, status: int, response: Any, **extra: Any
    ) -> dict[str, Any]:
        return {
            "request_id": request_id,
            "method": method,
            "http_code": status,
            **extra,
            "response": response,
        }

    def success(self, method: str, request_id: str, data: Any) -> EmulatedResponse:
        """A single-object answer: ``response.data`` is ``data``."""
        return EmulatedResponse.json(200, self._top(method, request_id, 200, self._item(data)))

    def failure(self, method: str, request_id: str, error: EmulatedError) -> EmulatedResponse:
        """An error answer."""
        status, item = self._item_failure(error)
        return EmulatedResponse.json(status, self._top(method, request_id, status, item))

    def deleted(self, method: str, request_id: str, trunk: TrunkRecord) -> EmulatedResponse:
        """The answer to Delete Trunk: ``data`` is ``null``."""
        return self.success(method, request_id, None)

    def empty(self, method: str, request_id: str) -> EmulatedResponse:
        """``"response": []``, as Get Credentials answers for a trunk without credentials."""
        return EmulatedResponse.json(200, self._top(method, request_id, 200, []))

    def listing(
        self, method: str, request_id: str, items: list[dict[str, Any]], page: Page | None
    ) -> EmulatedResponse:
        """A list answer: ``response.data`` is the array of records."""
        return self.success(method, request_id, items)

    def multi(self, method: str, request_id: str, outcomes: list[Outcome]) -> EmulatedResponse:
        """A multi-item POST answer: ``response`` is one envelope per item, under HTTP 200."""
        items = [
            self._item_failure(o)[1] if isinstance(o, EmulatedError) else self._item(o)
            for o in outcomes
        ]
        return EmulatedResponse.json(200, self._top(method, request_id, 200, items))


class ReferenceEnvelopes(Envelopes):
    """The reference document's shapes (the base class, named for symmetry)."""


class LiveEnvelopes(Envelopes):
    """The live service's shapes, as captured in ``live-api-notes.md``."""

    name: Dialect = "live"
    paged = True
    requires_whitelisted_destinations = True
    udp_destinations = True
    issues_credentials = False

    def __init__(self, account_sid: str) -> None:
        self._account_sid = account_sid

    def make_ids(self, rng: random.Random) -> IdFactory:
        """Numeric ids and 32-hex request ids."""
        return LiveIds(rng)

    def order(self, records: Sequence[Any]) -> list[Any]:
        """Newest first, as the live captures list them."""
        return list(reversed(records))

    def trunk(self, trunk: TrunkRecord, *, deleted: bool = False) -> dict[str, Any]:
        """The live trunk, with status fields and (except when deleted) sub-resource paths."""
        data: dict[str, Any] = {
            "trunk_name": trunk.trunk_name,
            "date_created": format_timestamp(trunk.date_created),
            "date_updated": format_timestamp(trunk.date_updated),
            "trunk_sid": trunk.trunk_sid,
            "status": trunk.status,
            "domain_name": trunk.domain_name,
            "auth_type": trunk.auth_type,
            "registration_enabled": trunk.registration_enabled,
            "edge_preference": trunk.edge_preference,
            "nso_code": trunk.nso_code,
            "secure_trunking": trunk.secure_trunking,
        }
        if not deleted:
            base = trunk_path(self._account_sid, trunk.trunk_sid)
            data |= {
                "destination_uris": f"{base}/destination-uris",
                "whitelisted_ips": f"{base}/whitelisted-ips",
                "credentials": f"{base}/credentials",
                "phone_numbers": f"{base}/phone-numbers",
            }
        return data

    def phone_number(self, record: PhoneNumberRecord) -> dict[str, Any]:
        """The live mapping, with ``date_updated`` and ``mode`` (``null`` if not given)."""
        return {
            "id": record.id,
            "phone_number": record.phone_number,
            "trunk_sid": record.trunk_sid,
            "date_created": format_timestamp(record.date_created),
            "date_updated": format_timestamp(record.date_updated),
            "mode": record.mode,
        }

    def whitelisted_ip(self, record: WhitelistedIpRecord) -> dict[str, Any]:
        """The live whitelist entry, with ``friendly_name`` and ``date_updated``."""
        return {
            "id": record.id,
            "mask": record.mask,
            "trunk_sid": record.trunk_sid,
            "ip": record.ip,
            "friendly_name": record.friendly_name,
            "date_created": format_timestamp(record.date_created),
            "date_updated": format_timestamp(record.date_updated),
        }

    def destination(self, record: DestinationRecord) -> dict[str, Any]:
        """The live destination, with ``type``, ``priority`` and ``weight``."""
        return {
            "id": record.id,
            "destination": record.uri,
            "date_created": format_timestamp(record.date_created),
            "date_updated": format_timestamp(record.date_updated),
            "type": record.type,
            "priority": record.priority,
            "weight": record.weight,
            "trunk_sid": record.trunk_sid,
        }

    def setting(self, record: SettingRecord) -> dict[str, Any]:
        """The live setting, with ``date_updated``."""
        return {**super().setting(record), "date_updated": format_timestamp(record.date_updated)}

    def _item(self, data: Any) -> dict[str, Any]:
        return {"code": 200, "error_data": None, "status": "success", "data": data}

    def _item_failure(self, error: EmulatedError) -> tuple[int, dict[str, Any]]:
        status, code, message = error.status, error.code, error.message
        http_status = status
        if error.kind is ErrorKind.DUPLICATE:
            # The live service reports a conflict only inside a 200 envelope.
            http_status, code, message = 200, 1008, "Duplicate resource"
        elif error.kind in _LIVE_ERRORS:
            code, message = _LIVE_ERRORS[error.kind]
        envelope = {
            "code": status,
            "error_data": {"code": code, "message": message, "description": error.description},
            "status": "failure",
            "data": None,
        }
        return http_status, envelope

    def deleted(self, method: str, request_id: str, trunk: TrunkRecord) -> EmulatedResponse:
        """The deleted trunk's data, without sub-resource paths."""
        return self.success(method, request_id, self.trunk(trunk, deleted=True))

    def listing(
        self, method: str, request_id: str, items: list[dict[str, Any]], page: Page | None
    ) -> EmulatedResponse:
        """A page of per-item envelopes with ``metadata`` paging links."""
        metadata = page.metadata() if page is not None else None
        body = self._top(method, request_id, 200, [self._item(i) for i in items], metadata=metadata)
        return EmulatedResponse.json(200, body)

    def multi(self, method: str, request_id: str, outcomes: list[Outcome]) -> EmulatedResponse:
        """Per-item envelopes; 207 with success/failed counts when any item failed."""
        items = [
            self._item_failure(o)[1] if isinstance(o, EmulatedError) else self._item(o)
            for o in outcomes
        ]
        failed = sum(isinstance(o, EmulatedError) for o in outcomes)
        metadata: dict[str, int] = {"total": len(outcomes), "success": len(outcomes) - failed}
        status = 200
        if failed:
            status, metadata = 207, {"failed": failed, **metadata}
        body = self._top(method, request_id, status, items, metadata=metadata)
        return EmulatedResponse.json(status, body)


#: The live service's error code and exact ``message`` for each kind it words differently
#: (``live-api-extended.md``, "Error codes as the service emits them"; 1007's message ends in
#: a space and has none after its comma, as captured).
_LIVE_ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.NOT_FOUND: (1000, "Not Found"),
    ErrorKind.ROUTE_NOT_FOUND: (1000, "Not Found"),
    ErrorKind.MISSING_FIELD: (1001, "Mandatory Parameter missing"),
    ErrorKind.INVALID_PARAMETER: (1002, "Invalid parameter"),
    ErrorKind.INVALID_DESTINATION: (1002, "Invalid parameter"),
    ErrorKind.NOT_WHITELISTED: (1002, "Invalid parameter"),
    ErrorKind.BAD_JSON: (1007, "Invalid request body,failed parsing "),
    ErrorKind.UNAUTHORIZED: (1010, "Authorization failed"),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (1011, "unsupported content type"),
}


def trunk_path(account_sid: str, trunk_sid: str) -> str:
    """The API path of a trunk, e.g. ``/v2/accounts/acme/trunks/trind…``."""
    return f"/v2/accounts/{account_sid}/trunks/{trunk_sid}"


def envelopes_for(dialect: str, account_sid: str) -> Envelopes:
    """The :class:`Envelopes` of ``dialect`` (``"reference"`` or ``"live"``).

    Raises:
        ValueError: For any other dialect name.
    """
    if dialect == "reference":
        return ReferenceEnvelopes()
    if dialect == "live":
        return LiveEnvelopes(account_sid)
    raise ValueError(f"dialect={dialect!r} is invalid: expected 'reference' or 'live'")
