"""The compact key map behind the bulk executor's duplicate detection, and the keys it holds."""

from __future__ import annotations

import random

import pytest

from exotel_trunking._keyset import _MULTIPLIER, KEY_LIMIT, KeyMap, network_key, phone_key


def test_an_empty_set_holds_nothing_not_even_zero() -> None:
    keys = KeyMap()
    assert len(keys) == 0
    assert 0 not in keys
    assert 1 not in keys
    assert KEY_LIMIT - 1 not in keys


def test_the_smallest_and_largest_keys_can_be_stored() -> None:
    keys = KeyMap()
    keys.add(0)
    keys.add(KEY_LIMIT - 1)
    assert 0 in keys
    assert KEY_LIMIT - 1 in keys
    assert 1 not in keys
    assert KEY_LIMIT - 2 not in keys
    assert len(keys) == 2


def test_adding_a_key_twice_keeps_one() -> None:
    keys = KeyMap()
    for _ in range(3):
        keys.add(919876543210)
    assert len(keys) == 1


@pytest.mark.parametrize("key", [-1, KEY_LIMIT, 2**64])
def test_keys_out_of_range_are_refused_and_never_members(key: int) -> None:
    keys = KeyMap()
    with pytest.raises(ValueError, match="out of range"):
        keys.add(key)
    assert key not in keys
    assert len(keys) == 0


def test_membership_stays_exact_across_many_resizes() -> None:
    rng = random.Random(5)
    added = rng.sample(range(10**15), 60_000)
    others = set(rng.sample(range(10**15), 60_000)) - set(added)
    keys = KeyMap()
    first_bytes = keys.nbytes
    for key in added:
        keys.add(key)
    assert len(keys) == len(added)
    assert keys.nbytes >= first_bytes * 1.5**15  # it really did grow, many times over
    assert all(key in keys for key in added)
    assert not any(key in keys for key in others)


def test_neighbouring_keys_are_told_apart_across_resizes() -> None:
    keys = KeyMap()
    for key in range(0, 40_000, 2):  # the even keys only
        keys.add(key)
    assert all(key in keys for key in range(0, 40_000, 2))
    assert not any(key in keys for key in range(1, 40_000, 2))


def test_it_holds_at_most_30_bytes_per_key_once_grown() -> None:
    keys = KeyMap()
    for key in range(100_000):
        keys.add(key * 7919)
        if key >= 1_000:
            assert keys.nbytes <= 30 * len(keys) + 16
    assert keys.nbytes >= 20 * len(keys)  # and nothing smaller: the table is at most 80% full


def test_each_key_keeps_its_first_value_across_resizes() -> None:
    rng = random.Random(7)
    keys = KeyMap()
    reference: dict[int, int] = {}
    for index in range(30_000):
        key = rng.randrange(10**15)
        keys.add(key, index)
        reference.setdefault(key, index)
    assert all(keys.get(key) == value for key, value in reference.items())
    assert keys.get(10**15 + 1) is None
    assert keys.get(-1) is None


@pytest.mark.parametrize("value", [-1, 2**64])
def test_values_out_of_range_are_refused(value: int) -> None:
    keys = KeyMap()
    with pytest.raises(ValueError, match="value out of range"):
        keys.add(1, value)
    assert 1 not in keys


def test_agrees_with_a_python_set_on_a_dense_range() -> None:
    rng = random.Random(11)
    keys, reference = KeyMap(), set()
    for _ in range(5_000):
        key = rng.randrange(3_000)
        assert (key in keys) == (key in reference)
        keys.add(key)
        reference.add(key)
    assert len(keys) == len(reference)
    assert all((key in keys) == (key in reference) for key in range(3_500))


def test_probing_wraps_around_the_end_of_the_table() -> None:
    keys = KeyMap()
    capacity = len(keys._slots)
    last = [k for k in range(5_000) if ((k * _MULTIPLIER) % 2**64) * capacity >> 64 == capacity - 1]
    for key in last[:3]:
        keys.add(key)
    assert len(keys._slots) == capacity  # no growth yet: the three share the last slot
    assert keys._slots[0] != 0  # the later two wrapped around to the start
    assert keys._slots[1] != 0
    assert all(key in keys for key in last[:3])
    assert not any(key in keys for key in last[3:10])


# -- the keys ---------------------------------------------------------------------------------


def test_numbers_one_digit_apart_get_different_keys() -> None:
    keys = KeyMap()
    keys.add(phone_key("+91987654321"))
    assert phone_key("+91987654321") in keys
    assert phone_key("+919876543210") not in keys
    assert phone_key("+9198765432") not in keys
    assert phone_key("+919876543210") != phone_key("+91987654321")


def test_a_number_key_is_its_digits() -> None:
    assert phone_key("+919876543210") == 919876543210
    assert phone_key("+999999999999999") < 2**50


@pytest.mark.parametrize(
    "number",
    [
        "919876543210",
        "+0919876543210",
        "+91 98765 43210",
        "+\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
        "+123456",
        "+1234567890123456",
    ],
)
def test_only_canonical_e164_numbers_have_keys(number: str) -> None:
    with pytest.raises(ValueError, match=r"not an E\.164 number"):
        phone_key(number)


def test_a_range_and_its_bare_network_address_get_different_keys() -> None:
    keys = KeyMap()
    keys.add(network_key("203.0.113.0", 24))
    assert network_key("203.0.113.0", 24) in keys
    assert network_key("203.0.113.0", 32) not in keys
    assert network_key("203.0.113.0", 25) not in keys
    assert network_key("203.0.113.1", 24) not in keys


def test_prefixes_0_and_32_and_everything_between_are_packed_exactly() -> None:
    assert network_key("0.0.0.0", 0) == 0
    assert network_key("255.255.255.255", 32) == (2**32 - 1) * 64 + 32 < 2**38
    packed = {
        network_key(address, prefix)
        for address in ("0.0.0.0", "0.0.0.1", "128.0.0.0", "255.255.255.255")
        for prefix in range(33)
    }
    assert len(packed) == 4 * 33
    keys = KeyMap()
    keys.add(network_key("0.0.0.0", 0))
    assert 0 in keys
    assert network_key("0.0.0.0", 32) not in keys


@pytest.mark.parametrize(
    ("address", "prefix"),
    [("1.2.3.4", 33), ("1.2.3.4", -1), ("1.2.3.4", True), ("01.2.3.4", 32), ("1.2.3", 32)],
)
def test_only_canonical_networks_have_keys(address: str, prefix: int) -> None:
    with pytest.raises(ValueError, match="not an IPv4 network"):
        network_key(address, prefix)
