"""``TrunkingClient``: the synchronous client, built on the async one.

A ``TrunkingClient`` runs one :class:`AsyncTrunkingClient` in an event loop of its own, on a
daemon thread, and hands every call to it through anyio's blocking portal. There is one
implementation of every operation, retry, rate limit and bulk run: the async one. Any number
of threads may share one client; their calls run concurrently in its loop, sharing its
connection pool and rate limiter.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from types import EllipsisType, TracebackType
from typing import Any, Generic, ParamSpec, TypeVar

import anyio
import httpx2
from anyio.from_thread import BlockingPortal
from anyio.lowlevel import current_token

from . import _bulk, _resources
from ._bulk import BulkResult, ProgressCallback
from ._client import AsyncTrunkingClient
from ._config import ClientConfig
from ._diagnosis import Diagnosis
from ._exceptions import APIConnectionError
from ._models import (
    Credentials,
    DestinationUri,
    PhoneNumber,
    SipCredential,
    Trunk,
    TrunkMap,
    TrunkSetting,
    WhitelistedIp,
)
from ._provision import ProvisionProgress, ProvisionReport, TrunkSpec
from ._telemetry import carry_context
from ._transport import RetryPolicy

__all__ = ["TrunkingClient"]

P = ParamSpec("P")
T = TypeVar("T")

_IN_EVENT_LOOP = (
    "TrunkingClient blocks its thread, so it cannot be used inside a running event loop: "
    "use AsyncTrunkingClient there (await client.trunks.create(...))"
)


def _refuse_event_loop() -> None:
    """Raise if the calling thread runs an event loop (asyncio or trio).

    Raises:
        RuntimeError: pointing to :class:`AsyncTrunkingClient`.
    """
    try:
        current_token()
    except RuntimeError:  # anyio's NoEventLoopError: no loop here, as it should be
        return
    raise RuntimeError(_IN_EVENT_LOOP)


class _Loop:
    """An event loop on a daemon thread, and the portal into it."""

    def __init__(self) -> None:
        ready: queue.Queue[BlockingPortal] = queue.Queue(maxsize=1)

        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.put(portal)
                await portal.sleep_until_stopped()

        # A daemon thread: a client never closed does not keep the program from exiting.
        self._thread = threading.Thread(
            target=anyio.run, args=(serve,), name="exotel-trunking", daemon=True
        )
        self._thread.start()
        self.portal = ready.get()
        self.stopped = False

    def call(self, function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function(*args, **kwargs)`` in the loop and return its result.

        Raises:
            RuntimeError: called inside a running event loop.
            APIConnectionError: the client has been closed.
        """
        _refuse_event_loop()
        if self.stopped:
            raise APIConnectionError("the client has been closed")
        # The caller's current span (if traced) is the parent of the call's, in the loop's thread.
        return self.portal.call(functools.partial(carry_context(function), *args, **kwargs))

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """The items of an async iterator of the loop, one call a step."""
        while True:
            try:
                yield self.call(items.__anext__)
            except StopAsyncIteration:
                return

    def stop(self) -> None:
        """Stop the loop and wait for its thread; later calls fail."""
        self.stopped = True
        self.portal.call(self.portal.stop)
        self._thread.join()


R = TypeVar("R")


class _Resource(Generic[R]):
    """A sync resource: the async one it calls, and the loop it calls it in."""

    def __init__(self, resource: R, loop: _Loop) -> None:
        self._async = resource
        self._loop = loop

    def __repr__(self) -> str:
        return repr(self._async)


class Trunks(_Resource[_resources.Trunks]):
    """Create, list, find, change and delete trunks (see ``AsyncTrunkingClient.trunks``)."""

    def create(
        self, trunk_name: str, *, nso_code: str = "ANY-ANY", domain_name: str | None = None
    ) -> Trunk:
        """Create a trunk; as ``AsyncTrunkingClient.trunks.create``."""
        return self._loop.call(
            self._async.create, trunk_name, nso_code=nso_code, domain_name=domain_name
        )

    def delete(self, trunk_sid: str) -> None:
        """Delete a trunk; as ``AsyncTrunkingClient.trunks.delete``."""
        return self._loop.call(self._async.delete, trunk_sid)

    def list(self) -> list[Trunk]:
        """Every trunk of the account (all pages)."""
        return self._loop.call(self._async.list)

    def iter(self) -> Iterator[Trunk]:
        """The account's trunks, fetching each page as the loop reaches it."""
        return self._loop.iterate(self._async.iter())

    def find(self, trunk_name: str) -> Trunk | None:
        """The trunk called ``trunk_name``, or ``None``; as ``trunks.find``."""
        return self._loop.call(self._async.find, trunk_name)

    def get(self, trunk_sid: str) -> Trunk:
        """One trunk by its sid; as ``AsyncTrunkingClient.trunks.get``."""
        return self._loop.call(self._async.get, trunk_sid)

    def update(
        self, trunk_sid: str, *, trunk_name: str | None = None, nso_code: str | None = None
    ) -> Trunk:
        """Rename a trunk or change its NSO code; as ``trunks.update``."""
        return self._loop.call(
            self._async.update, trunk_sid, trunk_name=trunk_name, nso_code=nso_code
        )


