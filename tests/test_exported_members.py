"""The public namespace: ``exotel_trunking.__all__`` is pinned, importable and documented."""

from __future__ import annotations

import inspect
import types
from importlib.metadata import version

import pytest

import exotel_trunking

#: Adding or removing a public name is a decision: update this list (and the CHANGELOG) with it.
PUBLIC_NAMES = [
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
#: Every name API.md promises is importable from ``exotel_trunking`` itself.
CONTRACT_NAMES = {
    "AsyncTrunkingClient",
    "Trunk",
    "PhoneNumber",
    "WhitelistedIp",
    "DestinationUri",
    "Credentials",
    "TrunkSetting",
    "ExotelError",
    "ConfigurationError",
    "InvalidParameterError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "RateLimiter",
    "InternalServerError",
    "PartialFailureError",
    "ResponseDecodeError",
    "RateLimit",
    "BulkResult",
    "ItemOutcome",
}
ERRORS = [
    name
    for name in PUBLIC_NAMES
    if inspect.isclass(getattr(exotel_trunking, name, None))
    and issubclass(getattr(exotel_trunking, name), BaseException)
]


def test_all_is_pinned() -> None:
    assert exotel_trunking.__all__ == PUBLIC_NAMES


def test_all_is_sorted() -> None:
    assert exotel_trunking.__all__ == sorted(exotel_trunking.__all__)


def test_all_holds_every_name_the_contract_promises() -> None:
    assert set(exotel_trunking.__all__) >= CONTRACT_NAMES


def test_every_public_attribute_of_the_package_is_in_all() -> None:
    public = {
        name
        for name, value in vars(exotel_trunking).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert public == set(exotel_trunking.__all__) - {"__version__"}


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_name_in_all_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from exotel_trunking import {name}", namespace)

    assert namespace[name] is getattr(exotel_trunking, name)


@pytest.mark.parametrize("name", [name for name in PUBLIC_NAMES if name != "__version__"])
def test_every_public_name_is_documented_and_defined_in_the_package(name: str) -> None:
    member = getattr(exotel_trunking, name)

    assert inspect.getdoc(member), f"{name} has no docstring"
    assert member.__module__.startswith("exotel_trunking.")


@pytest.mark.parametrize("name", ERRORS)
def test_every_public_error_derives_from_exotel_error(name: str) -> None:
    assert issubclass(getattr(exotel_trunking, name), exotel_trunking.ExotelError)


def test_invalid_parameter_error_is_also_a_value_error() -> None:
    assert issubclass(exotel_trunking.InvalidParameterError, ValueError)


def test_the_error_tree_follows_the_contract() -> None:
    status_errors = [
        exotel_trunking.BadRequestError,
        exotel_trunking.AuthenticationError,
        exotel_trunking.PermissionDeniedError,
        exotel_trunking.NotFoundError,
        exotel_trunking.ConflictError,
        exotel_trunking.UnprocessableEntityError,
        exotel_trunking.RateLimitError,
        exotel_trunking.InternalServerError,
    ]

    assert all(issubclass(cls, exotel_trunking.APIStatusError) for cls in status_errors)
    assert issubclass(exotel_trunking.APITimeoutError, exotel_trunking.APIConnectionError)


def test_version_is_the_installed_distribution_version() -> None:
    assert exotel_trunking.__version__ == version("exotel-trunking")
