"""The contract run: one trunk of its own, the ten operations on it, then its deletion.

:func:`decide` says where the suite runs: the served emulator (live dialect) by default, the
account in ``EXOTEL_*`` with ``--live``, or nowhere (a skip naming what is missing).
:func:`run_contract` creates a uniquely named trunk, runs every operation on it and deletes it
in a ``finally``, whatever happened in between. A :class:`Recorder` hooked into the client's
``httpx2.AsyncClient`` keeps the raw records each answer carried (to compare with the models
and to list the fields they do not read) and refuses, before it is sent, any request that
would touch a trunk the run did not create.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio.from_thread
import attrs
import cattrs
import httpx2

from exotel_trunking import (
    AsyncTrunkingClient,
    Credentials,
    DestinationUri,
    ExotelError,
    PhoneNumber,
    RetryPolicy,
    Trunk,
    TrunkingClient,
    TrunkSetting,
    WhitelistedIp,
)
from exotel_trunking._converter import converter
from exotel_trunking.emulator import Emulator

#: Without them ``--live`` has no account to run against.
REQUIRED = ("EXOTEL_API_KEY", "EXOTEL_API_TOKEN", "EXOTEL_ACCOUNT_SID")
NUMBER = "EXOTEL_LIVE_NUMBER"
IP = "EXOTEL_LIVE_IP"
DESTINATION = "EXOTEL_LIVE_DESTINATION"
#: What to put in each input variable, for the reason an operation was not run.
WANTED = {
    NUMBER: "a number of your account (E.164) that no trunk has",
    IP: "your PBX's public IPv4 address or range (a.b.c.d or a.b.c.d/nn)",
    DESTINATION: "your PBX's SIP URI, host:port;transport=tcp|tls (an IP host within "
    "EXOTEL_LIVE_IP)",
}
#: The operations, in the order a run makes them; ``trunks.delete`` always comes last.
OPERATIONS = (
    "trunks.create",
    "phone_numbers.map",
    "phone_numbers.list",
    "whitelisted_ips.add",
    "whitelisted_ips.list",
    "destination_uris.add",
    "destination_uris.list",
    "credentials.get",
    "settings.set_alias",
    "trunks.delete",
)
#: The input variable an operation needs, if any.
NEEDS = {
    "phone_numbers.map": NUMBER,
    "whitelisted_ips.add": IP,
    "destination_uris.add": DESTINATION,
    "settings.set_alias": NUMBER,
}
#: The model each operation's records are structured into.
MODELS: dict[str, type[Any]] = {
    "trunks.create": Trunk,
    "phone_numbers.map": PhoneNumber,
    "phone_numbers.list": PhoneNumber,
    "whitelisted_ips.add": WhitelistedIp,
    "whitelisted_ips.list": WhitelistedIp,
    "destination_uris.add": DestinationUri,
    "destination_uris.list": DestinationUri,
    "credentials.get": Credentials,
    "settings.set_alias": TrunkSetting,
    "trunks.delete": Trunk,  # the live service answers with the deleted trunk
}
#: Operations whose answer is every record of every page (the others: one record).
LISTS = {"phone_numbers.list", "whitelisted_ips.list", "destination_uris.list"}

ClientKind = Literal["async", "sync"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("async", "sync")

# The emulator's account, and what the suite maps, whitelists and adds there.
EMULATOR_KEY = "live-suite-key"
EMULATOR_TOKEN = "live-suite-token"
EMULATOR_SID = "live_suite"
#: Millisecond retries against the emulator (the account gets the default policy).
FAST_RETRY = RetryPolicy(initial_delay=0.001, max_delay=0.01)


@attrs.frozen
class Inputs:
    """What the user lends the run: a number, an IP and a destination (each may be missing)."""

    number: str | None = None
    ip: str | None = None
    destination: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Inputs:
        def read(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        return cls(read(NUMBER), read(IP), read(DESTINATION))

    def value(self, variable: str) -> str | None:
        return {NUMBER: self.number, IP: self.ip, DESTINATION: self.destination}[variable]

    def missing_for(self, operation: str) -> str | None:
        """Why ``operation`` cannot run (its input variable is not set), or ``None``."""
        variable = NEEDS.get(operation)
        if variable is None or self.value(variable) is not None:
            return None
        return f"{operation} was not run: set {variable} to {WANTED[variable]}"


EMULATOR_INPUTS = Inputs(
    number="+919876500001",
    ip="203.0.113.50",
    # An IP destination: the live dialect accepts it only once the IP is whitelisted.
    destination="sip:203.0.113.50:5061;transport=tls",
)


@attrs.frozen
class Decision:
    """Where the suite runs: ``"emulator"``, ``"account"``, or nowhere (``skip`` says why)."""

    against: Literal["emulator", "account"] | None
    skip: str | None = None
    inputs: Inputs = EMULATOR_INPUTS


def decide(live: bool, environ: Mapping[str, str]) -> Decision:
    """Without ``--live``: the emulator, whatever the environment holds.

    With ``--live``: the account named by ``EXOTEL_*`` if all three are set (an empty value
    counts as unset), with the user's inputs; else a skip naming the missing variables.
    """
    if not live:
        return Decision("emulator")
    missing = [name for name in REQUIRED if not environ.get(name, "").strip()]
    if missing:
        return Decision(
            None,
            skip=f"--live needs {', '.join(missing)} (not set): set "
            f"{'it' if len(missing) == 1 else 'them'} to run against your account",
        )
    return Decision("account", inputs=Inputs.from_env(environ))


@attrs.frozen
class Target:
    """What the clients are built for: the served emulator, or the account in ``EXOTEL_*``."""

    inputs: Inputs
    #: Extra client arguments; empty for the account (credentials, base URL and the default
    #: pacing of 200 calls a minute then come from the environment and the SDK's defaults).
    options: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    emulator: Emulator | None = None

    @classmethod
    def account(cls, inputs: Inputs) -> Target:
        return cls(inputs)

    @classmethod
    def served_emulator(cls, emulator: Emulator, base_url: str) -> Target:
        options = {
            "api_key": EMULATOR_KEY,
            "api_token": EMULATOR_TOKEN,
            "account_sid": emulator.account_sid,
            "base_url": base_url,
            "rate_limit": None,  # the emulator has no limit: no need to wait
            "retry": FAST_RETRY,
        }
        return cls(EMULATOR_INPUTS, options, emulator)


def new_emulator() -> Emulator:
    """The account the suite runs against without ``--live``: the live dialect."""
    return Emulator(EMULATOR_KEY, EMULATOR_TOKEN, EMULATOR_SID, dialect="live", seed=None)


@contextmanager
def served(emulator: Emulator) -> Iterator[str]:
    """Serve ``emulator`` on 127.0.0.1 from an event loop of its own thread; yield its URL.

    A thread of its own, so that either client (and a pytest run in a subprocess) can reach
    it from any thread while the caller blocks.
    """
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.serve()) as base_url,
    ):
        yield base_url


def trunk_name() -> str:
    """A fresh trunk name: ``sdk_live_`` and six random hex digits (15 of the 16 allowed)."""
    return f"sdk_live_{secrets.token_hex(3)}"


# -- the recorder: raw records, and the only-our-trunk guard --------------------------------


class UnownedTrunkError(RuntimeError):
    """A request would have touched a trunk the run did not create; it was not sent."""


@attrs.frozen
class Exchange:
    """One answered request, with the raw records its envelope carried."""

    method: str
    path: str
    query: str
    status: int
    # Raw values, a SIP password among them: kept out of reprs and assertion messages.
    records: tuple[Mapping[str, Any], ...] = attrs.field(repr=False)


def raw_records(body: object) -> tuple[Mapping[str, Any], ...]:
    """The ``data`` objects of an envelope: ``response.data`` (an object or an array), or each
    ``data`` of a list of per-item envelopes (the live service's lists and multi-item POSTs).
    """
    if not isinstance(body, dict):
        return ()
    response = body.get("response")
    items = response if isinstance(response, list) else [response]
    records: list[Mapping[str, Any]] = []
    for item in items:
        data = item.get("data") if isinstance(item, dict) else None
        records += [d for d in (data if isinstance(data, list) else [data]) if isinstance(d, dict)]
    return tuple(records)


class Recorder:
    """The event hooks of the run's ``httpx2.AsyncClient``.

    ``request``: refuses a request that names any trunk but the run's own (:meth:`check`),
    then notes it in :attr:`sent`. ``response``: reads the body and keeps its raw records in
    :attr:`exchanges`.
    """

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self.trunk_sid: str | None = None
        self.sent: list[tuple[str, str, str]] = []
        self.exchanges: list[Exchange] = []

    @property
    def event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self._on_request], "response": [self._on_response]}

    def check(self, method: str, path: str, query: str) -> None:
        """Allow only: creating the trunk (before it exists), and requests on its own sid.

        Raises:
            UnownedTrunkError: anything else (another sid, listing trunks, a second create).
        """
        marker = f"/v2/accounts/{self.account_sid}/trunks"
        _, found, rest = path.partition(marker)
        sid = self.trunk_sid
        if found and rest == "":
            if method == "POST" and sid is None:
                return
            if method == "DELETE" and sid is not None and parse_qs(query) == {"trunk_sid": [sid]}:
                return
        elif found and sid is not None and (rest == f"/{sid}" or rest.startswith(f"/{sid}/")):
            return
        raise UnownedTrunkError(
            f"refused {method} {path}{'?' + query if query else ''}: the run may only create "
            f"its trunk and use its own sid ({sid or 'not created yet'})"
        )

    async def _on_request(self, request: httpx2.Request) -> None:
        method, path, query = request.method, request.url.path, request.url.query.decode()
        self.check(method, path, query)
        self.sent.append((method, path, query))

    async def _on_response(self, response: httpx2.Response) -> None:
        body = await response.aread()  # cached: the SDK reads the same bytes afterwards
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        request = response.request
        self.exchanges.append(
            Exchange(
                request.method,
                request.url.path,
                request.url.query.decode(),
                response.status_code,
                raw_records(decoded),
            )
        )


# -- clients ------------------------------------------------------------------------------

#: How a run calls an operation: ``call(client.trunks.create, name)``.
Call = Callable[..., Any]


@contextmanager
def open_client(target: Target, kind: ClientKind, recorder: Recorder) -> Iterator[tuple[Any, Call]]:
    """A client of ``kind`` for ``target`` whose requests pass through ``recorder``'s hooks.

    The async client runs in an asyncio loop on a portal thread (``call`` awaits each
    operation there), so that one sequence of plain calls drives both clients. The sync
    client runs its operations in its own loop; the ``http_client`` it is given keeps no
    idle connections, since it cannot be closed in that loop once the client has stopped it.
    """
    options = dict(target.options)
    if kind == "async":
        with anyio.from_thread.start_blocking_portal("asyncio") as portal:
            http_client = httpx2.AsyncClient(event_hooks=recorder.event_hooks)
            try:
                client = AsyncTrunkingClient(http_client=http_client, **options)
                recorder.account_sid = client.account_sid
                try:
                    yield client, portal.call
                finally:
                    portal.call(client.aclose)
            finally:
                portal.call(http_client.aclose)
        return
    http_client = httpx2.AsyncClient(
        event_hooks=recorder.event_hooks, limits=httpx2.Limits(max_keepalive_connections=0)
    )
    try:
        with TrunkingClient(http_client=http_client, **options) as sync_client:
            recorder.account_sid = sync_client.account_sid
            yield sync_client, _call_sync
    finally:
        anyio.run(http_client.aclose)  # no connection left in it: nothing tied to a loop


def _call_sync(operation: Callable[..., Any], *args: Any) -> Any:
    return operation(*args)


# -- the run ------------------------------------------------------------------------------


@attrs.define
class Outcome:
    """What one operation gave: its value or error, or why it was not run; its exchanges."""

    operation: str
    value: Any = None
    error: ExotelError | None = None
    not_run: str | None = None
    exchanges: list[Exchange] = attrs.field(factory=list, repr=False)


@attrs.define
class Run:
    """One client's run: its trunk, each operation's outcome, every request it sent."""

    client: ClientKind
    trunk_name: str
    inputs: Inputs
    against: str = ""
    trunk_sid: str | None = None
    outcomes: dict[str, Outcome] = attrs.field(factory=dict)
    sent: list[tuple[str, str, str]] = attrs.field(factory=list, repr=False)


def run_contract(
    client: Any, call: Call, recorder: Recorder, inputs: Inputs, *, kind: ClientKind, name: str
) -> Run:
    """Create trunk ``name``, run the other operations on it, delete it in a ``finally``.

    An :class:`ExotelError` is noted as the operation's outcome and the run goes on; anything
    else (an :class:`UnownedTrunkError`, an interrupt, a bug) ends it, after the deletion.
    """
    run = Run(kind, name, inputs, sent=recorder.sent)

    def step(operation: str, method: Callable[..., Any], *args: Any) -> Any:
        outcome = run.outcomes[operation] = Outcome(operation)
        outcome.not_run = inputs.missing_for(operation)
        if outcome.not_run is not None:
            return None
        first = len(recorder.exchanges)
        try:
            outcome.value = call(method, *args)
        except ExotelError as error:
            outcome.error = error
        finally:
            outcome.exchanges = recorder.exchanges[first:]
        return outcome.value

    trunk = step("trunks.create", client.trunks.create, name)
    if trunk is None:
        for operation in OPERATIONS[1:]:
            run.outcomes[operation] = Outcome(operation, not_run="not run: trunks.create failed")
        return run
    sid = run.trunk_sid = recorder.trunk_sid = trunk.trunk_sid
    try:
        step("phone_numbers.map", client.phone_numbers.map, sid, inputs.number)
        step("phone_numbers.list", client.phone_numbers.list, sid)
        # Whitelisting first: the live service refuses an IP destination not whitelisted.
        step("whitelisted_ips.add", client.whitelisted_ips.add, sid, inputs.ip)
        step("whitelisted_ips.list", client.whitelisted_ips.list, sid)
        step("destination_uris.add", client.destination_uris.add, sid, inputs.destination)
        step("destination_uris.list", client.destination_uris.list, sid)
        step("credentials.get", client.credentials.get, sid)
        step("settings.set_alias", client.settings.set_alias, sid, inputs.number)
    finally:
        step("trunks.delete", client.trunks.delete, sid)
    return run


def run_against(target: Target, kind: ClientKind) -> Run:
    """A whole run of one client against ``target``."""
    recorder = Recorder(account_sid="")
    with open_client(target, kind, recorder) as (client, call):
        against = (
            f"the emulator ({target.emulator.dialect} dialect) at {client.config.base_url}"
            if target.emulator is not None
            else f"account {client.account_sid} at {client.config.base_url}"
        )
        run = run_contract(client, call, recorder, target.inputs, kind=kind, name=trunk_name())
    run.against = against
    return run


# -- comparing the raw records with the models ---------------------------------------------


def field_names(model: type[Any]) -> tuple[set[str], set[str]]:
    """The model's required and optional field names."""
    fields = attrs.fields(model)
    required = {f.name for f in fields if f.default is attrs.NOTHING}
    return required, {f.name for f in fields} - required


def answered(outcome: Outcome) -> list[Exchange]:
    """The exchanges whose status was a success (retried failures carry no records)."""
    return [e for e in outcome.exchanges if 200 <= e.status < 300]


def record_problems(outcome: Outcome) -> list[str]:
    """How the raw records disagree with the model and with the value the SDK returned.

    Every record must hold the model's required fields and structure into the model; a list
    operation's value must equal its records, in order; another operation's value must be one
    of the last answer's records. Messages name fields, never values.
    """
    model = MODELS[outcome.operation]
    required, _ = field_names(model)
    exchanges = answered(outcome)
    problems: list[str] = []
    structured: list[Any] = []
    for exchange in exchanges:
        for index, record in enumerate(exchange.records):
            where = f"{outcome.operation}: {exchange.method} {exchange.path} record {index}"
            if missing := sorted(required - record.keys()):
                problems.append(f"{where} lacks {', '.join(missing)} ({model.__name__} needs it)")
                continue
            try:
                structured.append(converter.structure(record, model))
            except cattrs.BaseValidationError as exc:  # cattrs's messages hold no values
                why = "; ".join(cattrs.transform_error(exc, path="record"))
                problems.append(f"{where} does not structure into {model.__name__}: {why}")
    value = outcome.value
    if problems or value is None:
        return problems
    if outcome.operation in LISTS or isinstance(value, list):
        if value != structured:
            problems.append(
                f"{outcome.operation}: the {len(value)} models returned differ from the "
                f"{len(structured)} records the service sent"
            )
    else:
        last = [converter.structure(r, model) for r in (exchanges[-1].records if exchanges else ())]
        if value not in last:
            problems.append(
                f"{outcome.operation}: the {model.__name__} returned is not what the service sent"
            )
    return problems


@attrs.define
class Report:
    """The fields the service sent that the models do not read, and the ones it never sent."""

    against: set[str] = attrs.field(factory=set)
    #: model name -> unknown field -> operations it came in
    unknown: dict[str, dict[str, set[str]]] = attrs.field(factory=dict)
    #: model name -> every field name its records carried
    seen: dict[str, set[str]] = attrs.field(factory=dict)
    runs: int = 0

    def add(self, run: Run) -> None:
        self.runs += 1
        self.against.add(run.against)
        for outcome in run.outcomes.values():
            model = MODELS[outcome.operation]
            required, optional = field_names(model)
            for exchange in answered(outcome):
                for record in exchange.records:
                    self.seen.setdefault(model.__name__, set()).update(record)
                    for name in record.keys() - required - optional:
                        unknown = self.unknown.setdefault(model.__name__, {})
                        unknown.setdefault(name, set()).add(outcome.operation)

    def lines(self) -> list[str]:
        lines = [f"against {where}" for where in sorted(self.against)]
        lines.append("fields the models do not read (ignored by the SDK, not a failure):")
        for model, fields in sorted(self.unknown.items()):
            operations = sorted(set().union(*fields.values()), key=OPERATIONS.index)
            text = f"{model}: {', '.join(sorted(fields))}  [{', '.join(operations)}]"
            lines += textwrap.wrap(text, 100, initial_indent="  ", subsequent_indent="      ")
        if not self.unknown:
            lines.append("  none")
        lines.append("model fields the service never sent (left None):")
        absent = {
            model.__name__: sorted(field_names(model)[1] - self.seen[model.__name__])
            for model in dict.fromkeys(MODELS.values())
            if model.__name__ in self.seen
        }
        lines += [f"  {model}: {', '.join(names)}" for model, names in absent.items() if names]
        if not any(absent.values()):
            lines.append("  none")
        return lines


# -- small comparisons the tests share ----------------------------------------------------


def e164(number: str) -> str:
    """A number as the SDK sends it: spaces, dashes, dots and parentheses removed."""
    return re.sub(r"[\s\-.()]", "", number)


def bare(destination: str) -> str:
    """A destination without its ``sip:`` prefix, in lower case."""
    text = destination.strip().lower()
    return text.removeprefix("sip:")


def network(ip: str) -> tuple[str, int]:
    """An address or range as ``(network address, prefix length)``."""
    parsed = ipaddress.ip_network(ip, strict=True)
    return str(parsed.network_address), parsed.prefixlen


def ids(models: Sequence[Any]) -> list[str]:
    return [model.id for model in models]
