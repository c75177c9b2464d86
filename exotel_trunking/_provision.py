"""Declarative provisioning: describe a tenant's trunk once, apply it as often as you like.

:class:`TrunkSpec` is the desired state; :func:`provision` finds the trunk (by its sid, else
by its name where the service lists trunks, else it creates it), reads its current state,
works out what is missing, and adds it in dependency order (numbers and IPs through the bulk
executor, IPs before destinations, then the alias, the SIP credentials last). Nothing is
removed unless asked: with ``prune=True`` what the spec does not list goes, after the
additions.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio
import attrs

from ._bulk import BulkResult, ItemOutcome, collect
from ._exceptions import (
    APIStatusError,
    ConflictError,
    ExotelError,
    InvalidParameterError,
    PartialFailureError,
)
from ._models import Credentials, DestinationUri, PhoneNumber, SipCredential, Trunk, WhitelistedIp
from ._resources.trunk_maps import _same_number
from ._telemetry import provision_phase
from ._validation import (
    _Redacted,
    normalize_destination,
    normalize_phone_number,
    parse_ip,
    validate_friendly_name,
    validate_mode,
    validate_password,
    validate_path_segment,
    validate_trunk_name,
    validate_user_name,
)

if TYPE_CHECKING:
    from ._client import AsyncTrunkingClient

__all__ = [
    "Changes",
    "CredentialSpec",
    "NumberSpec",
    "ProvisionProgress",
    "ProvisionReport",
    "TrunkSpec",
    "provision",
]

#: The phases of a provisioning run, in order: ``trunk`` (found by name or created) when no
#: sid is given, ``read`` for a trunk that exists; ``prune`` only with ``prune=True``.
Phase = Literal["trunk", "read", "numbers", "ips", "destinations", "alias", "prune", "credentials"]


@attrs.frozen
class NumberSpec:
    """A number a trunk should have.

    Attributes:
        phone_number: E.164 (punctuation is stripped).
        mode: ``"pstn"``, ``"flow"`` or ``None`` (Exotel's default).
    """

    phone_number: str = attrs.field(converter=normalize_phone_number)
    mode: str | None = attrs.field(default=None, validator=lambda _, __, v: validate_mode(v))


def _numbers(value: Iterable[str | NumberSpec | Mapping[str, Any]]) -> tuple[NumberSpec, ...]:
    specs: dict[str, NumberSpec] = {}
    for index, item in enumerate(_sequence(value, "numbers")):
        try:
            if isinstance(item, NumberSpec):
                spec = item
            elif isinstance(item, Mapping):
                spec = NumberSpec(item.get("phone_number", ""), item.get("mode"))
            else:
                spec = NumberSpec(item)
        except InvalidParameterError as error:
            raise InvalidParameterError(f"numbers[{index}]", item, error.expected) from None
        # The same number twice (perhaps punctuated differently) is one number; twice with
        # different modes is a contradiction.
        seen = specs.setdefault(spec.phone_number, spec)
        if seen.mode != spec.mode:
            raise InvalidParameterError(
                f"numbers[{index}]", item, f"{spec.phone_number} is listed with another mode"
            )
    return tuple(specs.values())


def _ips(value: Iterable[str]) -> tuple[str, ...]:
    ips = _sequence(value, "ips")
    return _unique("{}/{}".format(*parse_ip(ip, None, f"ips[{i}]")) for i, ip in enumerate(ips))


def _destinations(value: Iterable[str]) -> tuple[str, ...]:
    destinations = _sequence(value, "destinations")
    return _unique(
        normalize_destination(d, f"destinations[{i}]") for i, d in enumerate(destinations)
    )


def _sequence(value: Iterable[Any], argument: str) -> Iterable[Any]:
    """Refuse a lone string where a list is expected (it would be read letter by letter)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidParameterError(argument, value, "expected a list")
    return value


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


#: What an environment variable's name may be (POSIX's portable names).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The names shown in an error: the usual capitals. Any other may be a password typed into
#: ``password_env`` by mistake, and is not shown.
_SHOWN_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _env_name(value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _ENV_NAME.fullmatch(value)):
        # Not a variable's name: perhaps the password itself, typed in the wrong place.
        raise InvalidParameterError(
            "password_env",
            _Redacted(),
            "expected the name of an environment variable: letters, digits and _, not "
            "starting with a digit",
        )
    return value


@attrs.frozen
class CredentialSpec:
    """A SIP digest credential a trunk should have: what a voice-AI platform or PBX signs in with.

    A spec never holds a password, only where it comes from. A credential the trunk has
    already (by user name) is left as it is, its password unchanged: change one with
    ``credentials.rotate`` or ``credentials.update``.

    Attributes:
        user_name: The SIP user name: letters, digits and ``. _ ~ + -``.
        friendly_name: A label of 1-32 characters, or ``None``.
        password_env: The environment variable that holds the password, read when the spec
            is applied (never stored); ``None`` to have a strong password generated when the
            credential is created, and returned once, in the report's
            ``created_credentials``.
    """

    user_name: str = attrs.field(converter=validate_user_name)
    friendly_name: str | None = attrs.field(default=None, converter=validate_friendly_name)
    password_env: str | None = attrs.field(default=None, converter=_env_name)

    @property
    def generated(self) -> bool:
        """Whether the password is generated when the credential is created."""
        return self.password_env is None

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The password held by ``password_env`` (in ``environ``, else the process's), checked.

        Returns:
            The password, or ``None`` for a generated one.

        Raises:
            InvalidParameterError: the variable is unset or empty, or holds no usable password;
                the message names the variable, never its value.
        """
        if self.password_env is None:
            return None
        name = self.password_env
        shown = _SHOWN_ENV_NAME.fullmatch(name) is not None
        value = (os.environ if environ is None else environ).get(name)
        if not value:
            variable = (
                name
                if shown
                else "named by password_env (not shown: a name not in capitals may be a "
                "password typed there by mistake)"
            )
            raise InvalidParameterError(
                "password_env",
                name if shown else _Redacted(),
                f"the environment variable {variable}, which holds the password of "
                f"{self.user_name!r}, is not set",
            )
        return validate_password(value, f"${name}" if shown else "$<password_env>")


#: The keys of a credential given as a mapping.
_CREDENTIAL_KEYS = ("user_name", "friendly_name", "password_env")


def _credential(item: object, at: str) -> CredentialSpec:
    if isinstance(item, CredentialSpec):
        return item
    if isinstance(item, str):
        fields: dict[str, Any] = {"user_name": item}
    elif isinstance(item, Mapping):
        if "password" in item:
            raise InvalidParameterError(
                f"{at}.password",
                _Redacted(),
                "a spec holds no passwords: set password_env to the name of the environment "
                "variable that holds it, or leave both out to have one generated",
            )
        unknown = sorted(set(item) - set(_CREDENTIAL_KEYS))
        if unknown:
            # The value may be a password under a misspelt key: it is not shown.
            raise InvalidParameterError(
                f"{at}.{unknown[0]}",
                _Redacted(),
                f"is not a credential field; expected {', '.join(_CREDENTIAL_KEYS)}",
            )
        if "user_name" not in item:
            raise InvalidParameterError(f"{at}.user_name", None, "a credential needs a user_name")
        fields = dict(item)
    else:
        raise InvalidParameterError(
            at,
            item,
            "expected a user name, or a mapping with user_name (and friendly_name, password_env)",
        )
    try:
        return CredentialSpec(**fields)
    except InvalidParameterError as error:
        raise InvalidParameterError(f"{at}.{error.argument}", error.value, error.expected) from None


def _credentials(
    value: Iterable[str | CredentialSpec | Mapping[str, Any]],
) -> tuple[CredentialSpec, ...]:
    specs: dict[str, CredentialSpec] = {}
    for index, item in enumerate(_sequence(value, "credentials")):
        spec = _credential(item, f"credentials[{index}]")
        # The same credential twice is one; twice with another label or password is a
        # contradiction.
        if specs.setdefault(spec.user_name, spec) != spec:
            raise InvalidParameterError(
                f"credentials[{index}].user_name",
                spec.user_name,
                "is listed twice, with another friendly_name or password_env",
            )
    return tuple(specs.values())


def _alias(value: str | None) -> str | None:
    return None if value is None else normalize_phone_number(value, "alias")


def _sid(value: str | None) -> str | None:
    return None if value is None else validate_path_segment(value, "trunk_sid")


@attrs.frozen
class TrunkSpec:
    """The desired state of one tenant's trunk. Every value is validated when it is built.

    Attributes:
        name: The trunk's name (1-16 of ``[A-Za-z0-9_]``).
        numbers: Numbers to map: E.164 strings, :class:`NumberSpec` s, or mappings with
            ``phone_number`` and ``mode``.
        ips: Addresses or CIDR ranges to whitelist (``"203.0.113.0/28"``).
        destinations: Destination URIs (``"sip.example.com:5061;transport=tls"``).
        alias: The caller-ID alias, or ``None``.
        nso_code: The trunk's network service operator code.
        domain_name: The trunk's SIP domain; ``None`` for Exotel's default.
        trunk_sid: The existing trunk to bring to this state, if it was created already
            (without it, the trunk is found by ``name`` where the service lists trunks).
        credentials: SIP digest credentials: user names, :class:`CredentialSpec` s, or
            mappings with ``user_name``, ``friendly_name`` and ``password_env``.
    """

    name: str = attrs.field(validator=lambda _, __, v: validate_trunk_name(v))
    numbers: tuple[NumberSpec, ...] = attrs.field(default=(), converter=_numbers)
    ips: tuple[str, ...] = attrs.field(default=(), converter=_ips)
    destinations: tuple[str, ...] = attrs.field(default=(), converter=_destinations)
    alias: str | None = attrs.field(default=None, converter=_alias)
    nso_code: str = "ANY-ANY"
    domain_name: str | None = None
    trunk_sid: str | None = attrs.field(default=None, converter=_sid)
    credentials: tuple[CredentialSpec, ...] = attrs.field(default=(), converter=_credentials)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrunkSpec:
        """Build a spec from a mapping such as a parsed TOML or JSON file.

        Raises:
            InvalidParameterError: for an unknown key or an invalid value, naming it.
        """
        fields = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise InvalidParameterError(
                unknown[0], data[unknown[0]], f"is not a spec field; expected {sorted(fields)}"
            )
        if "name" not in data:
            raise InvalidParameterError("name", None, "a spec needs the trunk's name")
        return cls(**data)


@attrs.define
class Changes:
    """What happened (or, in a plan, would happen) to one kind of item.

    Attributes:
        created: Items added (or to add).
        existing: Items that were already in place.
        failed: ``(item, error)`` pairs for the items that could not be added (or removed).
        removed: Items on the trunk that the spec does not list, removed (or to remove);
            only with ``prune=True``.
        updated: Items in place whose settings were (or would be) brought to the spec's: a
            number whose mode differs. Also counted in ``existing``.
        unreadable: Items the trunk lists in a form that could not be read as a spec names
            items (normalised): never removed by ``prune``, left for you to look at.
    """

    created: list[str] = attrs.Factory(list)
    existing: list[str] = attrs.Factory(list)
    failed: list[tuple[str, Exception]] = attrs.Factory(list)
    removed: list[str] = attrs.Factory(list)
    updated: list[str] = attrs.Factory(list)
    unreadable: list[str] = attrs.Factory(list)

    @classmethod
    def from_bulk(cls, result: BulkResult[Any], label: Any) -> Changes:
        """Summarise a bulk result, naming each item with ``label(outcome)``."""
        changes = cls()
        for outcome in result.outcomes:
            name = label(outcome)
            if outcome.status == "created":
                changes.created.append(name)
            elif outcome.status == "exists":
                changes.existing.append(name)
            else:
                changes.failed.append((name, outcome.error or ExotelError(outcome.status)))
        return changes


@attrs.define
class ProvisionReport:
    """What :func:`provision` did, or, with ``dry_run=True``, what it would do.

    Attributes:
        spec: The spec applied.
        dry_run: Whether this is a plan (nothing was changed).
        trunk_sid: The trunk's sid (``None`` in a plan that would create the trunk).
        trunk_created: Whether the trunk was (or would be) created.
        trunk_found: Whether the trunk was found by its name (no sid was given).
        trunk_name_unchecked: In a plan for a new trunk: the service cannot list trunks, so
            whether one has the name already is unknown (creating it would then fail: pass
            its sid).
        trunk: The trunk's record, when this call created it or found it by name.
        prune: Whether what the spec does not list was (or would be) removed.
        numbers: What happened to the numbers.
        ips: What happened to the whitelisted IPs.
        destinations: What happened to the destination URIs.
        sip_credentials: What happened to the spec's SIP digest credentials, by user name.
        created_credentials: The credentials this call created; a generated password is on
            its ``.password`` (the only time it can be read: keep it now), a password from
            ``password_env`` is not.
        alias: The alias set (or to set); the API cannot read an alias back, so it is
            sent on every apply. Sending the same value again changes nothing.
        alias_error: Why setting the alias failed, if it did.
        credentials: The trunk's SIP credentials in the reference's ``{username, password}``
            form, for the PBX, where the service answers that form (never read in a plan).
        trunk_credentials: The trunk's SIP digest credentials after the run, where the
            service keeps those (the live one): never a password, but for one generated by
            this call (never read in a plan).
        credentials_error: Why the credentials could not be read, if they could not; the
            changes were made all the same.
    """

    spec: TrunkSpec
    dry_run: bool
    trunk_sid: str | None = None
    trunk_created: bool = False
    trunk_found: bool = False
    trunk_name_unchecked: bool = False
    trunk: Trunk | None = None
    prune: bool = False
    numbers: Changes = attrs.Factory(Changes)
    ips: Changes = attrs.Factory(Changes)
    destinations: Changes = attrs.Factory(Changes)
    sip_credentials: Changes = attrs.Factory(Changes)
    created_credentials: list[SipCredential] = attrs.Factory(list)
    alias: str | None = None
    alias_error: Exception | None = None
    credentials: Credentials | None = None
    trunk_credentials: list[SipCredential] | None = None
    credentials_error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing failed."""
        return self.alias_error is None and not any(part.failed for part in self._parts())

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) created, updated or removed.

        Re-sending the alias is not a change.
        """
        parts = self._parts()
        return self.trunk_created or any(
            part.created or part.removed or part.updated for part in parts
        )

    @property
    def generated_credentials(self) -> list[SipCredential]:
        """The credentials created with a generated password (on ``.password``), once."""
        return [c for c in self.created_credentials if c.password is not None]

    def _parts(self) -> tuple[Changes, ...]:
        return (self.numbers, self.ips, self.destinations, self.sip_credentials)


@attrs.frozen
class ProvisionProgress:
    """What ``provision(on_progress=)`` receives as the work goes.

    Every phase that runs is ``"started"`` and then ``"finished"``; between the two, the
    ``numbers``, ``ips`` and ``credentials`` phases report an ``"item"`` for every item sent,
    as it settles. A dry run reports nothing.

    Attributes:
        phase: ``"trunk"`` (no sid given: the trunk is found by name, or created),
            ``"read"`` (the trunk's numbers, IPs, destinations and, when needed, SIP
            credentials are read), ``"numbers"``, ``"ips"``, ``"destinations"``,
            ``"alias"``, ``"prune"`` (with ``prune=True``: removals) or ``"credentials"``
            (the spec's credentials created, then the trunk's read for the PBX).
        event: ``"started"``, ``"item"`` or ``"finished"``.
        total: For ``"started"``: the items the phase will send (those not in place; for
            ``prune``, the removals).
        outcome: For ``"item"``: the item's outcome, as the bulk helpers give it (for a
            credential created with a generated password, ``value`` holds it: it is the
            moment to keep it).
        changes: For ``"finished"`` of ``numbers``, ``ips``, ``destinations`` and
            ``credentials``: what the phase did (the report's :class:`Changes` for it); of
            ``prune``: every removal, each item named with its kind (``"number +91..."``).
        trunk: For ``"finished"`` of ``trunk``: the trunk found or created.
    """

    phase: Phase
    event: Literal["started", "item", "finished"]
    total: int | None = None
    outcome: ItemOutcome[Any] | None = None
    changes: Changes | None = None
    trunk: Trunk | None = None


class _Steps:
    """Marks the phases of a run, for the caller's ``on_progress`` and for tracing."""

    def __init__(self, on_progress: Callable[[ProvisionProgress], object] | None) -> None:
        self._on_progress = on_progress

    async def started(self, phase: Phase, total: int | None = None) -> None:
        provision_phase(phase)
        await self._tell(ProvisionProgress(phase, "started", total=total))

    async def item(self, phase: Phase, outcome: ItemOutcome[Any]) -> None:
        await self._tell(ProvisionProgress(phase, "item", outcome=outcome))

    async def finished(
        self, phase: Phase, changes: Changes | None = None, trunk: Trunk | None = None
    ) -> None:
        await self._tell(ProvisionProgress(phase, "finished", changes=changes, trunk=trunk))

    async def _tell(self, progress: ProvisionProgress) -> None:
        if self._on_progress is not None:
            told = self._on_progress(progress)
            if inspect.isawaitable(told):
                await told


def _destination_label(destination: str) -> str:
    """A destination the service answered with, named as the spec names it where possible."""
    try:
        return normalize_destination(destination)
    except InvalidParameterError:
        text = destination.lower()
        return text[4:] if text.startswith("sip:") else text


#: What ``GET /trunks`` answers where the service has no such operation (the reference's):
#: a trunk is then found by its sid only.
CANNOT_LIST = (404, 405, 501)


@attrs.define
class _Current:
    """What the trunk has, keyed as the spec names items; read once, before any change.

    ``credentials`` is ``None`` when not read, or when the service keeps the reference's
    ``{username, password}`` pair instead of digest credentials; ``found_credentials`` is what
    the read found, in either form (for the report, when nothing changes them after).
    """

    numbers: dict[str, PhoneNumber] = attrs.Factory(dict)
    ips: dict[str, WhitelistedIp] = attrs.Factory(dict)
    destinations: dict[str, DestinationUri] = attrs.Factory(dict)
    credentials: dict[str, SipCredential] | None = None
    credentials_read: bool = False
    found_credentials: Credentials | list[SipCredential] | None = None
    #: Per part, the items listed in a form that could not be normalised (never pruned).
    unreadable: dict[str, list[str]] = attrs.Factory(dict)

    def keep(self, part: str, key: str | None, raw: str, record: Any) -> None:
        """Keep ``record`` of ``part`` under ``key``; without one, note ``raw`` as unreadable."""
        if key is None:
            self.unreadable.setdefault(part, []).append(raw)
        else:
            getattr(self, part).setdefault(key, record)


#: The report's parts, and for each: the client's resource, its path part, the operation
#: that removes one of its records, and what one item is called. Removed in this order:
#: destinations before the IPs they may need.
_PRUNED = {
    "destinations": (
        "destination_uris",
        "destination-uris",
        "destination_uris.remove",
        "destination",
    ),
    "ips": ("whitelisted_ips", "whitelisted-ips", "whitelisted_ips.remove", "ip"),
    "numbers": ("phone_numbers", "phone-numbers", "phone_numbers.remove", "number"),
    "sip_credentials": ("credentials", "credentials", "credentials.delete", "credential"),
}


@attrs.frozen
class _Removal:
    part: str  # a key of _PRUNED: the report's Changes it goes to
    item: str  # as the report names it
    record_id: str


async def provision(
    client: AsyncTrunkingClient,
    spec: TrunkSpec,
    *,
    trunk_sid: str | None = None,
    dry_run: bool = False,
    prune: bool = False,
    concurrency: int = 20,
    on_trunk_created: Callable[[Trunk], object] | None = None,
    on_progress: Callable[[ProvisionProgress], object] | None = None,
) -> ProvisionReport:
    """Bring a trunk to ``spec``; see :meth:`AsyncTrunkingClient.provision`."""
    sid = _sid(trunk_sid) or spec.trunk_sid
    # Every password is read before anything is sent: a missing variable stops the run here.
    passwords = {} if dry_run else {c.user_name: c.password() for c in spec.credentials}
    report = ProvisionReport(
        spec=spec, dry_run=dry_run, trunk_sid=sid, alias=spec.alias, prune=prune
    )
    steps = _Steps(None if dry_run else on_progress)
    current = _Current()
    if sid is None:
        trunk = await _trunk_by_name(client, report, steps, on_trunk_created)
        if trunk is None:  # a plan for a new trunk: it has nothing yet
            _plan(report, current)
            return report
        sid = trunk.trunk_sid
    if not report.trunk_created:  # a new trunk has nothing to read (nor to prune)
        await steps.started("read")
        if prune and not report.trunk_found:
            await _check_trunk_name(client, sid, spec.name)
        current = await _read(client, sid, spec, read_credentials=bool(spec.credentials) or prune)
        await steps.finished("read")
    if dry_run:
        _plan(report, current)
        return report
    _note_unreadable(report, current)
    await _apply_numbers(
        client,
        sid,
        spec.numbers,
        current.numbers,
        report=report,
        concurrency=concurrency,
        steps=steps,
    )
    await _apply_ips(
        client,
        sid,
        spec.ips,
        set(current.ips),
        report=report,
        concurrency=concurrency,
        steps=steps,
    )
    await _apply_destinations(
        client, sid, spec.destinations, set(current.destinations), report=report, steps=steps
    )
    if spec.alias is not None:
        await steps.started("alias", 1)
        try:
            await client.settings.set_alias(sid, spec.alias)
        except ExotelError as error:
            report.alias_error = error
        await steps.finished("alias")
    if prune:
        await _prune(
            client,
            sid,
            _removals(spec, current),
            report=report,
            concurrency=concurrency,
            steps=steps,
        )
    await _apply_credentials(client, sid, current, passwords, report=report, steps=steps)
    return report


async def _trunk_by_name(
    client: AsyncTrunkingClient,
    report: ProvisionReport,
    steps: _Steps,
    on_trunk_created: Callable[[Trunk], object] | None,
) -> Trunk | None:
    """The trunk called ``spec.name``: found, else created (``None`` in a plan for a new one).

    Raises:
        ConflictError: the name is taken and the trunk cannot be found (the service lists no
            trunks): the message says to pass its sid.
    """
    spec = report.spec
    await steps.started("trunk", 1)
    listable = True
    try:
        trunk = await client.trunks.find(spec.name)
    except APIStatusError as error:
        if error.status_code not in CANNOT_LIST:
            raise
        trunk, listable = None, False
    if trunk is None and not report.dry_run:
        try:
            trunk = await client.trunks.create(
                spec.name, nso_code=spec.nso_code, domain_name=spec.domain_name
            )
        except ConflictError as error:
            # Created meanwhile (another run), or by a service that cannot list it.
            trunk = await client.trunks.find(spec.name) if listable else None
            if trunk is None:
                raise _name_taken(error, spec.name, listable=listable) from error
        else:
            report.trunk_created = True
    if trunk is None:
        report.trunk_created = True
        report.trunk_name_unchecked = not listable
        return None
    report.trunk, report.trunk_sid = trunk, trunk.trunk_sid
    report.trunk_found = not report.trunk_created
    if report.trunk_created and on_trunk_created is not None:
        handed = on_trunk_created(trunk)
        if inspect.isawaitable(handed):
            await handed
    await steps.finished("trunk", trunk=trunk)
    return trunk


async def _check_trunk_name(client: AsyncTrunkingClient, sid: str, name: str) -> None:
    """Refuse to prune a trunk named otherwise than the spec, where the service says its name.

    Raises:
        InvalidParameterError: the trunk ``sid`` is named otherwise than ``name``.
    """
    try:
        trunk = await client.trunks.get(sid)
    except APIStatusError as error:
        if error.status_code not in CANNOT_LIST:
            raise
        return  # the service cannot say (or the trunk is gone: reading it will say so)
    if trunk.trunk_name != name:
        raise InvalidParameterError(
            "trunk_sid",
            sid,
            f"is the trunk named {trunk.trunk_name!r}, not the spec's {name!r}: pruning it "
            "would remove what another spec put there; nothing was changed. Give the sid of "
            f"the trunk named {name!r}, or the spec the name {trunk.trunk_name!r}",
        )


def _name_taken(error: ConflictError, name: str, *, listable: bool) -> ConflictError:
    why = (
        "no trunk of this account's listing has that name"
        if listable
        else "this service cannot list trunks to find it"
    )
    return ConflictError(
        f"a trunk named {name!r} exists already, but {why}: pass its sid "
        "(provision(spec, trunk_sid=...), or trunk_sid in the spec) to bring it to the spec",
        status_code=error.status_code,
        error_code=error.error_code,
        description=error.description,
        request_id=error.request_id,
        method=error.method,
        path=error.path,
        attempts=error.attempts,
    )


async def _read(
    client: AsyncTrunkingClient, sid: str, spec: TrunkSpec, *, read_credentials: bool
) -> _Current:
    """What the trunk has, each item keyed in the form the spec gives it (normalised).

    A listed item that cannot be normalised goes to ``unreadable``: it is never pruned.
    """
    current = _Current()
    wanted = [n.phone_number for n in spec.numbers]
    for number in await client.phone_numbers.list(sid):
        key = _normalized(lambda raw: _listed_number(raw, wanted), number.phone_number)
        current.keep("numbers", key, number.phone_number, number)
    for ip in await client.whitelisted_ips.list(sid):
        key = _normalized(_listed_ip, ip.cidr)
        current.keep("ips", key, ip.cidr, ip)
    for destination in await client.destination_uris.list(sid):
        raw = destination.destination
        key = _normalized(normalize_destination, raw)
        current.keep("destinations", key, raw, destination)
    if read_credentials:
        found = await client.credentials._current(sid)
        current.credentials_read, current.found_credentials = True, found
        if isinstance(found, list):
            current.credentials = {c.user_name: c for c in found}
    return current


def _normalized(normalize: Callable[[str], str | None], raw: str) -> str | None:
    """``normalize(raw)``, or ``None`` where it cannot be read."""
    try:
        return normalize(raw)
    except InvalidParameterError:
        return None


def _listed_number(raw: str, wanted: Sequence[str]) -> str | None:
    """A listed number in E.164 form, or ``None`` for one that cannot be read.

    A number the service lists in a national form (``919876543210``) is the spec's number it
    names, if any.
    """
    try:
        return normalize_phone_number(raw, possible=False)  # listed: it exists
    except InvalidParameterError:
        return next((number for number in wanted if _same_number(raw, number)), None)


def _listed_ip(raw: str) -> str:
    return "{}/{}".format(*parse_ip(raw, None, public=False))


def _split(wanted: Sequence[str], have: set[str], changes: Changes) -> list[str]:
    missing: list[str] = []
    for item in wanted:
        (changes.existing if item in have else missing).append(item)
    return missing


def _plan(report: ProvisionReport, current: _Current) -> None:
    spec = report.spec
    numbers = [n.phone_number for n in spec.numbers]
    report.numbers.created = _split(numbers, set(current.numbers), report.numbers)
    report.numbers.updated = [n.phone_number for n in _mode_changes(spec.numbers, current.numbers)]
    report.ips.created = _split(spec.ips, set(current.ips), report.ips)
    destinations = set(current.destinations)
    report.destinations.created = _split(spec.destinations, destinations, report.destinations)
    users = [c.user_name for c in spec.credentials]
    have = set(current.credentials or ())
    report.sip_credentials.created = _split(users, have, report.sip_credentials)
    _note_unreadable(report, current)
    if report.prune:
        for removal in _removals(spec, current):
            getattr(report, removal.part).removed.append(removal.item)


def _note_unreadable(report: ProvisionReport, current: _Current) -> None:
    for part, items in current.unreadable.items():
        getattr(report, part).unreadable.extend(items)


def _mode_changes(
    numbers: Sequence[NumberSpec], have: Mapping[str, PhoneNumber]
) -> list[NumberSpec]:
    """The spec's numbers in place whose listed mode is another than the spec gives."""
    return [
        number
        for number in numbers
        if number.mode is not None
        and number.phone_number in have
        and have[number.phone_number].mode not in (None, number.mode)
    ]


def _removals(spec: TrunkSpec, current: _Current) -> list[_Removal]:
    """What the trunk has and the spec does not list, in the order it is removed."""
    wanted: dict[str, set[str]] = {
        "destinations": set(spec.destinations),
        "ips": set(spec.ips),
        "numbers": {n.phone_number for n in spec.numbers},
        "sip_credentials": {c.user_name for c in spec.credentials},
    }
    have: dict[str, Mapping[str, PhoneNumber | WhitelistedIp | DestinationUri | SipCredential]]
    have = {
        "destinations": current.destinations,
        "ips": current.ips,
        "numbers": current.numbers,
        "sip_credentials": current.credentials or {},
    }
    return [
        _Removal(part, item, record.id)
        for part in _PRUNED
        for item, record in have[part].items()
        if item not in wanted[part]
    ]


async def _prune(
    client: AsyncTrunkingClient,
    sid: str,
    removals: list[_Removal],
    *,
    report: ProvisionReport,
    concurrency: int,
    steps: _Steps,
) -> None:
    """Remove ``removals``: each kind in turn (destinations first), ``concurrency`` at once."""
    await steps.started("prune", len(removals))
    done = Changes()
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    errors: dict[_Removal, ExotelError] = {}

    async def remove(removal: _Removal) -> None:
        resource, part, operation, _ = _PRUNED[removal.part]
        async with limiter:
            try:
                await getattr(client, resource)._remove_listed(
                    sid, part, operation, removal.record_id
                )
            except ExotelError as error:
                errors[removal] = error

    for part in _PRUNED:
        async with anyio.create_task_group() as group:
            for removal in removals:
                if removal.part == part:
                    group.start_soon(remove, removal)
    for removal in removals:
        changes: Changes = getattr(report, removal.part)
        label = f"{_PRUNED[removal.part][3]} {removal.item}"
        error = errors.get(removal)
        if error is None:
            changes.removed.append(removal.item)
            done.removed.append(label)
        else:
            changes.failed.append((removal.item, error))
            done.failed.append((label, error))
    await steps.finished("prune", done)


async def _apply_credentials(
    client: AsyncTrunkingClient,
    sid: str,
    current: _Current,
    passwords: Mapping[str, str | None],
    *,
    report: ProvisionReport,
    steps: _Steps,
) -> None:
    """Create the spec's missing credentials; then read the trunk's, for the PBX."""
    wanted = {c.user_name: c for c in report.spec.credentials}
    missing = _split(list(wanted), set(current.credentials or ()), report.sip_credentials)
    await steps.started("credentials", len(missing))
    for index, credential in enumerate(wanted[name] for name in missing):
        outcome = await _create_credential(
            client, sid, credential, passwords.get(credential.user_name), report=report, index=index
        )
        await steps.item("credentials", outcome)
    # The read before the changes still holds unless credentials were created or pruned since.
    unchanged = current.credentials_read and not missing and not report.sip_credentials.removed
    try:
        found = current.found_credentials if unchanged else await client.credentials._current(sid)
    except ExotelError as error:
        # Everything was applied: losing the report (a new trunk's sid, a generated
        # password) to a failed read would be worse than a report without credentials.
        report.credentials_error = error
    else:
        if isinstance(found, list):
            made = {c.user_name: c for c in report.generated_credentials}
            report.trunk_credentials = [
                attrs.evolve(c, password=made[c.user_name].password) if c.user_name in made else c
                for c in found
            ]
        else:
            report.credentials = found
    await steps.finished("credentials", report.sip_credentials)


async def _create_credential(
    client: AsyncTrunkingClient,
    sid: str,
    credential: CredentialSpec,
    password: str | None,
    *,
    report: ProvisionReport,
    index: int,
) -> ItemOutcome[SipCredential]:
    name = credential.user_name
    try:
        created = await client.credentials.create(
            sid, name, password, friendly_name=credential.friendly_name
        )
    except ConflictError:
        # Created since the trunk was read: in place, and left as it is.
        report.sip_credentials.existing.append(name)
        return ItemOutcome(name, "exists", index=index)
    except ExotelError as error:
        report.sip_credentials.failed.append((name, error))
        return ItemOutcome(name, "failed", error=error, index=index)
    # Only a generated password is the report's to hand over; the caller has the other.
    kept = created if credential.generated else attrs.evolve(created, password=None)
    report.created_credentials.append(kept)
    report.sip_credentials.created.append(name)
    return ItemOutcome(name, "created", kept, index=index)


async def _apply_numbers(
    client: AsyncTrunkingClient,
    sid: str,
    numbers: tuple[NumberSpec, ...],
    have: Mapping[str, PhoneNumber],
    *,
    report: ProvisionReport,
    concurrency: int,
    steps: _Steps,
) -> None:
    by_mode: dict[str | None, list[str]] = {}
    for number in numbers:
        if number.phone_number in have:
            report.numbers.existing.append(number.phone_number)
        else:
            by_mode.setdefault(number.mode, []).append(number.phone_number)
    await steps.started("numbers", sum(map(len, by_mode.values())))

    async def settled(outcome: ItemOutcome[PhoneNumber]) -> None:
        await steps.item("numbers", outcome)

    for mode, batch in by_mode.items():
        async with client.bulk.stream_phone_numbers(
            sid, batch, mode=mode, concurrency=concurrency
        ) as stream:
            result: BulkResult[PhoneNumber] = await collect(stream, settled)
        _merge(report.numbers, Changes.from_bulk(result, lambda o: str(o.item)))
    for number in _mode_changes(numbers, have):
        try:
            await client.phone_numbers.update(sid, number.phone_number, mode=str(number.mode))
        except ExotelError as error:
            report.numbers.failed.append((number.phone_number, error))
        else:
            report.numbers.updated.append(number.phone_number)
    await steps.finished("numbers", report.numbers)


async def _apply_ips(
    client: AsyncTrunkingClient,
    sid: str,
    ips: tuple[str, ...],
    have: set[str],
    *,
    report: ProvisionReport,
    concurrency: int,
    steps: _Steps,
) -> None:
    missing = _split(ips, have, report.ips)
    await steps.started("ips", len(missing))

    async def settled(outcome: ItemOutcome[WhitelistedIp]) -> None:
        await steps.item("ips", outcome)

    if missing:
        ips_stream = client.bulk.stream_whitelist_ips(sid, missing, concurrency=concurrency)
        async with ips_stream as stream:
            result: BulkResult[WhitelistedIp] = await collect(stream, settled)
        _merge(report.ips, Changes.from_bulk(result, lambda o: str(o.item)))
    await steps.finished("ips", report.ips)


async def _apply_destinations(
    client: AsyncTrunkingClient,
    sid: str,
    destinations: tuple[str, ...],
    have: set[str],
    *,
    report: ProvisionReport,
    steps: _Steps,
) -> None:
    missing = _split(destinations, have, report.destinations)
    await steps.started("destinations", len(missing))
    if missing:
        await _add_destinations(client, sid, missing, report)
    await steps.finished("destinations", report.destinations)


async def _add_destinations(
    client: AsyncTrunkingClient, sid: str, missing: list[str], report: ProvisionReport
) -> None:
    try:
        created: list[DestinationUri] = await client.destination_uris.add(sid, missing)
    except PartialFailureError as error:
        failed = {item for item, _ in error.failed}
        report.destinations.created.extend(d for d in missing if d not in failed)
        for item, item_error in error.failed:
            if item_error.status_code == 409:
                report.destinations.existing.append(item)
            else:
                report.destinations.failed.append((item, item_error))
    except ExotelError as error:
        report.destinations.failed.extend((item, error) for item in missing)
    else:
        report.destinations.created.extend(_destination_label(d.destination) for d in created)


def _merge(into: Changes, more: Changes) -> None:
    into.created.extend(more.created)
    into.existing.extend(more.existing)
    into.failed.extend(more.failed)
