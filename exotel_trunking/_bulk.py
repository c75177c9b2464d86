"""Bulk helpers: one bounded, streaming executor, and the per-item accounting it returns.

A fixed set of ``concurrency`` workers reads the input (any iterable or async iterable) one item
at a time, so at most ``concurrency`` items are ever held, whatever the input's size. A worker
validates its item; invalid items and duplicates are accounted for without being sent; any
other item goes to the normal resource method (which goes through the client's limiter and
retry policy: the bulk layer retries nothing itself). Outcomes reach the consumer over a buffer
of ``concurrency``, in the order items finish.

To find duplicates, each distinct item's key (an int: :mod:`._keyset`) is remembered once it is
settled, with the index of its first occurrence: in a :class:`~._keyset.KeyMap` if it is in
place, with its error if it failed. Items failed unsent by a fatal error are not remembered:
their duplicates meet the same fatal error. With ``deduplicate=False`` nothing is remembered
per item.

A 409 does not by itself mean "in place": Exotel answers 409 for a number already on this
trunk and for one mapped to another trunk. On the first 409 of a run the trunk's numbers are
read once (:class:`_TrunkNumbers`) and kept current with what the run maps; a number not
among them is ``"failed"`` with :class:`MappedElsewhereError`.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._exceptions import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ExotelError,
    InvalidParameterError,
    MappedElsewhereError,
    NotFoundError,
    PermissionDeniedError,
)
from ._keyset import KeyMap, network_key, phone_key
from ._models import PhoneNumber, TrunkMap, WhitelistedIp
from ._telemetry import traced_bulk
from ._validation import normalize_phone_number, parse_ip, validate_mode, validate_path_segment

if TYPE_CHECKING:
    from ._client import AsyncTrunkingClient

__all__ = ["Bulk", "BulkFailureError", "BulkResult", "BulkStream", "ItemOutcome", "Status"]

T = TypeVar("T")
P = TypeVar("P")

Status = Literal["created", "exists", "invalid", "failed"]
ProgressCallback = Callable[[int, "int | None"], object]

#: Errors after which no further item of the batch can succeed.
#: Errors that no other item can escape: the batch stops (unsent items fail with the same).
_FATAL = (AuthenticationError, PermissionDeniedError, NotFoundError, ConfigurationError)


@attrs.frozen
class ItemOutcome(Generic[T]):
    """What happened to one input item.

    Attributes:
        item: The item as given.
        status: ``"created"``; ``"exists"`` (already in place on this trunk: found by
            ``skip_existing``, or answered 409 and found in the trunk's listing);
            ``"invalid"`` (refused by validation, never sent); or ``"failed"`` (a number
            mapped to another trunk is ``"failed"`` with :class:`MappedElsewhereError`).
        value: The record, when known (always for ``"created"``).
        error: For ``"invalid"`` and ``"failed"``: the typed error (API errors carry
            ``attempts`` and ``request_id``).
        index: The item's position in the input.
        duplicate_of: For a repeat of an earlier item of the same input, the index of its
            first occurrence, whose outcome it shares (``"exists"`` when that one is in
            place; the record is on the first occurrence's outcome); ``None`` otherwise.
    """

    item: object
    status: Status
    value: T | None = None
    error: Exception | None = None
    index: int = 0
    duplicate_of: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the item is in place (``"created"`` or ``"exists"``)."""
        return self.status in ("created", "exists")


class BulkFailureError(ExotelError):
    """Raised by :meth:`BulkResult.raise_for_failures` when items failed or were invalid.

    Attributes:
        outcomes: The ``"failed"`` and ``"invalid"`` outcomes, in input order.
    """

    def __init__(self, outcomes: list[ItemOutcome[Any]]) -> None:
        self.outcomes = outcomes
        first = outcomes[0]
        super().__init__(
            f"{len(outcomes)} items were not applied; the first, {first.item!r} "
            f"(index {first.index}), is {first.status}: {first.error}"
        )


@attrs.frozen
class BulkResult(Generic[T]):
    """The outcome of a bulk call: one :class:`ItemOutcome` per input item, in input order.

    Attributes:
        outcomes: Every item's outcome, in input order.
        fatal_error: The error that stopped the batch (401, 403, 404 for the trunk, or a
            configuration that cannot send, such as the aiohttp transport on trio), if
            any; every item after it failed with it, unsent.
    """

    outcomes: list[ItemOutcome[T]]
    fatal_error: ExotelError | None = None

    def having(self, status: Status) -> list[ItemOutcome[T]]:
        """The outcomes with ``status``, in input order."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def created(self) -> list[ItemOutcome[T]]:
        """Outcomes of the items created by this call."""
        return self.having("created")

    @property
    def existing(self) -> list[ItemOutcome[T]]:
        """Outcomes of the items that were already there."""
        return self.having("exists")

    @property
    def invalid(self) -> list[ItemOutcome[T]]:
        """Outcomes of the items refused by validation (never sent)."""
        return self.having("invalid")

    @property
    def failed(self) -> list[ItemOutcome[T]]:
        """Outcomes of the items that failed."""
        return self.having("failed")

    @property
    def ok(self) -> bool:
        """Whether every item is in place (nothing failed or was invalid)."""
        return all(o.ok for o in self.outcomes)

    def counts(self) -> dict[Status, int]:
        """The number of outcomes by status."""
        counts: dict[Status, int] = {"created": 0, "exists": 0, "invalid": 0, "failed": 0}
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    def raise_for_failures(self) -> None:
        """Raise :class:`BulkFailureError` if any item failed or was invalid."""
        bad = [o for o in self.outcomes if not o.ok]
        if bad:
            raise BulkFailureError(bad)


@attrs.define
class _Run(Generic[P, T]):
    """The bookkeeping of one bulk run, shared by the producer and the workers."""

    send: Callable[[P], Awaitable[T]]
    #: An item's key (equal for equal items) and what ``send`` takes; raises if invalid.
    prepare: Callable[[object], tuple[int, P]]
    existing: dict[int, T]
    #: Whether duplicates are found (and sent once); if not, nothing below is kept per key.
    deduplicate: bool = True
    #: What a 409 means for an item: in place on this trunk, or a failure (numbers); if not
    #: given, a 409 means in place.
    on_conflict: Callable[[int, P, ConflictError], Awaitable[ExotelError | None]] | None = None
    #: Called with the key of each item created (to keep a listing current).
    on_created: Callable[[int], None] | None = None
    #: Keys whose first occurrence is in flight, with the duplicates waiting for its outcome.
    in_flight: dict[int, list[tuple[int, object]]] = attrs.Factory(dict)
    #: Keys settled in place ("created" or "exists"), with their first occurrence's index.
    settled: KeyMap = attrs.Factory(KeyMap)
    #: Keys whose first occurrence was sent and failed: its error and index.
    failed: dict[int, tuple[Exception, int]] = attrs.Factory(dict)
    fatal_error: ExotelError | None = None


class BulkStream(Generic[T]):
    """An async iterator of :class:`ItemOutcome` s, in the order items finish.

    Attributes:
        done: Outcomes received so far.
        total: The number of input items, if the input has a length.
        counts: Outcomes received so far, by status.
    """

    def __init__(
        self,
        receive: MemoryObjectReceiveStream[ItemOutcome[T]],
        run: _Run[Any, T],
        total: int | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        self._receive = receive
        self._run = run
        self._on_progress = on_progress
        self.total = total
        self.done = 0
        self.counts: dict[Status, int] = {"created": 0, "exists": 0, "invalid": 0, "failed": 0}

    @property
    def fatal_error(self) -> ExotelError | None:
        """The error that stopped the batch, if any."""
        return self._run.fatal_error

    def __aiter__(self) -> BulkStream[T]:
        return self

    async def __anext__(self) -> ItemOutcome[T]:
        try:
            try:
                # An outcome already waiting is taken without a trip through the event loop;
                # the buffer holds at most ``concurrency`` of them.
                outcome = self._receive.receive_nowait()
            except anyio.WouldBlock:
                outcome = await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
        self.done += 1
        self.counts[outcome.status] += 1
        if self._on_progress is not None:
            self._on_progress(self.done, self.total)
        return outcome


class Bulk:
    """``client.bulk``: map many numbers or whitelist many IPs, accounting for every item."""

    def __init__(self, client: AsyncTrunkingClient) -> None:
        self._client = client

    async def map_phone_numbers(
        self,
        trunk_sid: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        mode: str | None = None,
        concurrency: int = 20,
        on_progress: ProgressCallback | None = None,
        skip_existing: bool = False,
        deduplicate: bool = True,
    ) -> BulkResult[PhoneNumber]:
        """Map every number to the trunk; return one outcome per number, in input order.

        Args:
            trunk_sid: The trunk.
            numbers: Any iterable or async iterable of numbers (a generator of 100,000 is
                fine: it is read as the work goes).
            mode: The ``mode`` of every mapping (see ``phone_numbers.map``).
            concurrency: How many requests may be in flight at once.
            on_progress: Called as ``on_progress(done, total_or_None)`` after each item.
            skip_existing: List the trunk's numbers first and send only the others.
            deduplicate: Send a number that occurs more than once in the input only once; its
                later occurrences get the first one's outcome (``"exists"`` if it is in place,
                else ``"failed"`` with its error). This remembers every distinct number (about
                30 bytes each; see :meth:`stream_phone_numbers`). Pass ``False`` for input you
                know to be free of duplicates: nothing is remembered, and a duplicate is sent
                again and comes back ``"exists"`` (the API answers 409). Two copies of one
                number in flight at once can then race: where the service cannot say which
                trunk holds a number (the reference API), the copy whose 409 arrives before
                the other's answer may be reported ``"failed"`` as mapped elsewhere.

        Raises:
            InvalidParameterError: for a bad ``trunk_sid``, ``mode`` or ``concurrency``,
                before anything is sent. Bad numbers are ``"invalid"`` outcomes instead.
        """
        async with self.stream_phone_numbers(
            trunk_sid,
            numbers,
            mode=mode,
            concurrency=concurrency,
            on_progress=on_progress,
            skip_existing=skip_existing,
            deduplicate=deduplicate,
        ) as stream:
            return await collect(stream)

    async def whitelist_ips(
        self,
        trunk_sid: str,
        ips: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int = 20,
        on_progress: ProgressCallback | None = None,
        skip_existing: bool = False,
        deduplicate: bool = True,
    ) -> BulkResult[WhitelistedIp]:
        """Whitelist every address or range; return one outcome per item, in input order.

        Args:
            trunk_sid: The trunk.
            ips: ``"a.b.c.d"`` or ``"a.b.c.d/nn"`` items, from any (async) iterable.
            concurrency: How many requests may be in flight at once.
            on_progress: Called as ``on_progress(done, total_or_None)`` after each item.
            skip_existing: List the trunk's addresses first and send only the others.
            deduplicate: Send an address or range given more than once (``"a.b.c.d"`` and
                ``"a.b.c.d/32"`` are the same) only once, as in :meth:`map_phone_numbers`.
                Pass ``False`` for input known to be free of duplicates: nothing is remembered
                per item, and a duplicate is sent again and comes back ``"exists"``.
        """
        async with self.stream_whitelist_ips(
            trunk_sid,
            ips,
            concurrency=concurrency,
            on_progress=on_progress,
            skip_existing=skip_existing,
            deduplicate=deduplicate,
        ) as stream:
            return await collect(stream)

    @traced_bulk("bulk.map_phone_numbers")
    @asynccontextmanager
    async def stream_phone_numbers(
        self,
        trunk_sid: str,
        numbers: Iterable[str] | AsyncIterable[str],
        *,
        mode: str | None = None,
        concurrency: int = 20,
        on_progress: ProgressCallback | None = None,
        skip_existing: bool = False,
        deduplicate: bool = True,
    ) -> AsyncIterator[BulkStream[PhoneNumber]]:
        """Like :meth:`map_phone_numbers`, but yield outcomes as they finish.

        No outcome is kept once it is handed over, for inputs too large to keep results for::

            async with client.bulk.stream_phone_numbers(sid, numbers) as outcomes:
                async for outcome in outcomes:
                    journal.write(outcome)

        What does grow with the input is the record of the numbers already seen, which
        ``deduplicate`` needs: 20 to 30 bytes per distinct number (up to 50 while that
        table grows), plus the error of each number that failed. With
        ``deduplicate=False`` nothing is kept per number and memory stays flat whatever the
        input's size; a duplicate is then sent again and comes back ``"exists"``.

        Leaving the block early cancels the work still in flight.
        """
        validate_path_segment(trunk_sid, "trunk_sid")
        validate_mode(mode)
        phone_numbers = self._client.phone_numbers
        existing: dict[int, PhoneNumber] = {}
        if skip_existing:
            existing = await _by_key(
                phone_numbers.iter(trunk_sid), lambda n: phone_key(n.phone_number)
            )

        async def send(number: str) -> PhoneNumber:
            return await phone_numbers.map(trunk_sid, number, mode=mode)

        async def listed() -> AsyncIterator[int]:
            if skip_existing:  # read already: not again
                for key in existing:
                    yield key
                return
            async for record in phone_numbers.iter(trunk_sid):
                try:
                    yield phone_key(record.phone_number)
                except ValueError:
                    continue  # not in canonical form: no valid input item equals it

        async def holder(number: str) -> TrunkMap | None:
            return await self._client.trunk_maps.lookup(number)

        on_trunk = _TrunkNumbers(trunk_sid, listed, holder)
        async with _execute(
            numbers,
            prepare=_prepare_number,
            send=send,
            existing=existing,
            concurrency=concurrency,
            on_progress=on_progress,
            deduplicate=deduplicate,
            on_conflict=on_trunk.check,
            on_created=on_trunk.note,
        ) as stream:
            yield stream

    @traced_bulk("bulk.whitelist_ips")
    @asynccontextmanager
    async def stream_whitelist_ips(
        self,
        trunk_sid: str,
        ips: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int = 20,
        on_progress: ProgressCallback | None = None,
        skip_existing: bool = False,
        deduplicate: bool = True,
    ) -> AsyncIterator[BulkStream[WhitelistedIp]]:
        """Like :meth:`whitelist_ips`, but yield outcomes as they finish.

        Memory is as for :meth:`stream_phone_numbers`: flat with ``deduplicate=False``, else
        20 to 30 bytes per distinct address or range (up to 50 while that table grows).
        """
        validate_path_segment(trunk_sid, "trunk_sid")
        whitelisted_ips = self._client.whitelisted_ips
        existing: dict[int, WhitelistedIp] = {}
        if skip_existing:
            existing = await _by_key(
                whitelisted_ips.iter(trunk_sid), lambda w: network_key(w.ip, w.mask)
            )

        async def send(network: tuple[str, int]) -> WhitelistedIp:
            return await whitelisted_ips.add(trunk_sid, network[0], mask=network[1])

        async with _execute(
            ips,
            prepare=_prepare_network,
            send=send,
            existing=existing,
            concurrency=concurrency,
            on_progress=on_progress,
            deduplicate=deduplicate,
        ) as stream:
            yield stream


class _TrunkNumbers:
    """Which numbers a trunk holds: read once, on a run's first 409, and kept current.

    Exotel answers 409 both for a number already on the trunk and for one mapped to another;
    the trunk's own listing tells them apart. It is read once per run (the first conflict
    reads it, later ones wait for it) and every number the run maps is added to it, so that a
    409 for a number this run has just mapped still reads as in place. If the read fails, the
    item that needed it fails with that error and the next conflict reads again.

    A number not on the trunk is looked up (``trunk_maps.lookup``, one call for each such
    number) to name the trunk that holds it. The listing, not the lookup, decides for the
    numbers that are in place: re-running an import of 3,000 numbers costs one paged listing,
    not 3,000 lookups. Where the service has no lookup (the reference API), the first 404 or
    405 turns it off for the run; any other failure of a lookup only leaves the holder unnamed.
    """

    def __init__(
        self,
        trunk_sid: str,
        listed: Callable[[], AsyncIterator[int]],
        holder: Callable[[str], Awaitable[TrunkMap | None]],
    ) -> None:
        self._trunk_sid = trunk_sid
        self._listed = listed
        self._holder = holder
        self._can_look_up = True
        self._keys: KeyMap | None = None  # being filled, or filled once _read is set
        self._read = False
        self._lock = anyio.Lock()

    def note(self, key: int) -> None:
        """Record a number the run mapped (if the listing is read or being read)."""
        if self._keys is not None:
            self._keys.add(key)

    async def check(self, key: int, number: str, conflict: ConflictError) -> ExotelError | None:
        """``None`` if the number is on the trunk, else why it is not (or could not be read)."""
        async with self._lock:
            if not self._read:
                self._keys = KeyMap()
                try:
                    async for listed in self._listed():
                        self._keys.add(listed)
                except ExotelError as error:
                    self._keys = None
                    return error
                self._read = True
        assert self._keys is not None
        if key in self._keys:
            return None
        held_by = await self._held_by(number)
        if held_by == self._trunk_sid:  # mapped here since the listing was read
            self._keys.add(key)
            return None
        return MappedElsewhereError(
            conflict, phone_number=number, trunk_sid=self._trunk_sid, held_by=held_by
        )

    async def _held_by(self, number: str) -> str | None:
        """The sid of the trunk that holds ``number``, if the service says."""
        if not self._can_look_up:
            return None
        try:
            mapping = await self._holder(number)
        except APIStatusError as error:
            if isinstance(error, NotFoundError) or error.status_code in (404, 405):
                self._can_look_up = False  # no such call here: do not ask for every number
            return None
        except ExotelError:
            return None
        return mapping.trunk_sid if mapping is not None else None


def _prepare_number(item: object) -> tuple[int, str]:
    number = normalize_phone_number(item)
    return phone_key(number), number


def _prepare_network(item: object) -> tuple[int, tuple[str, int]]:
    network = parse_ip(item)
    return network_key(*network), network


async def _by_key(records: AsyncIterable[T], key: Callable[[T], int]) -> dict[int, T]:
    """The trunk's records by key, leaving out any that no valid input item could equal."""
    keyed: dict[int, T] = {}
    async for record in records:
        try:
            keyed[key(record)] = record
        except ValueError:
            continue  # not in canonical form: never matched an input item before keys were ints
    return keyed


