"""An exact, compact map of integer keys: what the bulk executor remembers per distinct item.

The keys are numbers and networks packed into one int each (:func:`phone_key`,
:func:`network_key`), kept in an open-addressing hash table over ``array("Q")`` with linear
probing, each with an int value (the bulk executor keeps the index of the item's first
occurrence): 16 bytes a slot and no Python object per key. Membership is exact (each slot
holds the whole key), unlike a Bloom filter.
"""

from __future__ import annotations

import ipaddress
import re
from array import array

__all__ = ["KEY_LIMIT", "KeyMap", "network_key", "phone_key"]

#: Keys are ints in ``range(KEY_LIMIT)``; a slot stores ``key + 1`` so that 0 can mark it empty.
KEY_LIMIT = 2**64 - 1
#: Fibonacci hashing: multiplying by 2**64 / golden ratio (odd) spreads nearby keys apart.
_MULTIPLIER = 0x9E3779B97F4A7C15
_MASK64 = 2**64 - 1
_MIN_CAPACITY = 16
#: The table grows by half once more than this share of its slots is taken.
_MAX_LOAD = 0.8
_GROWTH = 1.5
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PREFIX_BITS = 6  # prefix lengths 0-32


def phone_key(number: str) -> int:
    """The key of a number in E.164 form: its digits as an int (less than 10**15).

    Distinct numbers get distinct keys: the form has no leading zero after the ``+``.

    Raises:
        ValueError: if ``number`` is not ``"+"`` then 7-15 ASCII digits, the first not 0.
    """
    if not _E164.fullmatch(number):
        raise ValueError(f"not an E.164 number: {number!r}")
    return int(number[1:])


def network_key(address: str, prefix: int) -> int:
    """The key of the IPv4 network ``address/prefix``: the address, then 6 bits of prefix.

    ``("203.0.113.0", 24)`` and ``("203.0.113.0", 32)`` get distinct keys; every key is
    less than 2**38.

    Raises:
        ValueError: if ``address`` is not a dotted-quad IPv4 address in canonical form, or
            ``prefix`` is not from 0 to 32.
    """
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        parsed = None
    canonical = parsed is not None and str(parsed) == address  # e.g. no leading zeros
    if not canonical or isinstance(prefix, bool) or prefix not in range(33):
        raise ValueError(f"not an IPv4 network: {address!r}/{prefix!r}")
    assert parsed is not None
    return int(parsed) << _PREFIX_BITS | prefix


class KeyMap:
    """A map from ints in ``range(KEY_LIMIT)`` to ints in ``range(2**64)``, exact and compact.

    Keys and values are two ``array("Q")`` of the same length, which grow by half when 80%
    full: 20 to 30 bytes per key, and 50 for the moment it takes to grow (old and new
    tables). Used as a set, the values are 0. Keys cannot be removed.
    """

    __slots__ = ("_size", "_slots", "_values")

    def __init__(self) -> None:
        self._slots = array("Q", [0]) * _MIN_CAPACITY
        self._values = array("Q", [0]) * _MIN_CAPACITY
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: int) -> bool:
        return 0 <= key < KEY_LIMIT and self._slots[self._find(key)] != 0

    @property
    def nbytes(self) -> int:
        """The bytes held by the table's keys and values."""
        return len(self._slots) * (self._slots.itemsize + self._values.itemsize)

    def get(self, key: int) -> int | None:
        """The value of ``key``, or ``None`` if it is not there."""
        if not 0 <= key < KEY_LIMIT:
            return None
        slot = self._find(key)
        return self._values[slot] if self._slots[slot] else None

    def add(self, key: int, value: int = 0) -> None:
        """Add ``key`` with ``value``, unless ``key`` is already there (its value is kept).

        Raises:
            ValueError: if ``key`` is not from 0 to ``KEY_LIMIT - 1``, or ``value`` is not
                from 0 to ``2**64 - 1``.
        """
        if not 0 <= key < KEY_LIMIT:
            raise ValueError(f"key out of range: {key!r}")
        if not 0 <= value <= _MASK64:
            raise ValueError(f"value out of range: {value!r}")
        slot = self._find(key)
        if self._slots[slot] == 0:
            self._slots[slot] = key + 1
            self._values[slot] = value
            self._size += 1
            if self._size > _MAX_LOAD * len(self._slots):
                self._grow()

    def _find(self, key: int) -> int:
        """The slot holding ``key``, else the empty slot where it belongs."""
        slots = self._slots
        capacity = len(slots)
        stored = key + 1
        # the top bits of the mixed key, scaled to the capacity (which need not be 2**k)
        slot = ((key * _MULTIPLIER) & _MASK64) * capacity >> 64
        while True:
            value = slots[slot]
            if value == stored or not value:
                return slot
            slot += 1
            if slot == capacity:
                slot = 0

    def _grow(self) -> None:
        old_slots, old_values = self._slots, self._values
        capacity = int(len(old_slots) * _GROWTH)
        self._slots = array("Q", [0]) * capacity
        self._values = array("Q", [0]) * capacity
        for stored, value in zip(old_slots, old_values, strict=True):
            if stored:
                slot = self._find(stored - 1)
                self._slots[slot] = stored
                self._values[slot] = value
