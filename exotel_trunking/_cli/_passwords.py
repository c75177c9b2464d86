"""A new SIP password, handed over once: on the terminal when asked, or to a private file.

The service never returns a digest credential's password after the call that set it, so a
command that generates one (``credentials create``, ``credentials rotate``, ``apply`` with a
spec that lists a credential without ``password_env``) must hand it over then, and only where
asked: ``--show-password`` prints it (and puts it in ``--json``); ``--password-file PATH``
writes one ``user_name:password`` line per credential to a file created readable by its owner
only (0600). Without either, such a command refuses to run (exit 2) before anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from .._models import SipCredential

__all__ = ["PasswordOutput", "password_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: The permissions of a password file: read and write for its owner, nothing for others.
FILE_MODE = 0o600


def password_options(command: F) -> F:
    """Add ``--show-password`` and ``--password-file PATH`` to a command."""
    command = click.option(
        "--password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write a new password to PATH (user_name:password, readable by you only, 0600).",
    )(command)
    return click.option(
        "--show-password",
        is_flag=True,
        help="Print a new password (once: the service never returns it again).",
    )(command)


@attrs.frozen
class PasswordOutput:
    """Where a command hands a new password over.

    Attributes:
        show: ``--show-password``: print it (in ``--json`` too).
        file: ``--password-file``: write it there, readable by its owner only.
    """

    show: bool = False
    file: Path | None = None

    def check(self, *, generates: str | None) -> None:
        """Refuse, before anything is sent, a run that would lose a password or cannot keep it.

        Args:
            generates: What would generate a password (for the message), or ``None``.

        Raises:
            click.UsageError: a password would be generated with nowhere to go, or the file
                cannot be written where it is asked for.
        """
        if generates is not None and not self.show and self.file is None:
            raise click.UsageError(
                f"{generates} gets a generated password, which the service never shows again: "
                "pass --password-file PATH (written readable by you only) or --show-password"
            )
        if self.file is not None:
            folder = self.file.parent
            if self.file.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
                raise click.UsageError(
                    f"--password-file {self.file}: cannot write a file there (the folder must "
                    "exist and be writable)"
                )

    def write(self, credentials: Sequence[SipCredential]) -> None:
        """Write the credentials that carry a password to the file, if one was asked for.

        The file is replaced whole (a temporary file created 0600 beside it, then a rename),
        so that no other user can read it at any moment.

        Raises:
            OSError: the file could not be written.
        """
        lines = [f"{c.user_name}:{c.password}\n" for c in credentials if c.password is not None]
        if self.file is None or not lines:
            return
        temporary = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            if hasattr(os, "fchmod"):  # a umask could only have taken bits away
                os.fchmod(descriptor, FILE_MODE)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.writelines(lines)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.file)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