class PhoneNumbers(_Resource[_resources.PhoneNumbers]):
    """Map phone numbers to trunks (see ``AsyncTrunkingClient.phone_numbers``)."""

    def map(self, trunk_sid: str, phone_number: str, *, mode: str | None = None) -> PhoneNumber:
        """Map a number to a trunk; as ``AsyncTrunkingClient.phone_numbers.map``."""
        return self._loop.call(self._async.map, trunk_sid, phone_number, mode=mode)

    def list(self, trunk_sid: str) -> list[PhoneNumber]:
        """Every number of a trunk (all pages)."""
        return self._loop.call(self._async.list, trunk_sid)

    def update(self, trunk_sid: str, phone_number: str, *, mode: str) -> PhoneNumber:
        """Change a mapped number's mode; as ``AsyncTrunkingClient.phone_numbers.update``."""
        return self._loop.call(self._async.update, trunk_sid, phone_number, mode=mode)

    def remove(self, trunk_sid: str, phone_number: str) -> PhoneNumber:
        """Unmap a number; as ``AsyncTrunkingClient.phone_numbers.remove``."""
        return self._loop.call(self._async.remove, trunk_sid, phone_number)

    def iter(self, trunk_sid: str) -> Iterator[PhoneNumber]:
        """The numbers of a trunk, fetching each page as the loop reaches it."""
        return self._loop.iterate(self._async.iter(trunk_sid))


class WhitelistedIps(_Resource[_resources.WhitelistedIps]):
    """Whitelist addresses (see ``AsyncTrunkingClient.whitelisted_ips``)."""

    def add(self, trunk_sid: str, ip: str, *, mask: int | None = None) -> WhitelistedIp:
        """Whitelist an address or range; as ``AsyncTrunkingClient.whitelisted_ips.add``."""
        return self._loop.call(self._async.add, trunk_sid, ip, mask=mask)

    def list(self, trunk_sid: str) -> list[WhitelistedIp]:
        """Every whitelisted address of a trunk (all pages)."""
        return self._loop.call(self._async.list, trunk_sid)

    def update(self, trunk_sid: str, ip: str, new_ip: str) -> WhitelistedIp:
        """Change a whitelisted entry; as ``AsyncTrunkingClient.whitelisted_ips.update``."""
        return self._loop.call(self._async.update, trunk_sid, ip, new_ip)

    def remove(self, trunk_sid: str, ip: str) -> WhitelistedIp:
        """Remove an address or range; as ``AsyncTrunkingClient.whitelisted_ips.remove``."""
        return self._loop.call(self._async.remove, trunk_sid, ip)

    def iter(self, trunk_sid: str) -> Iterator[WhitelistedIp]:
        """The whitelisted addresses of a trunk, fetching each page as it is reached."""
        return self._loop.iterate(self._async.iter(trunk_sid))


class DestinationUris(_Resource[_resources.DestinationUris]):
    """Destinations for inbound calls (see ``AsyncTrunkingClient.destination_uris``)."""

    def add(self, trunk_sid: str, destinations: str | Sequence[str]) -> list[DestinationUri]:
        """Add destinations; as ``AsyncTrunkingClient.destination_uris.add``."""
        return self._loop.call(self._async.add, trunk_sid, destinations)

    def list(self, trunk_sid: str) -> list[DestinationUri]:
        """Every destination of a trunk (all pages)."""
        return self._loop.call(self._async.list, trunk_sid)

    def update(
        self,
        trunk_sid: str,
        destination: str,
        *,
        priority: int | None = None,
        weight: int | None = None,
    ) -> DestinationUri:
        """Change a destination's priority or weight; as ``destination_uris.update``."""
        return self._loop.call(
            self._async.update, trunk_sid, destination, priority=priority, weight=weight
        )

    def remove(self, trunk_sid: str, destination: str) -> DestinationUri:
        """Remove a destination; as ``AsyncTrunkingClient.destination_uris.remove``."""
        return self._loop.call(self._async.remove, trunk_sid, destination)

    def iter(self, trunk_sid: str) -> Iterator[DestinationUri]:
        """The destinations of a trunk, fetching each page as it is reached."""
        return self._loop.iterate(self._async.iter(trunk_sid))


