"""Ids: the dialects' formats, and the same ids from the same seed."""

from __future__ import annotations

import random
import re

import pytest

from exotel_trunking.emulator._ids import LiveIds, ReferenceIds

FORMATS = {
    ReferenceIds: {
        "request_id": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "trunk_sid": r"trind[0-9a-f]{22}",
        "phone_number_id": r"pn_[a-z0-9]{12}",
        "password": r"[A-Za-z0-9#$@!%&*]{14}",
    },
    LiveIds: {
        "request_id": r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}",
        "trunk_sid": r"trmum[0-9a-f]{19}1a1n",
        "password": r"[A-Za-z0-9]{16}",
    },
}


@pytest.mark.parametrize("factory", [ReferenceIds, LiveIds])
@pytest.mark.parametrize("seed", range(5))
def test_ids_have_their_dialects_format_and_follow_the_seed(
    factory: type[ReferenceIds | LiveIds], seed: int
) -> None:
    first, again, other = (factory(random.Random(s)) for s in (seed, seed, seed + 100))
    for name, pattern in FORMATS[factory].items():
        drawn = [getattr(first, name)() for _ in range(3)]
        assert all(re.fullmatch(pattern, value) for value in drawn), (name, drawn)
        assert [getattr(again, name)() for _ in range(3)] == drawn
        assert [getattr(other, name)() for _ in range(3)] != drawn
