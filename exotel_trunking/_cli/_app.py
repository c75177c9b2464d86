"""What every subcommand shares: global options, the client, output, and exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import click
from rich.console import Console

from .._client import AsyncTrunkingClient
from .._exceptions import (
    AuthenticationError,
    ConfigurationError,
    ExotelError,
    InvalidParameterError,
    PermissionDeniedError,
)
from .._models import Credentials

T = TypeVar("T")

#: Exit codes, as documented in ``exotel-trunking --help``.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH = 0, 1, 2, 3


@attrs.define
class Settings:
    """The global options, handed to every subcommand through click's context."""

    api_key: str | None = None
    api_token: str | None = None
    account_sid: str | None = None
    region: str | None = None
    base_url: str | None = None
    as_json: bool = False
    console: Console = attrs.Factory(lambda: Console(highlight=False))
    errors: Console = attrs.Factory(lambda: Console(stderr=True, highlight=False))

    def client(self, **overrides: Any) -> AsyncTrunkingClient:
        """Build a client from the options (the SDK falls back to ``EXOTEL_*`` variables)."""
        options: dict[str, Any] = {
            "api_key": self.api_key,
            "api_token": self.api_token,
            "account_sid": self.account_sid,
            "region": self.region,
            "base_url": self.base_url,
        }
        options.update(overrides)
        return AsyncTrunkingClient(**options)

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """Print ``data`` as JSON with ``--json``, else call ``human`` to print it nicely."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=_json_default))
        else:
            human()

    def fail(self, error: BaseException) -> NoReturn:
        """Report ``error`` and exit with the code its kind calls for."""
        code = exit_code_for(error)
        if self.as_json:
            click.echo(json.dumps({"error": type(error).__name__, "message": str(error)}))
        else:
            self.errors.print(f"[bold red]error:[/] {type(error).__name__}: {error}", markup=True)
        sys.exit(code)


def exit_code_for(error: BaseException) -> int:
    """Map an exception to the command's exit code."""
    if isinstance(error, (ConfigurationError, InvalidParameterError, click.UsageError)):
        return EXIT_USAGE
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        return EXIT_AUTH
    return EXIT_FAILED


def run(settings: Settings, work: Callable[[AsyncTrunkingClient], Awaitable[T]]) -> T:
    """Build a client, run ``work`` with it, close it; turn SDK errors into exit codes."""

    async def main() -> T:
        async with settings.client() as client:
            return await work(client)

    try:
        return anyio.run(main)
    except ExotelError as error:
        settings.fail(error)


def record(value: Any, *, show_password: bool = False) -> Any:
    """A model (or list of models) as plain JSON-ready data; a SIP password is masked."""
    if isinstance(value, list):
        return [record(item, show_password=show_password) for item in value]
    if value is None or not attrs.has(type(value)):
        return value
    data = attrs.asdict(value, value_serializer=lambda _, __, v: _json_default(v))
    if isinstance(value, Credentials) and not show_password:
        data["password"] = "********"  # noqa: S105 - the mask shown instead of the password
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return value
