"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
import trustme


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority (trustme), for TLS servers on 127.0.0.1."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test CA's certificate, as a PEM file (what ``SSL_CERT_FILE`` / ``verify=`` name)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
