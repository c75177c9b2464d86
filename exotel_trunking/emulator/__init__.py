"""A faithful in-memory fake of Exotel's Voice Trunking API, for tests and demos.

::

    from exotel_trunking.emulator import Emulator

    emulator = Emulator(api_key="k", api_token="t", account_sid="acme", dialect="live", seed=0)
    transport = emulator.transport()  # in process, any host
    async with httpx2.AsyncClient(transport=transport, base_url="https://api.in.exotel.com") as c:
        ...
    async with emulator.serve() as base_url:  # real HTTP/1.1 on 127.0.0.1
        ...

The account's state (``_state``) is kept apart from HTTP handling (``_app``) and from the two
front ends (``_transport`` in process, ``_server`` over h11). Knobs add latency, a token-bucket
rate limit, a concurrency limit and injected faults, all deterministic under ``seed``.
"""

from __future__ import annotations

from ._dialects import Dialect
from ._emulator import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_API_KEY,
    DEFAULT_API_TOKEN,
    Emulator,
    FaultSpec,
)
from ._errors import EmulatedError, ErrorKind
from ._faults import FAULT_KINDS, FaultKind, FaultRule, NamedFault, ScriptedFault
from ._inspection import ConnectionStats, Counters, RequestRecord
from ._knobs import Knobs, Latency
from ._messages import EmulatedRequest, EmulatedResponse, Exchange
from ._ratelimit import RateLimitConfig
from ._server import run_server
from ._standalone import serve_until_signalled
from ._state import (
    AccountState,
    CredentialRecord,
    DestinationRecord,
    PhoneNumberRecord,
    SettingRecord,
    SipCredentials,
    TrunkRecord,
    WhitelistedIpRecord,
)
from ._transport import EmulatorTransport

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_API_KEY",
    "DEFAULT_API_TOKEN",
    "FAULT_KINDS",
    "AccountState",
    "ConnectionStats",
    "Counters",
    "CredentialRecord",
    "DestinationRecord",
    "Dialect",
    "EmulatedError",
    "EmulatedRequest",
    "EmulatedResponse",
    "Emulator",
    "EmulatorTransport",
    "ErrorKind",
    "Exchange",
    "FaultKind",
    "FaultRule",
    "FaultSpec",
    "Knobs",
    "Latency",
    "NamedFault",
    "PhoneNumberRecord",
    "RateLimitConfig",
    "RequestRecord",
    "ScriptedFault",
    "SettingRecord",
    "SipCredentials",
    "TrunkRecord",
    "WhitelistedIpRecord",
    "run_server",
    "serve_until_signalled",
]
