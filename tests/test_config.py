"""Client configuration: arguments, ``EXOTEL_*`` variables, regions, and the base_url policy."""

from __future__ import annotations

from typing import Any

import attrs
import httpx2
import pytest

from exotel_trunking import AsyncTrunkingClient, ClientConfig, ConfigurationError, RateLimit

from . import wire

ENV = {
    "api_key": "EXOTEL_API_KEY",
    "api_token": "EXOTEL_API_TOKEN",
    "account_sid": "EXOTEL_ACCOUNT_SID",
}


@pytest.fixture(autouse=True)
def no_exotel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV.values(), "EXOTEL_REGION", "EXOTEL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def refuse(request: httpx2.Request) -> httpx2.Response:
    raise AssertionError(f"configuration tests send nothing: {request.url}")


def build(*args: Any, **options: Any) -> AsyncTrunkingClient:
    """A client that never touches the network (and builds no TLS context)."""
    options.setdefault("transport", httpx2.MockTransport(refuse))
    return AsyncTrunkingClient(*args, **options)


def build_with_credentials(**options: Any) -> AsyncTrunkingClient:
    return build(wire.API_KEY, wire.API_TOKEN, wire.ACCOUNT_SID, **options)


# -- credentials -------------------------------------------------------------------------------


def test_credentials_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOTEL_API_KEY", "env_key")
    monkeypatch.setenv("EXOTEL_API_TOKEN", "env_token")
    monkeypatch.setenv("EXOTEL_ACCOUNT_SID", "env_sid")

    config = build().config

    assert (config.api_key, config.api_token, config.account_sid) == (
        "env_key",
        "env_token",
        "env_sid",
    )


@pytest.mark.asyncio
async def test_credentials_from_the_environment_are_what_the_requests_carry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXOTEL_API_KEY", wire.API_KEY)
    monkeypatch.setenv("EXOTEL_API_TOKEN", wire.API_TOKEN)
    monkeypatch.setenv("EXOTEL_ACCOUNT_SID", "env_sid")
    with wire.mock_exotel(f"{wire.BASE_URL}/v2/accounts/env_sid") as exotel:
        route = exotel.delete("/trunks").respond(200, json=wire.single("reference", None))

        async with build(transport=wire.respx_transport(exotel), rate_limit=None) as client:
            await client.trunks.delete(wire.TRUNK_SID)

    (call,) = route.calls
    assert call.request.headers["authorization"] == wire.BASIC_AUTH
    assert call.request.url.path == "/v2/accounts/env_sid/trunks"


def test_surrounding_whitespace_in_environment_variables_is_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXOTEL_API_KEY", "  env_key\n")
    monkeypatch.setenv("EXOTEL_API_TOKEN", "env_token\n")
    monkeypatch.setenv("EXOTEL_ACCOUNT_SID", " env_sid ")

    config = build().config

    assert (config.api_key, config.api_token, config.account_sid) == (
        "env_key",
        "env_token",
        "env_sid",
    )


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENV.values():
        monkeypatch.setenv(variable, "from_env")

    config = build_with_credentials().config

    assert (config.api_key, config.api_token, config.account_sid) == (
        wire.API_KEY,
        wire.API_TOKEN,
        wire.ACCOUNT_SID,
    )


def test_the_environment_is_read_once_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOTEL_REGION", "sg")
    client = build_with_credentials()

    monkeypatch.setenv("EXOTEL_REGION", "in")
    monkeypatch.setenv("EXOTEL_BASE_URL", "https://proxy.example.com")

    assert client.base_url == "https://api.exotel.com"


@pytest.mark.parametrize("missing", list(ENV))
@pytest.mark.parametrize("absent_as", ["none", "empty-string", "empty-env-var"])
def test_a_missing_credential_raises_configuration_error_naming_argument_and_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str, absent_as: str
) -> None:
    arguments: dict[str, str | None] = {
        "api_key": wire.API_KEY,
        "api_token": wire.API_TOKEN,
        "account_sid": wire.ACCOUNT_SID,
    }
    arguments[missing] = "" if absent_as == "empty-string" else None
    if absent_as == "empty-env-var":
        monkeypatch.setenv(ENV[missing], "   ")

    with pytest.raises(ConfigurationError) as caught:
        build(**arguments)

    assert f"{missing}=" in str(caught.value)
    assert ENV[missing] in str(caught.value)


@pytest.mark.parametrize("argument", list(ENV))
def test_a_credential_that_is_not_a_string_raises_configuration_error(argument: str) -> None:
    arguments: dict[str, object] = {
        "api_key": wire.API_KEY,
        "api_token": wire.API_TOKEN,
        "account_sid": wire.ACCOUNT_SID,
        argument: 12345,
    }

    with pytest.raises(ConfigurationError, match=argument):
        build(**arguments)


@pytest.mark.parametrize("account_sid", ["acme/other", "ac me", "..", "a?b", "a#b", "a%2F"])
def test_an_account_sid_unsafe_in_a_path_raises_configuration_error(account_sid: str) -> None:
    with pytest.raises(ConfigurationError, match="account_sid"):
        build(wire.API_KEY, wire.API_TOKEN, account_sid)


