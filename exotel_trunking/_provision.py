"""Declarative provisioning: describe a tenant's trunk once, apply it as often as you like.

:class:`TrunkSpec` is the desired state; :func:`provision` reads the trunk's current state,
works out what is missing, and adds it in dependency order (numbers and IPs through the bulk
executor, IPs before destinations, the alias last). Nothing is ever removed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._bulk import BulkResult, ItemOutcome, collect
from ._exceptions import APIStatusError, ExotelError, InvalidParameterError, PartialFailureError
from ._models import Credentials, DestinationUri, PhoneNumber, Trunk, WhitelistedIp
from ._telemetry import provision_phase
from ._validation import (
    normalize_destination,
    normalize_phone_number,
    parse_ip,
    validate_mode,
    validate_path_segment,
    validate_trunk_name,
)

if TYPE_CHECKING:
    from ._client import AsyncTrunkingClient

__all__ = [
    "Changes",
    "NumberSpec",
    "ProvisionProgress",
    "ProvisionReport",
    "TrunkSpec",
    "provision",
]

#: The phases of a provisioning run, in order (``trunk`` for a new trunk, ``read`` for an
#: existing one).
Phase = Literal["trunk", "read", "numbers", "ips", "destinations", "alias", "credentials"]


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
        trunk_sid: The existing trunk to bring to this state, if it was created already.
    """

    name: str = attrs.field(validator=lambda _, __, v: validate_trunk_name(v))
    numbers: tuple[NumberSpec, ...] = attrs.field(default=(), converter=_numbers)
    ips: tuple[str, ...] = attrs.field(default=(), converter=_ips)
    destinations: tuple[str, ...] = attrs.field(default=(), converter=_destinations)
    alias: str | None = attrs.field(default=None, converter=_alias)
    nso_code: str = "ANY-ANY"
    domain_name: str | None = None
    trunk_sid: str | None = attrs.field(default=None, converter=_sid)

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
        failed: ``(item, error)`` pairs for the items that could not be added.
    """

    created: list[str] = attrs.Factory(list)
    existing: list[str] = attrs.Factory(list)
    failed: list[tuple[str, Exception]] = attrs.Factory(list)

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
        trunk: The created trunk's record, when it was created by this call.
        numbers: What happened to the numbers.
        ips: What happened to the whitelisted IPs.
        destinations: What happened to the destination URIs.
        alias: The alias set (or to set); the API cannot read an alias back, so it is
            sent on every apply. Sending the same value again changes nothing.
        alias_error: Why setting the alias failed, if it did.
        credentials: The trunk's SIP credentials, for the PBX (never fetched in a plan).
        credentials_error: Why the credentials could not be read, if they could not; the
            changes were made all the same.
    """

    spec: TrunkSpec
    dry_run: bool
    trunk_sid: str | None = None
    trunk_created: bool = False
    trunk: Trunk | None = None
    numbers: Changes = attrs.Factory(Changes)
    ips: Changes = attrs.Factory(Changes)
    destinations: Changes = attrs.Factory(Changes)
    alias: str | None = None
    alias_error: Exception | None = None
    credentials: Credentials | None = None
    credentials_error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing failed."""
        parts = (self.numbers, self.ips, self.destinations)
        return self.alias_error is None and not any(part.failed for part in parts)

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) created. Re-sending the alias does not count."""
        parts = (self.numbers, self.ips, self.destinations)
        return self.trunk_created or any(part.created for part in parts)


@attrs.frozen
class ProvisionProgress:
    """What ``provision(on_progress=)`` receives as the work goes.

    Every phase that runs is ``"started"`` and then ``"finished"``; between the two, the
    ``numbers`` and ``ips`` phases report an ``"item"`` for every item sent, as it settles.

    Attributes:
        phase: ``"trunk"`` (a new trunk), ``"read"`` (an existing trunk's numbers, IPs and
            destinations are read), ``"numbers"``, ``"ips"``, ``"destinations"``,
            ``"alias"`` or ``"credentials"``.
        event: ``"started"``, ``"item"`` or ``"finished"``.
        total: For ``"started"``: the items the phase will send (those not in place).
        outcome: For ``"item"``: the item's outcome, as the bulk helpers give it.
        changes: For ``"finished"`` of ``numbers``, ``ips`` and ``destinations``: what the
            phase did (the report's :class:`Changes` for it).
    """

    phase: Phase
    event: Literal["started", "item", "finished"]
    total: int | None = None
    outcome: ItemOutcome[Any] | None = None
    changes: Changes | None = None