async def collect(
    stream: BulkStream[T],
    on_outcome: Callable[[ItemOutcome[T]], Awaitable[None]] | None = None,
) -> BulkResult[T]:
    """Every outcome of ``stream``, in input order; ``on_outcome`` sees each as it comes."""
    slots: list[ItemOutcome[T] | None] = []
    async for outcome in stream:
        if on_outcome is not None:
            await on_outcome(outcome)
        if outcome.index >= len(slots):
            slots.extend([None] * (outcome.index + 1 - len(slots)))
        slots[outcome.index] = outcome
    outcomes = [o for o in slots if o is not None]
    assert len(outcomes) == len(slots), "every input item gets exactly one outcome"
    return BulkResult(outcomes, stream.fatal_error)


@asynccontextmanager
async def _execute(
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    prepare: Callable[[object], tuple[int, P]],
    send: Callable[[P], Awaitable[T]],
    existing: dict[int, T],
    concurrency: int,
    on_progress: ProgressCallback | None,
    deduplicate: bool,
    on_conflict: Callable[[int, P, ConflictError], Awaitable[ExotelError | None]] | None = None,
    on_created: Callable[[int], None] | None = None,
) -> AsyncIterator[BulkStream[T]]:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidParameterError("concurrency", concurrency, "expected an int >= 1")
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    send_out, receive_out = anyio.create_memory_object_stream[ItemOutcome[T]](concurrency)
    run: _Run[P, T] = _Run(
        send=send,
        prepare=prepare,
        existing=existing,
        deduplicate=deduplicate,
        on_conflict=on_conflict,
        on_created=on_created,
    )
    source = _Input(items)
    async with anyio.create_task_group() as tg, receive_out:
        for _ in range(concurrency):
            tg.start_soon(_work, run, source, send_out.clone())
        send_out.close()
        try:
            yield BulkStream(receive_out, run, total, on_progress)
        finally:
            tg.cancel_scope.cancel()  # a consumer that stops early stops the work
    if source.error is not None:
        raise source.error