class CredentialsResource(_Resource[_resources.CredentialsResource]):
    """A trunk's SIP credentials (see ``AsyncTrunkingClient.credentials``)."""

    def get(self, trunk_sid: str) -> Credentials | None:
        """The trunk's SIP credentials, or ``None`` if none were issued yet."""
        return self._loop.call(self._async.get, trunk_sid)

    def create(
        self,
        trunk_sid: str,
        user_name: str,
        password: str | None = None,
        *,
        friendly_name: str | None = None,
    ) -> SipCredential:
        """Create a SIP digest credential; its password is on the result, once."""
        return self._loop.call(
            self._async.create, trunk_sid, user_name, password, friendly_name=friendly_name
        )

    def list(self, trunk_sid: str) -> list[SipCredential]:
        """Every SIP digest credential of a trunk (all pages); never a password."""
        return self._loop.call(self._async.list, trunk_sid)

    def iter(self, trunk_sid: str) -> Iterator[SipCredential]:
        """The trunk's SIP digest credentials, fetching each page as it is reached."""
        return self._loop.iterate(self._async.iter(trunk_sid))

    def update(
        self,
        trunk_sid: str,
        credential_id: str,
        *,
        user_name: str | None = None,
        password: str | None = None,
        friendly_name: str | None = None,
    ) -> SipCredential:
        """Change a credential; as ``AsyncTrunkingClient.credentials.update``."""
        return self._loop.call(
            self._async.update,
            trunk_sid,
            credential_id,
            user_name=user_name,
            password=password,
            friendly_name=friendly_name,
        )

    def rotate(self, trunk_sid: str, credential_id: str) -> SipCredential:
        """Give a credential a new generated password, on the result's ``.password``."""
        return self._loop.call(self._async.rotate, trunk_sid, credential_id)

    def delete(self, trunk_sid: str, credential_id: str) -> SipCredential:
        """Delete a credential; as ``AsyncTrunkingClient.credentials.delete``."""
        return self._loop.call(self._async.delete, trunk_sid, credential_id)


class Settings(_Resource[_resources.Settings]):
    """Trunk settings (see ``AsyncTrunkingClient.settings``)."""

    def set_alias(self, trunk_sid: str, phone_number: str) -> TrunkSetting:
        """Set the caller-ID alias; as ``AsyncTrunkingClient.settings.set_alias``."""
        return self._loop.call(self._async.set_alias, trunk_sid, phone_number)

    def list(self, trunk_sid: str) -> list[TrunkSetting]:
        """Every setting of a trunk (all pages)."""
        return self._loop.call(self._async.list, trunk_sid)

    def iter(self, trunk_sid: str) -> Iterator[TrunkSetting]:
        """The trunk's settings, fetching each page as it is reached."""
        return self._loop.iterate(self._async.iter(trunk_sid))

    def delete(self, trunk_sid: str, name: str) -> None:
        """Delete a setting; as ``AsyncTrunkingClient.settings.delete``."""
        return self._loop.call(self._async.delete, trunk_sid, name)


class TrunkMaps(_Resource[_resources.TrunkMaps]):
    """Which trunk holds a number (see ``AsyncTrunkingClient.trunk_maps``)."""

    def lookup(self, phone_number: str) -> TrunkMap | None:
        """The mapping of a number, or ``None``; as ``trunk_maps.lookup``."""
        return self._loop.call(self._async.lookup, phone_number)


