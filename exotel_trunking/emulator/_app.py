"""The emulated API over HTTP semantics: authentication, routing, body parsing, envelopes.

:class:`ApiApp` turns one :class:`EmulatedRequest` into one :class:`EmulatedResponse`,
synchronously and without I/O: the state does the work, the dialect's :class:`Envelopes` word
the answer. Latency, limits and faults are applied around it by the emulator.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

import attrs

from . import _rules
from ._dialects import Envelopes, Outcome, Page, trunk_path
from ._errors import EmulatedError
from ._ids import IdFactory
from ._knobs import Knobs
from ._messages import EmulatedRequest, EmulatedResponse
from ._state import AccountState

__all__ = ["ApiApp"]

Handler = Callable[["ApiApp", EmulatedRequest, str, str], EmulatedResponse]

Methods = dict[str, str]

R = TypeVar("R")


@attrs.frozen(eq=False)  # hashed by identity: a routing key of the cache below
class _Routes:
    """One dialect's endpoints below ``/v2/accounts/{sid}/``: method -> handler name.

    Attributes:
        trunks: ``trunks``.
        trunk: ``trunks/{trunk_sid}``.
        sub_resources: ``trunks/{trunk_sid}/{name}``.
        items: ``trunks/{trunk_sid}/{name}/{id}``.
        account: ``{name}`` beside ``trunks`` (``trunk-maps``).
    """

    trunks: Methods
    trunk: Methods
    sub_resources: dict[str, Methods]
    items: dict[str, Methods]
    account: dict[str, Methods]


# The reference document's ten operations.
_REFERENCE = _Routes(
    trunks={"POST": "_create_trunk", "DELETE": "_delete_trunk"},
    trunk={},
    sub_resources={
        "phone-numbers": {"POST": "_map_phone_number", "GET": "_list_phone_numbers"},
        "whitelisted-ips": {"POST": "_whitelist_ip", "GET": "_list_whitelisted_ips"},
        "destination-uris": {"POST": "_add_destinations", "GET": "_list_destinations"},
        "credentials": {"GET": "_get_credentials"},
        "settings": {"POST": "_set_settings"},
    },
    items={},
    account={},
)
# The live service's operations (live-api-extended.md): the reference's, plus listing and
# updating trunks, the trunk-map lookup, PUT by path id and DELETE by ?id= on every
# sub-resource, digest credentials instead of the reference's pair, settings list/delete.
_LIVE = _Routes(
    trunks={"POST": "_create_trunk", "DELETE": "_delete_trunk", "GET": "_list_trunks"},
    trunk={"PUT": "_update_trunk"},
    sub_resources={
        "phone-numbers": {
            **_REFERENCE.sub_resources["phone-numbers"],
            "DELETE": "_remove_phone_number",
        },
        "whitelisted-ips": {
            **_REFERENCE.sub_resources["whitelisted-ips"],
            "DELETE": "_remove_whitelisted_ip",
        },
        "destination-uris": {
            **_REFERENCE.sub_resources["destination-uris"],
            "DELETE": "_remove_destination",
        },
        "credentials": {
            "GET": "_list_credentials",
            "POST": "_create_credential",
            "DELETE": "_delete_credential",
        },
        "settings": {"POST": "_set_settings", "GET": "_list_settings", "DELETE": "_delete_setting"},
    },
    items={
        "phone-numbers": {"PUT": "_update_phone_number"},
        "whitelisted-ips": {"PUT": "_update_whitelisted_ip"},
        "destination-uris": {"PUT": "_update_destination"},
        "credentials": {"PUT": "_update_credential"},
    },
    account={"trunk-maps": {"GET": "_lookup_trunk_map"}},
)


def _required(body: dict[str, Any], name: str, where: str = "") -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise EmulatedError.missing_field(f"{where}{name}")
    return value


def _non_negative_int(text: str, name: str, *, low: int, high: int | None = None) -> int:
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise EmulatedError.invalid_parameter(
            f"{name}={text!r} is invalid: expected an int {bound}"
        )
    return int(text)


def _path_value(value: str, name: str) -> str:
    try:
        return _rules.path_segment(value, name)
    except _rules.RefusedError as error:
        raise EmulatedError.refused(error) from None


def _query_value(request: EmulatedRequest, name: str) -> str:
    """The query parameter ``name``, or 400 (live: 1001) if it is missing or empty."""
    values = parse_qs(request.query, keep_blank_values=True).get(name, [""])
    if not values[0]:
        raise EmulatedError.missing_field(name)
    return values[0]


def _item_id(request: EmulatedRequest) -> str:
    """The id at the end of a ``.../{sub-resource}/{id}`` path (the route checked its shape)."""
    return _path_value(unquote(request.path.rstrip("/").rsplit("/", 1)[1]), "id")


def _check_account(account_sid: str, expected: str) -> None:
    if account_sid != expected:
        raise EmulatedError.forbidden(account_sid)


@functools.lru_cache(maxsize=256)
def _resolve(method: str, path: str, account_sid: str, routes: _Routes) -> tuple[str, str]:
    """The handler's name and the trunk sid for ``method`` on ``path`` in ``account_sid``.

    Cached (only answers are, never errors): clients send the same few paths over and over.

    Raises:
        EmulatedError: 403 for another account, 404 for an unknown path, 405 for a method
            the path does not take, 400 for an invalid trunk sid.
    """
    raw = path.rstrip("/") or "/"
    segments = [unquote(segment) for segment in raw.split("/")[1:]]
    if len(segments) < 4 or segments[:2] != ["v2", "accounts"]:
        if segments[:2] == ["v2", "accounts"] and len(segments) >= 3:
            _check_account(segments[2], account_sid)
        raise EmulatedError.route_not_found(method, path)
    _check_account(segments[2], account_sid)
    top, rest = segments[3], segments[4:]
    methods: Methods | None = None
    trunk_sid = ""
    if top != "trunks":
        methods = routes.account.get(top) if not rest else None
    elif not rest:
        methods = routes.trunks
    elif len(rest) == 1 and routes.trunk:
        methods, trunk_sid = routes.trunk, rest[0]
    elif len(rest) == 2:
        methods, trunk_sid = routes.sub_resources.get(rest[1]), rest[0]
    elif len(rest) == 3:
        methods, trunk_sid = routes.items.get(rest[1]), rest[0]
    if methods is None:
        raise EmulatedError.route_not_found(method, path)
    name = methods.get(method)
    if name is None:
        raise EmulatedError.method_not_allowed(method, path)
    if trunk_sid:
        trunk_sid = _path_value(trunk_sid, "trunk_sid")
    return name, trunk_sid


class ApiApp:
    """Routes and answers API requests for one account.

    Args:
        state: The account's state.
        envelopes: How the dialect words answers.
        ids: Makes request ids.
        knobs: Read for the page size, credential issuing and the whitelisting rule.
        api_key: The expected Basic-auth username.
        api_token: The expected Basic-auth password (never logged or shown).
    """

    def __init__(
        self,
        *,
        state: AccountState,
        envelopes: Envelopes,
        ids: IdFactory,
        knobs: Knobs,
        api_key: str,
        api_token: str,
    ) -> None:
        self._state = state
        self._envelopes = envelopes
        self._ids = ids
        self._knobs = knobs
        self._routes = _LIVE if envelopes.name == "live" else _REFERENCE
        self._expected_credentials = f"{api_key}:{api_token}".encode()

    def __repr__(self) -> str:
        return f"ApiApp(account_sid={self._state.account_sid!r}, dialect={self._envelopes.name!r})"

    # -- entry points ---------------------------------------------------------------------

    def handle(self, request: EmulatedRequest) -> EmulatedResponse:
        """Answer one API request (errors become error envelopes)."""
        request_id = self._ids.request_id()
        try:
            self._authenticate(request)
            handler, trunk_sid = self._route(request)
            return handler(self, request, request_id, trunk_sid)
        except EmulatedError as error:
            return self.error(request, error, request_id=request_id)

    def error(
        self, request: EmulatedRequest, error: EmulatedError, *, request_id: str | None = None
    ) -> EmulatedResponse:
        """The error envelope of ``error`` for ``request`` (401 carries WWW-Authenticate)."""
        response = self._envelopes.failure(
            request.method, request_id or self._ids.request_id(), error
        )
        if error.status == 401:
            response = response.with_headers([("www-authenticate", 'Basic realm="Exotel"')])
        return response

    # -- authentication and routing -------------------------------------------------------

    def _authenticate(self, request: EmulatedRequest) -> None:
        header = request.header("authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise EmulatedError.unauthorized("Missing HTTP Basic credentials (API key and token)")
        try:
            presented = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EmulatedError.unauthorized("Malformed HTTP Basic credentials") from None
        # Constant-time comparison, as a real server would do.
        if not hmac.compare_digest(presented, self._expected_credentials):
            raise EmulatedError.unauthorized("Invalid API key or token")

    def _route(self, request: EmulatedRequest) -> tuple[Handler, str]:
        name, trunk_sid = _resolve(
            request.method, request.path, self._state.account_sid, self._routes
        )
        handler: Handler = getattr(ApiApp, name)
        return handler, trunk_sid

    def _body(self, request: EmulatedRequest) -> dict[str, Any]:
        if self._envelopes.name == "live":
            content_type = request.header("content-type") or ""
            if content_type.partition(";")[0].strip().lower() != "application/json":
                raise EmulatedError.unsupported_media_type(content_type)
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as error:
            reason = getattr(error, "msg", None) or "not UTF-8"
            raise EmulatedError.bad_json(f"Request body is not valid JSON: {reason}") from None
        if not isinstance(body, dict):
            raise EmulatedError.bad_json("Request body must be a JSON object")
        return body

    def _trunk_body(self, request: EmulatedRequest, trunk_sid: str) -> dict[str, Any]:
        """The body of a request on the trunk ``trunk_sid``: 404 for an unknown trunk first."""
        self._state.get_trunk(trunk_sid)
        return self._body(request)

    def _page(self, request: EmulatedRequest, path: str, total: int) -> Page | None:
        if not self._envelopes.paged:
            return None
        query = parse_qs(request.query, keep_blank_values=True)
        offset = _non_negative_int(query.get("offset", ["0"])[0], "offset", low=0)
        size_text = query.get("page_size", [str(self._knobs.page_size)])[0]
        page_size = _non_negative_int(size_text, "page_size", low=1, high=1000)
        return Page(path=path, offset=offset, page_size=page_size, total=total)

    def _listing(
        self,
        request: EmulatedRequest,
        request_id: str,
        path: str,
        records: list[Any],
        render: Callable[[Any], dict[str, Any]],
    ) -> EmulatedResponse:
        ordered = self._envelopes.order(records)
        page = self._page(request, path, len(ordered))
        if page is not None:
            ordered = ordered[page.offset : page.offset + page.page_size]
        items = [render(record) for record in ordered]
        return self._envelopes.listing(request.method, request_id, items, page)

    def _removed(
        self,
        request: EmulatedRequest,
        request_id: str,
        trunk_sid: str,
        remove: Callable[[str, str], R],
        render: Callable[[R], dict[str, Any]],
        *,
        key: str = "id",
    ) -> EmulatedResponse:
        """``remove`` the trunk's record named by the query parameter ``key``; answer with it."""
        record = remove(trunk_sid, _query_value(request, key))
        return self._envelopes.success(request.method, request_id, render(record))

    # -- handlers -------------------------------------------------------------------------

    def _create_trunk(self, request: EmulatedRequest, request_id: str, _: str) -> EmulatedResponse:
        body = self._body(request)
        trunk_name = _required(body, "trunk_name")
        nso_code = _required(body, "nso_code")
        domain_name = _required(body, "domain_name")
        issue = self._knobs.issue_credentials
        trunk = self._state.create_trunk(
            trunk_name,
            nso_code,
            domain_name,
            issue_credentials=self._envelopes.issues_credentials if issue is None else issue,
        )
        return self._envelopes.success(request.method, request_id, self._envelopes.trunk(trunk))

    def _delete_trunk(self, request: EmulatedRequest, request_id: str, _: str) -> EmulatedResponse:
        values = parse_qs(request.query, keep_blank_values=True).get("trunk_sid", [""])
        if not values[0]:
            raise EmulatedError.missing_field("trunk_sid")
        trunk = self._state.delete_trunk(_path_value(values[0], "trunk_sid"))
        return self._envelopes.deleted(request.method, request_id, trunk)

    def _map_phone_number(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        phone_number = _required(body, "phone_number")
        record = self._state.map_phone_number(trunk_sid, phone_number, body.get("mode"))
        data = self._envelopes.phone_number(record)
        return self._envelopes.success(request.method, request_id, data)

    def _whitelist_ip(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        ip = _required(body, "ip")
        mask = _required(body, "mask")
        record = self._state.whitelist_ip(trunk_sid, ip, mask)
        data = self._envelopes.whitelisted_ip(record)
        return self._envelopes.success(request.method, request_id, data)

    @staticmethod
    def _items(body: dict[str, Any], name: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        items = _required(body, name)
        if not isinstance(items, list):
            raise EmulatedError.invalid_parameter(f"{name} must be an array of objects")
        if not items:
            raise EmulatedError.invalid_parameter(f"{name} must not be empty")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise EmulatedError.invalid_parameter(f"{name}[{index}] must be an object")
            for key in keys:
                _required(item, key, where=f"{name}[{index}].")
        return items

    def _add_destinations(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        items = self._items(self._trunk_body(request, trunk_sid), "destinations", ("destination",))
        require = self._knobs.require_whitelisted_destinations
        if require is None:
            require = self._envelopes.requires_whitelisted_destinations
        outcomes: list[Outcome] = []
        for item in items:
            try:
                record = self._state.add_destination(
                    trunk_sid,
                    item["destination"],
                    require_whitelisted=require,
                    allow_udp=self._envelopes.udp_destinations,
                )
            except EmulatedError as error:
                outcomes.append(error)
            else:
                outcomes.append(self._envelopes.destination(record))
        return self._envelopes.multi(request.method, request_id, outcomes)

    def _set_settings(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        items = self._items(self._trunk_body(request, trunk_sid), "settings", ("name", "value"))
        outcomes: list[Outcome] = []
        for item in items:
            try:
                record = self._state.set_setting(trunk_sid, item["name"], item["value"])
            except EmulatedError as error:
                outcomes.append(error)
            else:
                outcomes.append(self._envelopes.setting(record))
        return self._envelopes.multi(request.method, request_id, outcomes)

    def _list_phone_numbers(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        records = self._state.phone_numbers(trunk_sid)
        path = f"{trunk_path(self._state.account_sid, trunk_sid)}/phone-numbers"
        return self._listing(request, request_id, path, records, self._envelopes.phone_number)

    def _list_whitelisted_ips(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        records = self._state.whitelisted_ips(trunk_sid)
        path = f"{trunk_path(self._state.account_sid, trunk_sid)}/whitelisted-ips"
        return self._listing(request, request_id, path, records, self._envelopes.whitelisted_ip)

    def _list_destinations(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        records = self._state.destinations(trunk_sid)
        path = f"{trunk_path(self._state.account_sid, trunk_sid)}/destination-uris"
        return self._listing(request, request_id, path, records, self._envelopes.destination)

    def _get_credentials(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        credentials = self._state.get_credentials(trunk_sid)
        if credentials is None:
            return self._envelopes.empty(request.method, request_id)
        data = self._envelopes.credentials(credentials)
        return self._envelopes.success(request.method, request_id, data)

    # -- the live service's further operations (live-api-extended.md) -----------------------

    def _list_trunks(self, request: EmulatedRequest, request_id: str, _: str) -> EmulatedResponse:
        trunks = self._state.trunks
        wanted = parse_qs(request.query).get("trunk_sid", [""])[0]
        if wanted:
            trunks = [trunk for trunk in trunks if trunk.trunk_sid == wanted]
        path = f"/v2/accounts/{self._state.account_sid}/trunks"
        return self._listing(request, request_id, path, trunks, self._envelopes.trunk)

    def _update_trunk(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        if body.get("trunk_name") is None and body.get("nso_code") is None:
            raise EmulatedError.missing_field("trunk_name")
        trunk = self._state.update_trunk(
            trunk_sid, trunk_name=body.get("trunk_name"), nso_code=body.get("nso_code")
        )
        return self._envelopes.success(request.method, request_id, self._envelopes.trunk(trunk))

    def _lookup_trunk_map(
        self, request: EmulatedRequest, request_id: str, _: str
    ) -> EmulatedResponse:
        number = _query_value(request, "exophone")
        narrow = parse_qs(request.query).get("trunk_sid", [""])[0] or None
        record = self._state.lookup_number(number, narrow)
        path = f"/v2/accounts/{self._state.account_sid}/trunk-maps"
        records = [] if record is None else [record]
        return self._listing(request, request_id, path, records, self._envelopes.phone_number)

    def _update_phone_number(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        phone_number = _required(body, "phone_number")
        mode = _required(body, "mode")
        record = self._state.update_phone_number(trunk_sid, _item_id(request), phone_number, mode)
        return self._envelopes.success(
            request.method, request_id, self._envelopes.phone_number(record)
        )

    def _remove_phone_number(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        remove, render = self._state.remove_phone_number, self._envelopes.phone_number
        return self._removed(request, request_id, trunk_sid, remove, render)

    def _update_whitelisted_ip(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        ip = _required(body, "ip")
        mask = _required(body, "mask")
        record = self._state.update_whitelisted_ip(trunk_sid, _item_id(request), ip, mask)
        return self._envelopes.success(
            request.method, request_id, self._envelopes.whitelisted_ip(record)
        )

    def _remove_whitelisted_ip(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        remove, render = self._state.remove_whitelisted_ip, self._envelopes.whitelisted_ip
        return self._removed(request, request_id, trunk_sid, remove, render)

    def _update_destination(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        if body.get("priority") is None and body.get("weight") is None:
            raise EmulatedError.missing_field("priority")
        record = self._state.update_destination(
            trunk_sid, _item_id(request), priority=body.get("priority"), weight=body.get("weight")
        )
        return self._envelopes.success(
            request.method, request_id, self._envelopes.destination(record)
        )

    def _remove_destination(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        remove, render = self._state.remove_destination, self._envelopes.destination
        return self._removed(request, request_id, trunk_sid, remove, render)

    def _list_credentials(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        records = self._state.credentials(trunk_sid)
        wanted = parse_qs(request.query).get("id", [""])[0]
        if wanted:
            records = [record for record in records if record.id == wanted]
        path = f"{trunk_path(self._state.account_sid, trunk_sid)}/credentials"
        return self._listing(request, request_id, path, records, self._envelopes.credential)

    def _create_credential(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        user_name = _required(body, "user_name")
        password = _required(body, "password")
        record = self._state.create_credential(
            trunk_sid, user_name, password, body.get("friendly_name")
        )
        return self._envelopes.success(
            request.method, request_id, self._envelopes.credential(record)
        )

    def _update_credential(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        body = self._trunk_body(request, trunk_sid)
        fields = ("user_name", "password", "friendly_name")
        changes = {name: body[name] for name in fields if name in body}
        if not changes:
            raise EmulatedError.missing_field("user_name")
        record = self._state.update_credential(trunk_sid, _item_id(request), changes)
        return self._envelopes.success(
            request.method, request_id, self._envelopes.credential(record)
        )

    def _delete_credential(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        remove, render = self._state.delete_credential, self._envelopes.credential
        return self._removed(request, request_id, trunk_sid, remove, render)

    def _list_settings(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        records = self._state.settings(trunk_sid)
        path = f"{trunk_path(self._state.account_sid, trunk_sid)}/settings"
        return self._listing(request, request_id, path, records, self._envelopes.setting)

    def _delete_setting(
        self, request: EmulatedRequest, request_id: str, trunk_sid: str
    ) -> EmulatedResponse:
        remove, render = self._state.delete_setting, self._envelopes.setting
        return self._removed(request, request_id, trunk_sid, remove, render, key="name")