class _Input:
    """The input, read one item at a time by whichever worker is free, in input order.

    Workers take items themselves rather than through a producer task: a hand-over between
    tasks costs two trips through the event loop per item. Taking is done under a lock, as an
    async generator cannot be advanced by two tasks at once (uncontended, it costs no trip).
    """

    def __init__(self, items: Iterable[Any] | AsyncIterable[Any]) -> None:
        self._async: AsyncIterator[Any] | None = None
        self._sync: Iterator[Any] = iter(())
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        else:
            self._sync = iter(items)
        self._lock = anyio.Lock(fast_acquire=True)
        self._index = -1
        self._ended = False
        #: The error the input raised, which ends the batch; re-raised once it is wound up.
        self.error: Exception | None = None

    async def take(self) -> tuple[int, object] | None:
        """The next item and its index, or ``None`` once the input is used up or failed."""
        async with self._lock:
            if self._ended:
                return None
            try:
                if self._async is not None:
                    item = await anext(self._async)
                else:
                    item = next(self._sync)
            except (StopIteration, StopAsyncIteration):
                self._ended = True
                return None
            except Exception as error:  # a failing input ends the batch, not the process
                self._ended, self.error = True, error
                return None
            self._index += 1
            return self._index, item


async def _work(
    run: _Run[P, T], source: _Input, output: MemoryObjectSendStream[ItemOutcome[T]]
) -> None:
    """Take items from the input until it ends; send each one not yet settled; emit outcomes."""
    async with output:
        while (taken := await source.take()) is not None:
            index, item = taken
            try:
                key, payload = run.prepare(item)
            except InvalidParameterError as error:
                await _emit(output, ItemOutcome(item, "invalid", error=error, index=index))
                continue
            outcome = _settled_outcome(run, key, item, index)
            if outcome is not None:
                await _emit(output, outcome)
                continue
            if run.deduplicate:
                waiting = run.in_flight.get(key)
                if waiting is not None:
                    waiting.append((index, item))  # sent once; waits for the first
                    continue
                run.in_flight[key] = []
            if run.fatal_error is not None:
                # Unsent, and not remembered: a later duplicate meets the same fatal error.
                outcome = ItemOutcome(item, "failed", error=run.fatal_error, index=index)
            else:
                outcome = await _attempt(run, item, index, key, payload)
                _remember(run, key, outcome)
            await _emit(output, outcome)
            for duplicate_index, duplicate in run.in_flight.pop(key, ()):
                await _emit(output, _duplicate_outcome(outcome, duplicate, duplicate_index))