class Bulk(_Resource[_bulk.Bulk]):
    """Bulk helpers (see ``AsyncTrunkingClient.bulk``).

    ``on_progress`` is called in the client's own thread: keep it quick and thread-safe.
    """

    def map_phone_numbers(
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
        """Map every number; as ``AsyncTrunkingClient.bulk.map_phone_numbers``."""
        return self._loop.call(
            self._async.map_phone_numbers,
            trunk_sid,
            numbers,
            mode=mode,
            concurrency=concurrency,
            on_progress=on_progress,
            skip_existing=skip_existing,
            deduplicate=deduplicate,
        )

    def whitelist_ips(
        self,
        trunk_sid: str,
        ips: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int = 20,
        on_progress: ProgressCallback | None = None,
        skip_existing: bool = False,
        deduplicate: bool = True,
    ) -> BulkResult[WhitelistedIp]:
        """Whitelist every address or range; as ``AsyncTrunkingClient.bulk.whitelist_ips``."""
        return self._loop.call(
            self._async.whitelist_ips,
            trunk_sid,
            ips,
            concurrency=concurrency,
            on_progress=on_progress,
            skip_existing=skip_existing,
            deduplicate=deduplicate,
        )


class TrunkingClient:
    """A synchronous client for scripts, Django and Flask views and Celery tasks.

    It takes the same arguments as :class:`AsyncTrunkingClient` and has the same resources,
    methods, models, errors, retries, rate limiting, bulk helpers and ``provision``, called
    without ``await``. Inside it runs one ``AsyncTrunkingClient`` in an event loop of its own,
    on one daemon thread per client: share one client between threads (they share its
    connection pool and rate limiter) rather than making one per request. Use it as a context
    manager, or call :meth:`close`. An ``http_client=`` given to it is used in its event loop
    and closed with it (unlike with the async client): nothing else could close it.

    Raises:
        RuntimeError: made or called inside a running event loop (use the async client there).
        ConfigurationError: as :class:`AsyncTrunkingClient`.
    """

    trunks: Trunks
    phone_numbers: PhoneNumbers
    whitelisted_ips: WhitelistedIps
    destination_uris: DestinationUris
    credentials: CredentialsResource
    settings: Settings
    trunk_maps: TrunkMaps
    bulk: Bulk

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _refuse_event_loop()
        client = AsyncTrunkingClient(*args, **kwargs)  # configuration errors raise here
        # An http_client= can be used, and closed, only in this client's event loop: once its
        # thread has ended nothing could close it, so close() closes it too.
        self._http_client: httpx2.AsyncClient | None = kwargs.get("http_client")
        self._setup(client, _Loop(), owner=True)

    def _setup(self, client: AsyncTrunkingClient, loop: _Loop, *, owner: bool) -> None:
        self._client = client
        self._loop = loop
        self._owner = owner
        self._closed = False
        self.trunks = Trunks(client.trunks, loop)
        self.phone_numbers = PhoneNumbers(client.phone_numbers, loop)
        self.whitelisted_ips = WhitelistedIps(client.whitelisted_ips, loop)
        self.destination_uris = DestinationUris(client.destination_uris, loop)
        self.credentials = CredentialsResource(client.credentials, loop)
        self.settings = Settings(client.settings, loop)
        self.trunk_maps = TrunkMaps(client.trunk_maps, loop)
        self.bulk = Bulk(client.bulk, loop)

    @property
    def config(self) -> ClientConfig:
        """The resolved configuration (the token is masked in its ``repr``)."""
        return self._client.config

    @property
    def account_sid(self) -> str:
        """The account this client acts on."""
        return self._client.account_sid

    def with_options(
        self,
        *,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx2.Timeout | None = None,
        attempt_timeout: float | EllipsisType | None = ...,
    ) -> TrunkingClient:
        """A client with other retry or timeout settings sharing this one's pool and thread.

        As ``AsyncTrunkingClient.with_options``. Closing it does nothing.
        """
        derived = object.__new__(TrunkingClient)
        derived._http_client = None
        derived._setup(
            self._client.with_options(
                max_retries=max_retries,
                retry=retry,
                timeout=timeout,
                attempt_timeout=attempt_timeout,
            ),
            self._loop,
            owner=False,
        )
        return derived

    def provision(
        self,
        spec: TrunkSpec,
        trunk_sid: str | None = None,
        dry_run: bool = False,
        *,
        prune: bool = False,
        concurrency: int = 20,
        on_trunk_created: Callable[[Trunk], object] | None = None,
        on_progress: Callable[[ProvisionProgress], object] | None = None,
    ) -> ProvisionReport:
        """Bring a trunk to ``spec``; as ``AsyncTrunkingClient.provision``.

        ``on_trunk_created`` and ``on_progress`` are called in the client's event-loop thread.
        """
        return self._loop.call(
            self._client.provision,
            spec,
            trunk_sid,
            dry_run,
            prune=prune,
            concurrency=concurrency,
            on_trunk_created=on_trunk_created,
            on_progress=on_progress,
        )

    def diagnose(self, trunk_sid: str, *, probe: bool = False) -> Diagnosis:
        """Why calls on a trunk will fail; as ``AsyncTrunkingClient.diagnose``."""
        return self._loop.call(self._client.diagnose, trunk_sid, probe=probe)

    def close(self) -> None:
        """Close the connection pool (an ``http_client=`` given too) and stop the thread.

        A derived client (:meth:`with_options`) closes nothing.
        """
        if self._closed or not self._owner:
            return
        self._closed = True
        try:
            self._loop.call(self._client.aclose)
            if self._http_client is not None:
                self._loop.call(self._http_client.aclose)
        finally:
            self._loop.stop()

    def __enter__(self) -> TrunkingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"TrunkingClient(account_sid={self.account_sid!r}, base_url={self.config.base_url!r})"
        )
