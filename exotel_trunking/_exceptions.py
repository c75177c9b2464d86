"""The exceptions the SDK raises on purpose, all rooted at :class:`ExotelError`.

::

    ExotelError
    ├── ConfigurationError               bad client configuration
    ├── InvalidParameterError(ValueError) a bad argument, refused before any request
    ├── APIConnectionError               the request could not be completed over the network
    │   └── APITimeoutError              ...because it timed out
    ├── APIStatusError                   the API answered with an error
    │   ├── BadRequestError              400 (and 415, a body that is not JSON)
    │   ├── AuthenticationError          401
    │   ├── PermissionDeniedError        403
    │   ├── NotFoundError                404 (and the live 403 / 1003: not your trunk)
    │   │   └── NotOnTrunkError          the trunk holds no such number, IP, destination, ...
    │   ├── ConflictError                409 (also a duplicate reported under HTTP 200)
    │   ├── UnprocessableEntityError     422
    │   ├── RateLimitError               429, with ``retry_after``
    │   └── InternalServerError          >= 500
    ├── PartialFailureError              some items of a multi-item request failed
    └── ResponseDecodeError              a success status whose body is not an envelope

No message built here ever includes credentials: the transport passes only the method, the
path (which holds no secret) and what the server said.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ExotelError",
    "InternalServerError",
    "InvalidParameterError",
    "MappedElsewhereError",
    "NotFoundError",
    "NotOnTrunkError",
    "PartialFailureError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "UnprocessableEntityError",
    "status_error_class",
]


class ExotelError(Exception):
    """Base class of every exception the SDK raises on purpose."""


class ConfigurationError(ExotelError):
    """The client was configured wrongly: missing credentials, a refused ``base_url``, ..."""


class InvalidParameterError(ExotelError, ValueError):
    """An argument was refused by client-side validation; nothing was sent.

    Attributes:
        argument: The name of the offending argument, e.g. ``"phone_number"``.
        value: The value that was refused.
        expected: What would be valid, or why the value is not.
    """

    def __init__(self, argument: str, value: object, expected: str) -> None:
        self.argument = argument
        self.value = value
        self.expected = expected
        super().__init__(f"{argument}={value!r} is invalid: {expected}")


class APIConnectionError(ExotelError):
    """The request could not be completed over the network.

    Attributes:
        method: The HTTP method of the request.
        path: The request path (it never contains credentials).
        attempts: How many attempts were made before giving up.
    """

    def __init__(
        self, message: str, *, method: str = "", path: str = "", attempts: int = 1
    ) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """The request timed out.

    Connecting, a read or a write, waiting for a pooled connection, one attempt past
    ``attempt_timeout``, or the whole call past ``RetryPolicy.deadline``.
    """


class APIStatusError(ExotelError):
    """The API answered with an error status or a ``failure`` envelope.

    Attributes:
        status_code: The HTTP status (or, for a failure inside a 200 envelope, the envelope's
            ``response.code``, which is what decides the outcome).
        error_code: Exotel's numeric error code (``error_data.code``), e.g. 1002, if given.
        message: Exotel's short error message, or an excerpt of a non-envelope body.
        description: Exotel's longer description, if given.
        request_id: The API's ``request_id`` for support tickets, if given.
        method: The HTTP method of the request.
        path: The request path.
        attempts: How many attempts were made, retries included.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: int | None = None,
        description: str | None = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
        attempts: int = 1,
    ) -> None:
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.description = description
        self.request_id = request_id
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"{self.status_code}"]
        if self.error_code is not None:
            parts.append(f"error {self.error_code}")
        text = f"{' '.join(parts)}: {self.message}"
        if self.description and self.description != self.message:
            text += f" ({self.description})"
        if self.method:
            text += f" [{self.method} {self.path}]"
        if self.request_id:
            text += f" request_id={self.request_id}"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        return text

    def __str__(self) -> str:
        # Rendered on demand so that ``attempts`` set by the retry loop shows up.
        return self._render()