async def _emit(output: MemoryObjectSendStream[ItemOutcome[T]], outcome: ItemOutcome[T]) -> None:
    """Hand ``outcome`` to the consumer, waiting only while its buffer is full.

    No checkpoint when there is room: the worker has just done a request's I/O or read the
    input, and a checkpoint per outcome would cost a trip through the event loop each.
    """
    try:
        output.send_nowait(outcome)
    except anyio.WouldBlock:
        await output.send(outcome)


def _settled_outcome(
    run: _Run[Any, T], key: int, item: object, index: int
) -> ItemOutcome[T] | None:
    """The outcome of an item whose key is already settled, without sending it; else None."""
    if key in run.existing:
        first = run.settled.get(key) if run.deduplicate else None
        if run.deduplicate and first is None:
            run.settled.add(key, index)
        return ItemOutcome(item, "exists", value=run.existing[key], index=index, duplicate_of=first)
    if not run.deduplicate:
        return None
    failed = run.failed.get(key)
    if failed is not None:
        error, first = failed
        return ItemOutcome(item, "failed", error=error, index=index, duplicate_of=first)
    first = run.settled.get(key)
    if first is not None:
        return ItemOutcome(item, "exists", index=index, duplicate_of=first)
    return None


def _duplicate_outcome(first: ItemOutcome[T], item: object, index: int) -> ItemOutcome[T]:
    """The outcome of a duplicate of the item whose outcome is ``first``."""
    if first.status == "failed":
        return ItemOutcome(item, "failed", error=first.error, index=index, duplicate_of=first.index)
    return ItemOutcome(item, "exists", index=index, duplicate_of=first.index)


