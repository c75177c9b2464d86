"""A new SIP password, handed over once: on the terminal when asked, or to a private file.

The service never returns a digest credential's password after the call that set it, so a
command that generates one (``credentials create``, ``credentials rotate``, ``apply`` with a
spec that lists a credential without ``password_env``) must hand it over then, and only where
asked: ``--show-password`` prints it (and puts it in ``--json``); ``--password-file PATH``
writes one ``user_name:password`` line per credential to a file created readable by its owner
only (0600), keeping the lines of other user names the file holds already. Without either,
such a command refuses to run (exit 2) before anything is sent.
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
        metavar="PATH",
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

        What the file holds already is kept: a line of a user name written again is replaced
        in place, new user names are added at the end, every other line is left as it was (a
        re-run, or a spec with one more credential, never loses a password the service
        cannot show again). The file is replaced whole (a temporary file created 0600 beside
        it, synced, then a rename), so that no other user can read it at any moment and an
        interrupted write leaves the previous version whole.

        Raises:
            OSError: the file could not be read or written.
        """
        new = {c.user_name: c.password for c in credentials if c.password is not None}
        if self.file is None or not new:
            return
        lines = _merged(_read_lines(self.file), new)
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


def _read_lines(path: Path) -> list[str]:
    """The lines of ``path`` (each ending in a newline), or none if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines()]


def _merged(lines: Sequence[str], new: dict[str, str]) -> list[str]:
    """``lines`` with each ``user_name:`` line of ``new`` replaced, the rest added at the end."""
    merged: list[str] = []
    written: set[str] = set()
    for line in lines:
        user, colon, _ = line.partition(":")
        if colon and user in new:
            if user not in written:  # a user name twice in the file: one line is enough
                merged.append(f"{user}:{new[user]}\n")
                written.add(user)
            continue
        merged.append(line)
    merged.extend(f"{user}:{password}\n" for user, password in new.items() if user not in written)
    return merged