class BadRequestError(APIStatusError):
    """400: the request's parameters or body were refused (415 too: a body not sent as JSON)."""


class AuthenticationError(APIStatusError):
    """401: the API key or token is wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials may not touch this resource (e.g. another account's trunk)."""


class NotFoundError(APIStatusError):
    """404: the trunk (or other resource) does not exist.

    Also the live service's 403 with error 1003 ("Authorization failed"), its answer for a
    trunk sid that is unknown or belongs to another account: ``status_code`` stays 403.
    """


class NotOnTrunkError(NotFoundError):
    """The trunk exists, but holds no such record (a number, IP, destination, credential).

    Raised by the calls that find a record in the trunk's listing before changing it
    (``remove``, ``update``, ``credentials.delete``): the listing was read, so the trunk itself
    is there. A :class:`NotFoundError` that is not one of these is about the trunk.
    """


class ConflictError(APIStatusError):
    """409: the resource already exists (Exotel error 1002 or 1008)."""


class MappedElsewhereError(ConflictError):
    """409 for a number that is mapped to another trunk, not to the one it was mapped to.

    Exotel answers 409 both for a number already on the trunk and for one on another trunk;
    the bulk helpers and ``provision`` tell the two apart by reading the trunk's numbers, and
    report this one as ``"failed"`` with this error.

    Attributes:
        phone_number: The number.
        trunk_sid: The trunk it was to be mapped to.
        held_by: The trunk that holds it, when the API said which; else ``None``.
    """

    def __init__(
        self,
        conflict: ConflictError,
        *,
        phone_number: str,
        trunk_sid: str,
        held_by: str | None = None,
    ) -> None:
        self.phone_number = phone_number
        self.trunk_sid = trunk_sid
        self.held_by = held_by
        holder = f"trunk {held_by}" if held_by else "another trunk"
        super().__init__(
            f"{phone_number} is mapped to {holder}, not to {trunk_sid}",
            status_code=conflict.status_code,
            error_code=conflict.error_code,
            request_id=conflict.request_id,
            method=conflict.method,
            path=conflict.path,
            attempts=conflict.attempts,
        )


class UnprocessableEntityError(APIStatusError):
    """422: the request was understood but failed validation."""


class RateLimitError(APIStatusError):
    """429: the account's rate limit was exceeded.

    Attributes:
        retry_after: Seconds the server asked to wait, if it said (``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def _render(self) -> str:
        text = super()._render()
        if self.retry_after is not None:
            text += f" retry_after={self.retry_after:g}s"
        return text


class InternalServerError(APIStatusError):
    """>= 500: the API (or a proxy in front of it) failed."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    415: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """Return the exception class for an error status code."""
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


class PartialFailureError(ExotelError):
    """Some items of a multi-item request (destination URIs) failed.

    Attributes:
        succeeded: The records created for the items that succeeded.
        failed: ``(item, error)`` pairs for the items that failed, in request order.
        request_id: The API's ``request_id``, if given.
    """

    def __init__(
        self,
        succeeded: Sequence[Any],
        failed: Sequence[tuple[str, APIStatusError]],
        *,
        request_id: str | None = None,
    ) -> None:
        self.succeeded = list(succeeded)
        self.failed = list(failed)
        self.request_id = request_id
        reasons = "; ".join(
            f"{item!r}: {error.description or error.message}" for item, error in self.failed
        )
        total = len(self.succeeded) + len(self.failed)
        super().__init__(f"{len(self.failed)} of {total} items failed: {reasons}")


class ResponseDecodeError(ExotelError):
    """A success status whose body is not the documented envelope (bad JSON, empty, HTML).

    Attributes:
        status_code: The HTTP status.
        request_id: The ``request_id``, if one could be read.
        excerpt: A short excerpt of the body.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        excerpt: str = "",
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status_code = status_code
        self.excerpt = excerpt
        self.request_id = request_id
        self.method = method
        self.path = path
        where = f" [{method} {path}]" if method else ""
        super().__init__(f"{message}{where}: {excerpt!r}" if excerpt else f"{message}{where}")
