"""The SDK's own cattrs converter: records from envelope data, failures as one readable error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import cattrs

from ._exceptions import ResponseDecodeError

__all__ = ["converter", "structure"]

T = TypeVar("T")


def _structure_str(value: object, _: type) -> str:
    # The live service sends numeric ids as strings, but an int must not break a caller, and
    # None must not silently become the string "None".
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_datetime(value: object, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    text = value.strip()
    if text.endswith("z"):
        text = text[:-1] + "Z"  # fromisoformat takes "Z" but not its lower case
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the API's timestamps are UTC
    return parsed


def make_converter() -> cattrs.Converter:
    """Build the converter used for every response (never ``cattrs.global_converter``)."""
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(datetime, _structure_datetime)
    return conv


converter = make_converter()


def structure(
    data: Any, cls: type[T], *, where: str, request_id: str | None = None, path: str = "$.data"
) -> T:
    """Structure ``data`` into ``cls``, raising :class:`ResponseDecodeError` with field paths.

    Args:
        data: The record, as decoded from JSON.
        cls: The model to build.
        where: The operation, for the message (``"phone_numbers.map"``).
        request_id: The response's request id, carried by the error.
        path: Where ``data`` sits in the response, for the message (``"$.data[3]"``).
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises ExceptionGroups and plain errors alike
        problems = (
            cattrs.transform_error(exc, path=path)
            if isinstance(exc, cattrs.BaseValidationError)
            else [f"{exc} @ {path}"]
        )
        raise ResponseDecodeError(
            f"the response for {where} does not match {cls.__name__}: {'; '.join(problems)}",
            status_code=200,
            request_id=request_id,
        ) from None