def _remember(run: _Run[Any, T], key: int, outcome: ItemOutcome[T]) -> None:
    """Record how the first occurrence of ``key`` settled, for its later duplicates."""
    if not run.deduplicate:
        return
    if outcome.status == "failed":
        assert outcome.error is not None
        run.failed[key] = (outcome.error, outcome.index)
    else:
        run.settled.add(key, outcome.index)


async def _attempt(
    run: _Run[P, T], item: object, index: int, key: int, payload: P
) -> ItemOutcome[T]:
    try:
        value = await run.send(payload)
    except ConflictError as conflict:
        if run.on_conflict is None:
            return ItemOutcome(item, "exists", index=index)
        not_here = await run.on_conflict(key, payload, conflict)
        if not_here is None:
            return ItemOutcome(item, "exists", index=index)
        if isinstance(not_here, _FATAL):  # the trunk's listing could not be read at all
            run.fatal_error = run.fatal_error or not_here
        return ItemOutcome(item, "failed", error=not_here, index=index)
    except _FATAL as error:
        run.fatal_error = run.fatal_error or error
        return ItemOutcome(item, "failed", error=error, index=index)
    except ExotelError as error:
        return ItemOutcome(item, "failed", error=error, index=index)
    if run.on_created is not None:
        run.on_created(key)
    return ItemOutcome(item, "created", value=value, index=index)
