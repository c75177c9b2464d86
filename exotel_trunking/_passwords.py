"""Strong SIP passwords, drawn from the operating system's CSPRNG (the ``secrets`` module)."""

from __future__ import annotations

import secrets
import string

__all__ = ["PASSWORD_ALPHABET", "PASSWORD_LENGTH", "generate_password"]

#: Letters and digits only: a password that needs no quoting in a PBX config, a shell, a URL
#: or a voice-AI platform's form, so that no platform mangles it.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
#: Far beyond guessing (each character adds log2(62) bits), and short enough for servers that
#: cap a password's length (Exotel's own examples have 14 and 16 characters).
PASSWORD_LENGTH = 24


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password of ``length`` letters and digits, with a lower, an upper and a digit.

    Drawn again until it holds all three classes, for servers that ask for mixed case and a
    digit.
    """
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
        if (
            any(char.islower() for char in password)
            and any(char.isupper() for char in password)
            and any(char.isdigit() for char in password)
        ):
            return password
