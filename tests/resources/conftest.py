"""Fixtures for the per-resource tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from .. import wire


@pytest.fixture
def exotel() -> Iterator[respx.MockRouter]:
    """A respx router for the test account that fails on unrouted and uncalled routes."""
    with wire.mock_exotel() as router:
        yield router
