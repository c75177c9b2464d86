"""Fixtures for the emulator's tests; helpers live in ``emulator_helpers``."""

from __future__ import annotations

import pytest

from exotel_trunking.emulator import Emulator

from .emulator_helpers import make_emulator


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emulator() -> Emulator:
    return make_emulator()
