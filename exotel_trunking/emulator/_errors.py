"""The errors the emulated API answers with, and the catalogue they come from.

State operations and request handlers raise :class:`EmulatedError`. Its fields hold the
reference document's values (HTTP status, Exotel error code, message); :attr:`EmulatedError.kind`
says what went wrong, so that the live dialect can re-map the few errors it reports differently
(a duplicate under HTTP 200 with error 1008, for example) without the state knowing dialects.
"""

from __future__ import annotations

import enum
from http import HTTPStatus

from ._rules import RefusedError

__all__ = ["EmulatedError", "ErrorKind"]


class ErrorKind(enum.Enum):
    """What an :class:`EmulatedError` is about, independent of how a dialect words it."""

    MISSING_FIELD = "missing_field"
    INVALID_PARAMETER = "invalid_parameter"
    INVALID_DESTINATION = "invalid_destination"
    NOT_WHITELISTED = "not_whitelisted"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    ROUTE_NOT_FOUND = "route_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    BAD_JSON = "bad_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAVAILABLE = "unavailable"
    INJECTED = "injected"


class EmulatedError(Exception):
    """An error answer of the emulated API, as the reference document words it.

    Attributes:
        status: The HTTP status, e.g. 404.
        code: Exotel's error code (``error_data.code``), e.g. 1003.
        message: Exotel's short message, e.g. ``"Resource not found"``.
        description: The longer, request-specific description.
        kind: What went wrong, for dialects that word it differently.
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        description: str,
        *,
        kind: ErrorKind = ErrorKind.INVALID_PARAMETER,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.description = description
        self.kind = kind
        super().__init__(f"{status} error {code}: {message} ({description})")

    # Constructors, one per catalogue entry, so every call site words an error the same way.

    @classmethod
    def missing_field(cls, field: str) -> EmulatedError:
        """400 / 1000: a required field is absent, null or empty."""
        return cls(
            400,
            1000,
            "Invalid request",
            f"Missing required field: {field}",
            kind=ErrorKind.MISSING_FIELD,
        )

    @classmethod
    def invalid_parameter(cls, description: str) -> EmulatedError:
        """400 / 1001: a parameter's value is not valid."""
        return cls(400, 1001, "Invalid parameter", description, kind=ErrorKind.INVALID_PARAMETER)

    @classmethod
    def refused(cls, error: RefusedError) -> EmulatedError:
        """400 / 1001 for a value a rule of :mod:`._rules` refused; its message describes it."""
        return cls.invalid_parameter(str(error))

    @classmethod
    def invalid_destination(cls, error: RefusedError) -> EmulatedError:
        """400 / 1001 for one destination of a multi-item request (live: error 1002)."""
        return cls(400, 1001, "Invalid parameter", str(error), kind=ErrorKind.INVALID_DESTINATION)

    @classmethod
    def not_whitelisted(cls) -> EmulatedError:
        """400 / 1002: an IP destination whose host no whitelisted range of the trunk covers."""
        return cls(
            400,
            1002,
            "Invalid parameter",
            "Destination not whitelisted",
            kind=ErrorKind.NOT_WHITELISTED,
        )

    @classmethod
    def duplicate(cls, description: str) -> EmulatedError:
        """409 / 1002: the resource exists (live: HTTP 200, ``response.code`` 409, 1008)."""
        return cls(409, 1002, "Resource exists", description, kind=ErrorKind.DUPLICATE)

    @classmethod
    def trunk_not_found(cls, trunk_sid: str) -> EmulatedError:
        """404 / 1003: no trunk with this sid in the account."""
        return cls(
            404,
            1003,
            "Resource not found",
            f"Trunk '{trunk_sid}' does not exist",
            kind=ErrorKind.NOT_FOUND,
        )

    @classmethod
    def record_not_found(cls, what: str, record_id: str) -> EmulatedError:
        """404 / 1003: no such record (phone number, IP, destination, credential, setting)."""
        return cls(
            404,
            1003,
            "Resource not found",
            f"{what} '{record_id}' does not exist on this trunk",
            kind=ErrorKind.NOT_FOUND,
        )

    @classmethod
    def route_not_found(cls, method: str, path: str) -> EmulatedError:
        """404 / 1003: no endpoint at this path."""
        return cls(
            404,
            1003,
            "Resource not found",
            f"No resource at {method} {path}",
            kind=ErrorKind.ROUTE_NOT_FOUND,
        )

    @classmethod
    def method_not_allowed(cls, method: str, path: str) -> EmulatedError:
        """405 / 1000: the path exists but not for this method."""
        return cls(
            405,
            1000,
            "Invalid request",
            f"Method {method} is not allowed on {path}",
            kind=ErrorKind.METHOD_NOT_ALLOWED,
        )

    @classmethod
    def unauthorized(cls, description: str) -> EmulatedError:
        """401 / 1010: missing or wrong HTTP Basic credentials."""
        return cls(401, 1010, "Authorization failed", description, kind=ErrorKind.UNAUTHORIZED)

    @classmethod
    def forbidden(cls, account_sid: str) -> EmulatedError:
        """403 / 1011: the path names an account these credentials do not belong to."""
        return cls(
            403,
            1011,
            "Access denied",
            f"No permission to access account '{account_sid}'",
            kind=ErrorKind.FORBIDDEN,
        )

    @classmethod
    def rate_limited(cls, description: str = "Too many requests, retry later") -> EmulatedError:
        """429 / 1030: the account's rate (or concurrency) limit was exceeded."""
        return cls(429, 1030, "Rate limit exceeded", description, kind=ErrorKind.RATE_LIMITED)

    @classmethod
    def bad_json(cls, description: str) -> EmulatedError:
        """400 / 1000: the body is not JSON (live: error 1007 "Invalid request body")."""
        return cls(400, 1000, "Invalid request", description, kind=ErrorKind.BAD_JSON)

    @classmethod
    def unsupported_media_type(cls, content_type: str) -> EmulatedError:
        """415 / 1011: a POST whose Content-Type is not application/json (live only)."""
        shown = content_type or "none"
        return cls(
            415,
            1011,
            "Unsupported content type",
            f"Content-Type {shown} is not supported; use application/json",
            kind=ErrorKind.UNSUPPORTED_MEDIA_TYPE,
        )

    @classmethod
    def unavailable(cls) -> EmulatedError:
        """503: the service is (made to look) temporarily unavailable."""
        return cls(
            503,
            503,
            "Service unavailable",
            "The service is temporarily unavailable, retry later",
            kind=ErrorKind.UNAVAILABLE,
        )

    @classmethod
    def injected(cls, status: int) -> EmulatedError:
        """The error an injected fault answers with ``status`` (429 and 503 as catalogued)."""
        if status == 429:
            return cls.rate_limited()
        if status == 503:
            return cls.unavailable()
        code = _INJECTED_CODES.get(status, status)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = f"HTTP {status}"
        # A kind the live dialect words in its own codes, where the status has one.
        kind = _INJECTED_KINDS.get(status, ErrorKind.INJECTED)
        return cls(status, code, phrase, "Injected fault", kind=kind)


#: The Exotel error code an injected client-error status carries (5xx carry the status).
_INJECTED_CODES = {400: 1000, 401: 1010, 403: 1011, 404: 1003, 409: 1002, 422: 1001}
#: Statuses whose injected error reads, in the live dialect, as the service's own would.
_INJECTED_KINDS = {
    400: ErrorKind.INVALID_PARAMETER,
    401: ErrorKind.UNAUTHORIZED,
    404: ErrorKind.NOT_FOUND,
}
