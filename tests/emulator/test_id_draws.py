"""Ids are drawn exactly as ``uuid.UUID`` and ``random.Random.choice`` would draw them.

The id factories make ids cheaply on the hot path; a seed must keep giving the ids it gave.
"""

from __future__ import annotations

import random
import string
import uuid

import pytest

from exotel_trunking.emulator._ids import LiveIds, ReferenceIds

HEX = "0123456789abcdef"
LOWER_ALNUM = string.ascii_lowercase + string.digits
ALNUM = string.ascii_letters + string.digits


def chosen(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


@pytest.mark.parametrize("seed", range(20))
def test_reference_ids_draw_like_uuid_and_choice(seed: int) -> None:
    ids, twin = ReferenceIds(random.Random(seed)), random.Random(seed)
    for _ in range(3):
        assert ids.request_id() == str(uuid.UUID(int=twin.getrandbits(128), version=4))
        assert ids.trunk_sid() == "trind" + chosen(twin, HEX, 22)
        assert ids.phone_number_id() == "pn_" + chosen(twin, LOWER_ALNUM, 12)
        assert ids.whitelisted_ip_id() == "wl_" + chosen(twin, LOWER_ALNUM, 12)
        assert ids.destination_id() == "du_" + chosen(twin, LOWER_ALNUM, 12)
        assert ids.password() == chosen(twin, ALNUM + "#$@!%&*", 14)


@pytest.mark.parametrize("seed", range(20))
def test_live_ids_draw_like_uuid_and_choice(seed: int) -> None:
    ids, twin = LiveIds(random.Random(seed)), random.Random(seed)
    for low, high in ((40_000, 49_000), (1_000, 1_900), (2_000, 2_900)):
        twin.randint(low, high)
    for _ in range(3):
        assert ids.request_id() == uuid.UUID(int=twin.getrandbits(128), version=4).hex
        assert ids.trunk_sid() == "trmum" + chosen(twin, HEX, 19) + "1a1n"
        assert ids.password() == chosen(twin, ALNUM, 16)