# -- regions and base_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "base_url"),
    [
        (None, "https://api.in.exotel.com"),
        ("in", "https://api.in.exotel.com"),
        ("sg", "https://api.exotel.com"),
        ("SG", "https://api.exotel.com"),
    ],
)
def test_the_region_picks_the_documented_base_url(region: str | None, base_url: str) -> None:
    assert build_with_credentials(region=region).base_url == base_url


def test_the_region_falls_back_to_exotel_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOTEL_REGION", "sg")

    assert build_with_credentials().base_url == "https://api.exotel.com"
    assert build_with_credentials(region="in").base_url == "https://api.in.exotel.com"


@pytest.mark.parametrize("region", ["us", "india", "in-mumbai", " "])
def test_an_unknown_region_raises_configuration_error_listing_the_known_ones(
    region: str,
) -> None:
    with pytest.raises(ConfigurationError, match="region") as caught:
        build_with_credentials(region=region)

    assert "'in'" in str(caught.value)
    assert "'sg'" in str(caught.value)


def test_base_url_overrides_the_region() -> None:
    client = build_with_credentials(region="sg", base_url="https://proxy.example.com/")

    assert client.base_url == "https://proxy.example.com"


def test_base_url_falls_back_to_exotel_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOTEL_BASE_URL", "http://127.0.0.1:4010")
    monkeypatch.setenv("EXOTEL_REGION", "sg")

    assert build_with_credentials().base_url == "http://127.0.0.1:4010"
    assert build_with_credentials(base_url="https://b.example.com").base_url == (
        "https://b.example.com"
    )


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost:4010",
        "http://LOCALHOST",
        "http://127.0.0.1:4010",
        "http://127.255.0.9",
        "http://[::1]:4010",
        "https://api.in.exotel.com",
        "https://10.0.0.5:8443",
        "https://proxy.example.com/exotel",
    ],
)
def test_https_anywhere_and_plain_http_to_loopback_are_accepted(base_url: str) -> None:
    assert httpx2.URL(build_with_credentials(base_url=base_url).base_url) == httpx2.URL(base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.in.exotel.com",
        "http://10.0.0.5:4010",
        "http://192.168.1.10",
        "http://0.0.0.0:4010",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://128.0.0.1",
        "http://[::2]",
    ],
)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="http://"):
        build_with_credentials(base_url=base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        f"https://{wire.API_KEY}:{wire.API_TOKEN}@api.in.exotel.com",
        f"http://{wire.API_KEY}:{wire.API_TOKEN}@127.0.0.1:4010",
        f"https://{wire.API_TOKEN}@api.in.exotel.com",
        f"ftp://{wire.API_KEY}:{wire.API_TOKEN}@api.in.exotel.com",
    ],
)
def test_credentials_inside_base_url_are_refused_without_echoing_them(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="credentials") as caught:
        build_with_credentials(base_url=base_url)

    assert wire.API_TOKEN not in str(caught.value)
    assert wire.API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://api.in.exotel.com",
        "api.in.exotel.com",
        "https://",
        "",
        "https://api.in.exotel.com/?region=in",
        "https://api.in.exotel.com/#top",
    ],
)
def test_a_base_url_that_is_not_an_absolute_http_url_is_refused(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        build_with_credentials(base_url=base_url)


# -- the other options -------------------------------------------------------------------------


def test_defaults_pace_at_200_calls_a_minute_and_allow_50_connections() -> None:
    config = build_with_credentials().config

    assert config.rate_limit == RateLimit(calls=200, period=60.0)
    assert config.max_connections == 50
    assert config.timeout.read == 30.0
    assert config.retry.max_retries > 0


def test_rate_limit_none_turns_pacing_off() -> None:
    assert build_with_credentials(rate_limit=None).config.rate_limit is None


def test_a_number_timeout_applies_to_each_attempt_and_an_httpx_timeout_is_kept() -> None:
    given = httpx2.Timeout(3.0, connect=1.0)

    assert build_with_credentials(timeout=7).config.timeout == httpx2.Timeout(7.0, pool=None)
    assert build_with_credentials(timeout=given).config.timeout is given


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_retries", -1),
        ("max_retries", True),
        ("max_retries", "3"),
        ("timeout", 0),
        ("timeout", -5.0),
        ("timeout", "30"),
        ("timeout", True),
        ("max_connections", 0),
        ("max_connections", 2.5),
        ("max_connections", True),
    ],
)
def test_a_bad_option_raises_configuration_error_naming_it(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=option):
        build_with_credentials(**{option: value})


def test_max_retries_overrides_the_policy() -> None:
    assert build_with_credentials(max_retries=0).config.retry.max_retries == 0
    assert build_with_credentials(max_retries=7).config.retry.max_retries == 7


def test_the_configuration_is_frozen() -> None:
    config = build_with_credentials().config

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.api_key = "other"  # type: ignore[misc]
    assert isinstance(config, ClientConfig)