class _Steps:
    """Marks the phases of a run, for the caller's ``on_progress`` and for tracing."""

    def __init__(self, on_progress: Callable[[ProvisionProgress], object] | None) -> None:
        self._on_progress = on_progress

    async def started(self, phase: Phase, total: int | None = None) -> None:
        provision_phase(phase)
        await self._tell(ProvisionProgress(phase, "started", total=total))

    async def item(self, phase: Phase, outcome: ItemOutcome[Any]) -> None:
        await self._tell(ProvisionProgress(phase, "item", outcome=outcome))

    async def finished(self, phase: Phase, changes: Changes | None = None) -> None:
        await self._tell(ProvisionProgress(phase, "finished", changes=changes))

    async def _tell(self, progress: ProvisionProgress) -> None:
        if self._on_progress is not None:
            told = self._on_progress(progress)
            if inspect.isawaitable(told):
                await told


def _bare(destination: str) -> str:
    text = destination.lower()
    return text[4:] if text.startswith("sip:") else text


async def provision(
    client: AsyncTrunkingClient,
    spec: TrunkSpec,
    *,
    trunk_sid: str | None = None,
    dry_run: bool = False,
    concurrency: int = 20,
    on_trunk_created: Callable[[Trunk], object] | None = None,
    on_progress: Callable[[ProvisionProgress], object] | None = None,
) -> ProvisionReport:
    """Bring a trunk to ``spec``; see :meth:`AsyncTrunkingClient.provision`."""
    sid = _sid(trunk_sid) or spec.trunk_sid
    report = ProvisionReport(spec=spec, dry_run=dry_run, trunk_sid=sid, alias=spec.alias)
    steps = _Steps(on_progress)
    if sid is None:
        report.trunk_created = True
        if dry_run:
            report.numbers.created = [n.phone_number for n in spec.numbers]
            report.ips.created = list(spec.ips)
            report.destinations.created = list(spec.destinations)
            return report
        await steps.started("trunk", 1)
        report.trunk = await client.trunks.create(
            spec.name, nso_code=spec.nso_code, domain_name=spec.domain_name
        )
        sid = report.trunk_sid = report.trunk.trunk_sid
        if on_trunk_created is not None:
            handed = on_trunk_created(report.trunk)
            if inspect.isawaitable(handed):
                await handed
        await steps.finished("trunk")
        have_numbers: set[str] = set()
        have_ips: set[str] = set()
        have_destinations: set[str] = set()
    else:
        await steps.started("read")
        have_numbers = {n.phone_number for n in await client.phone_numbers.list(sid)}
        have_ips = {w.cidr for w in await client.whitelisted_ips.list(sid)}
        have_destinations = {_bare(d.destination) for d in await client.destination_uris.list(sid)}
        await steps.finished("read")
    if dry_run:
        _plan(report, have_numbers, have_ips, have_destinations)
        return report
    await _apply_numbers(
        client, sid, spec.numbers, have_numbers, report=report, concurrency=concurrency, steps=steps
    )
    await _apply_ips(
        client, sid, spec.ips, have_ips, report=report, concurrency=concurrency, steps=steps
    )
    await _apply_destinations(
        client, sid, spec.destinations, have_destinations, report=report, steps=steps
    )
    if spec.alias is not None:
        await steps.started("alias", 1)
        try:
            await client.settings.set_alias(sid, spec.alias)
        except ExotelError as error:
            report.alias_error = error
        await steps.finished("alias")
    await steps.started("credentials", 1)
    try:
        report.credentials = await client.credentials.get(sid)
    except ExotelError as error:
        # Everything was applied: losing the report (and a new trunk's sid) to a failed read
        # would be worse than a report without credentials.
        report.credentials_error = error
    await steps.finished("credentials")
    return report


def _split(wanted: Sequence[str], have: set[str], changes: Changes) -> list[str]:
    missing: list[str] = []
    for item in wanted:
        (changes.existing if item in have else missing).append(item)
    return missing


def _plan(report: ProvisionReport, numbers: set[str], ips: set[str], dests: set[str]) -> None:
    spec = report.spec
    report.numbers.created = _split([n.phone_number for n in spec.numbers], numbers, report.numbers)
    report.ips.created = _split(spec.ips, ips, report.ips)
    report.destinations.created = _split(spec.destinations, dests, report.destinations)


async def _apply_numbers(
    client: AsyncTrunkingClient,
    sid: str,
    numbers: tuple[NumberSpec, ...],
    have: set[str],
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
            target = report.destinations
            if _is_conflict(item_error):
                target.existing.append(item)
            else:
                target.failed.append((item, item_error))
    except ExotelError as error:
        report.destinations.failed.extend((item, error) for item in missing)
    else:
        report.destinations.created.extend(_bare(d.destination) for d in created)


def _is_conflict(error: APIStatusError) -> bool:
    return error.status_code == 409


def _merge(into: Changes, more: Changes) -> None:
    into.created.extend(more.created)
    into.existing.extend(more.existing)
    into.failed.extend(more.failed)
