"""Async Python SDK for Exotel's Voice Trunking API.

Start with :class:`AsyncTrunkingClient`; try it offline with
:class:`exotel_trunking.emulator.Emulator`.
"""

from ._bulk import BulkFailureError, BulkResult, BulkStream, ItemOutcome
from ._client import AsyncTrunkingClient
from ._config import ClientConfig
from ._diagnosis import Diagnosis, Finding
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ExotelError,
    InternalServerError,
    InvalidParameterError,
    MappedElsewhereError,
    NotFoundError,
    NotOnTrunkError,
    PartialFailureError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
)
from ._explain import Explanation, explain
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
from ._provision import (
    Changes,
    CredentialSpec,
    NumberSpec,
    ProvisionProgress,
    ProvisionReport,
    TrunkSpec,
)
from ._sync import TrunkingClient
from ._transport import RateLimit, RateLimiter, RateLimitWait, RetryEvent, RetryPolicy
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncTrunkingClient",
    "AuthenticationError",
    "BadRequestError",
    "BulkFailureError",
    "BulkResult",
    "BulkStream",
    "Changes",
    "ClientConfig",
    "ConfigurationError",
    "ConflictError",
    "CredentialSpec",
    "Credentials",
    "DestinationUri",
    "Diagnosis",
    "ExotelError",
    "Explanation",
    "Finding",
    "InternalServerError",
    "InvalidParameterError",
    "ItemOutcome",
    "MappedElsewhereError",
    "NotFoundError",
    "NotOnTrunkError",
    "NumberSpec",
    "PartialFailureError",
    "PermissionDeniedError",
    "PhoneNumber",
    "ProvisionProgress",
    "ProvisionReport",
    "RateLimit",
    "RateLimitError",
    "RateLimitWait",
    "RateLimiter",
    "ResponseDecodeError",
    "RetryEvent",
    "RetryPolicy",
    "SipCredential",
    "Trunk",
    "TrunkMap",
    "TrunkSetting",
    "TrunkSpec",
    "TrunkingClient",
    "UnprocessableEntityError",
    "WhitelistedIp",
    "__version__",
    "explain",
]
