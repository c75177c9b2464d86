"""Identifier, request-id and password generators, one flavour per dialect.

Every value is drawn from the emulator's single seeded :class:`random.Random`, so one seed and
one sequence of calls always produce the same ids.
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Protocol

__all__ = ["IdFactory", "LiveIds", "ReferenceIds"]

_LOWER_ALNUM = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_SYMBOLS = "#$@!%&*"


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    """``length`` characters drawn from ``alphabet``."""
    return "".join(rng.choices(alphabet, k=length))


def _uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class IdFactory(Protocol):
    """Makes the identifiers of one dialect."""

    def request_id(self) -> str:
        """Return a new ``request_id``."""
        ...

    def trunk_sid(self) -> str:
        """Return a new trunk sid."""
        ...

    def phone_number_id(self) -> str:
        """Return a new phone-number mapping id."""
        ...

    def whitelisted_ip_id(self) -> str:
        """Return a new whitelist entry id."""
        ...

    def destination_id(self) -> str:
        """Return a new destination URI id."""
        ...

    def credential_id(self) -> str:
        """Return a new SIP digest credential id."""
        ...

    def password(self) -> str:
        """Return a new SIP password."""
        ...


class ReferenceIds:
    """Ids shaped like the reference document's examples.

    ``request_id`` a dashed UUID, trunk sids ``trind`` + 22 hex digits, and prefixed ids such as
    ``pn_abc123def456``, ``wl_…`` and ``du_…``.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._credentials = 0

    def _token(self, alphabet: str, length: int) -> str:
        return _token(self._rng, alphabet, length)

    def request_id(self) -> str:
        """Return a UUID4 with dashes, e.g. ``a1b2c3d4-e5f6-4890-abcd-ef1234567890``."""
        return str(_uuid4(self._rng))

    def trunk_sid(self) -> str:
        """Return e.g. ``trind1a2b3c4d5e6f7890abcdef``."""
        return "trind" + self._token("0123456789abcdef", 22)

    def phone_number_id(self) -> str:
        """Return e.g. ``pn_abc123def456``."""
        return "pn_" + self._token(_LOWER_ALNUM, 12)

    def whitelisted_ip_id(self) -> str:
        """Return e.g. ``wl_xyz789abc012``."""
        return "wl_" + self._token(_LOWER_ALNUM, 12)

    def destination_id(self) -> str:
        """Return e.g. ``du_mno345pqr678``."""
        return "du_" + self._token(_LOWER_ALNUM, 12)

    def credential_id(self) -> str:
        """Return ``cr_000000000001``, ``cr_000000000002``, ... (the reference has no such records).

        Counted, not drawn, so that issuing credentials leaves every seeded id as it was.
        """
        self._credentials += 1
        return f"cr_{self._credentials:012d}"

    def password(self) -> str:
        """Return 14 characters with symbols, like the document's ``Xy9#mK2$pL5nQ8``."""
        return self._token(_ALNUM + _SYMBOLS, 14)


class LiveIds:
    """Ids shaped like the live service's: hex request ids and sequential numeric ids.

    The numeric sequences start at seeded offsets in the ranges the live captures show
    (numbers around 41512, IPs around 1153, destinations around 2543).
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next_phone = rng.randint(40_000, 49_000)
        self._next_ip = rng.randint(1_000, 1_900)
        self._next_destination = rng.randint(2_000, 2_900)
        # Not drawn, so that adding credentials left every other seeded id as it was; the
        # credentials document's example id is "1234".
        self._next_credential = 1_233

    def request_id(self) -> str:
        """Return 32 hex digits without dashes, e.g. ``10a67da360d446378d5c2b66407b7f18``."""
        return _uuid4(self._rng).hex

    def trunk_sid(self) -> str:
        """Return e.g. ``trmum1f708622631150902801a1n`` (region prefix, hex, suffix)."""
        return "trmum" + _token(self._rng, "0123456789abcdef", 19) + "1a1n"

    def phone_number_id(self) -> str:
        """Return the next numeric id, e.g. ``"41512"``."""
        self._next_phone += 1
        return str(self._next_phone)

    def whitelisted_ip_id(self) -> str:
        """Return the next numeric id, e.g. ``"1153"``."""
        self._next_ip += 1
        return str(self._next_ip)

    def destination_id(self) -> str:
        """Return the next numeric id, e.g. ``"2543"``."""
        self._next_destination += 1
        return str(self._next_destination)

    def credential_id(self) -> str:
        """Return the next numeric id: ``"1234"``, ``"1235"``, ..."""
        self._next_credential += 1
        return str(self._next_credential)

    def password(self) -> str:
        """Return 16 letters and digits, like the live ``Xk9mP2nQ4rS6tU8v``."""
        return _token(self._rng, _ALNUM, 16)
