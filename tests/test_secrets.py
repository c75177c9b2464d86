"""The API token and SIP passwords never show: not in reprs, messages, tracebacks or logs."""

from __future__ import annotations

import logging
import pprint
import re
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import httpx2
import pytest
import respx

from exotel_trunking import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncTrunkingClient,
    AuthenticationError,
    ConfigurationError,
    ExotelError,
    InternalServerError,
    InvalidParameterError,
    PartialFailureError,
    ResponseDecodeError,
    RetryEvent,
    RetryPolicy,
)

from . import wire
from .transport.emulated import AnswerLog

LOGGERS = ("exotel_trunking", "httpx2", "httpcore2")
CREDENTIALS_PATH = f"trunks/{wire.TRUNK_SID}/credentials"


def assert_no_secret(text: str) -> None:
    for secret in wire.SECRETS:
        assert secret not in text


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture everything the SDK, httpx2 and httpcore2 log, down to DEBUG."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records  # the scenario did log something
    for record in caplog.records:
        assert_no_secret(record.getMessage())
        assert_no_secret(repr(record.args))
        if record.exc_info:
            assert_no_secret("".join(traceback.format_exception(*record.exc_info)))
    assert_no_secret(caplog.text)


# -- reprs -------------------------------------------------------------------------------------


def test_the_client_its_config_and_its_resources_never_show_the_token() -> None:
    client = wire.make_client(wire.mock_exotel())
    derived = client.with_options(max_retries=1)

    shown = [
        repr(client),
        str(client),
        repr(derived),
        repr(client.config),
        str(client.config),
        pprint.pformat(client.config),
        *(repr(getattr(client, name)) for name in ("trunks", "credentials", "bulk")),
    ]

    for text in shown:
        assert_no_secret(text)
    assert "'***'" in repr(client.config)
    assert client.config.api_token == wire.API_TOKEN


@pytest.mark.parametrize(
    "token", [f"{wire.API_TOKEN}\n", f" {wire.API_TOKEN}", f"{wire.API_TOKEN}\x00"]
)
def test_a_malformed_token_is_refused_without_echoing_it(token: str) -> None:
    with pytest.raises(ConfigurationError, match="api_token") as caught:
        AsyncTrunkingClient(
            wire.API_KEY,
            token,
            wire.ACCOUNT_SID,
            transport=wire.respx_transport(wire.mock_exotel()),
        )

    assert_no_secret(str(caught.value))
    assert_no_secret("".join(traceback.format_exception(caught.value)))


# -- errors ------------------------------------------------------------------------------------


# Each answer is a respx side effect: a response, or the httpx2 error the transport raises.
FAILURES = [
    pytest.param(
        lambda: httpx.Response(401, json=wire.failure("live", 401, 1010, "Authorization failed")),
        AuthenticationError,
        id="401",
    ),
    pytest.param(
        lambda: httpx.Response(500, text="<h1>oops</h1>"), InternalServerError, id="500-html"
    ),
    pytest.param(
        lambda: httpx2.ConnectError("connection refused"), APIConnectionError, id="connect-error"
    ),
    pytest.param(lambda: httpx2.ReadTimeout("timed out"), APITimeoutError, id="read-timeout"),
    pytest.param(
        lambda: httpx.Response(200, text="<html>maintenance</html>"), ResponseDecodeError, id="html"
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("answer", "error_class"), FAILURES)
async def test_errors_and_their_tracebacks_never_show_the_token(
    exotel: respx.MockRouter,
    answer: Callable[[], httpx.Response | Exception],
    error_class: type[ExotelError],
) -> None:
    route = exotel.post("/trunks").mock(side_effect=[answer()])

    async with wire.make_client(exotel) as client:
        with pytest.raises(error_class) as caught:
            await client.trunks.create("my_trunk")

    error = caught.value
    assert_no_secret(str(error))
    assert_no_secret(repr(error))
    assert_no_secret("".join(traceback.format_exception(error)))
    assert_no_secret(repr(vars(error)))
    (call,) = route.calls
    assert call.request.headers["authorization"] == wire.BASIC_AUTH  # it was sent, though


@pytest.mark.asyncio
async def test_a_partial_failure_never_shows_the_token(exotel: respx.MockRouter) -> None:
    failed = wire.item_failed("live", 400, 1002, "Invalid parameter", "Destination not whitelisted")
    exotel.post(f"/trunks/{wire.TRUNK_SID}/destination-uris").respond(
        207, json=wire.per_item("live", [failed], http_code=207)
    )

    async with wire.make_client(exotel) as client:
        with pytest.raises(PartialFailureError) as caught:
            await client.destination_uris.add(wire.TRUNK_SID, "203.0.113.50:5061;transport=tls")

    assert_no_secret("".join(traceback.format_exception(caught.value)))


@pytest.mark.asyncio
async def test_an_invalid_parameter_error_never_shows_the_token(exotel: respx.MockRouter) -> None:
    async with wire.make_client(exotel) as client:  # no route: a request would fail the test
        with pytest.raises(InvalidParameterError) as caught:
            await client.credentials.get("a/b")

    assert_no_secret("".join(traceback.format_exception(caught.value)))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"request_id":"r1","response":{"status":"success","code":200,'
            b'"data":{"username":"'
            + wire.TRUNK_SID.encode()
            + b'","password":"'
            + wire.SIP_PASSWORD.encode()
            + b'"',
            id="truncated-json",
        ),
        pytest.param(
            b'{"username":"'
            + wire.TRUNK_SID.encode()
            + b'","password":"'
            + wire.SIP_PASSWORD.encode()
            + b'"}',
            id="bare-record",
        ),
    ],
)
async def test_a_credentials_body_that_is_no_envelope_never_shows_the_sip_password(
    exotel: respx.MockRouter, body: bytes
) -> None:
    exotel.get(f"/{CREDENTIALS_PATH}").respond(200, content=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.credentials.get(wire.TRUNK_SID)

    assert_no_secret(str(caught.value))
    assert_no_secret(caught.value.excerpt)
    assert_no_secret("".join(traceback.format_exception(caught.value)))


@pytest.mark.asyncio
async def test_credentials_that_fail_to_decode_never_show_the_sip_password(
    exotel: respx.MockRouter,
) -> None:
    record = {"username": None, "password": wire.SIP_PASSWORD}
    exotel.get(f"/{CREDENTIALS_PATH}").respond(200, json=wire.single("live", record))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.credentials.get(wire.TRUNK_SID)

    assert "username" in str(caught.value)
    assert_no_secret("".join(traceback.format_exception(caught.value)))


@pytest.mark.asyncio
async def test_decoded_credentials_hold_the_password_and_hide_it(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/{CREDENTIALS_PATH}").respond(
        200, json=wire.single("live", wire.credentials_record("live"))
    )

    async with wire.make_client(exotel) as client:
        credentials = await client.credentials.get(wire.TRUNK_SID)

    assert credentials is not None
    assert credentials.password == wire.SIP_PASSWORD
    assert_no_secret(repr(credentials))
    assert_no_secret(str(credentials))
    assert_no_secret(pprint.pformat(credentials))


# -- logs --------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("own_http_client", [False, True], ids=["sdk-client", "http_client"])
async def test_nothing_logged_at_debug_shows_a_secret(
    exotel: respx.MockRouter, debug_logs: pytest.LogCaptureFixture, own_http_client: bool
) -> None:
    def credentials() -> httpx.Response:
        return httpx.Response(200, json=wire.single("live", wire.credentials_record("live")))

    route = exotel.get(f"/{CREDENTIALS_PATH}").mock(
        side_effect=[
            httpx.Response(503, json=wire.failure("live", 503, 1099, "Unavailable")),
            credentials(),
            httpx2.ConnectError("connection refused"),
            credentials(),
            httpx.Response(401, json=wire.failure("live", 401, 1010, "Authorization failed")),
            httpx.Response(500, text="<html>down</html>"),
        ]
    )
    events: list[RetryEvent] = []
    # Requests go through httpx2.AsyncClient.send (the SDK's own or the user's), which logs too.
    transport = wire.respx_transport(exotel)
    sender = (
        {"http_client": httpx2.AsyncClient(transport=transport)}
        if own_http_client
        else {"transport": transport}
    )

    async with wire.make_client(
        retry=RetryPolicy(initial_delay=0.0), max_retries=1, on_retry=events.append, **sender
    ) as client:
        assert await client.credentials.get(wire.TRUNK_SID) is not None  # after a 503
        assert await client.credentials.get(wire.TRUNK_SID) is not None  # after a connect error
        with pytest.raises(AuthenticationError):
            await client.credentials.get(wire.TRUNK_SID)
        with pytest.raises(InternalServerError):
            await client.credentials.get(wire.TRUNK_SID)

    assert route.call_count == 6
    assert len(events) == 2
    assert_no_secret(repr(events))
    assert any(record.name == "exotel_trunking" for record in debug_logs.records)
    assert any(record.name == "httpx2" for record in debug_logs.records)
    assert_no_secret_logged(debug_logs)


@asynccontextmanager
async def loopback_server(answers: list[bytes]) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A real HTTP/1.1 server on 127.0.0.1 answering each request with the next JSON body.

    Yields its base URL and the raw requests it received (head and body).
    """
    received: list[bytes] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        buffer = b""
        async with stream:
            try:
                while answers:
                    while b"\r\n\r\n" not in buffer:
                        buffer += await stream.receive()
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length: *(\d+)", head)
                    size = int(length.group(1)) if length else 0
                    while len(rest) < size:
                        rest += await stream.receive()
                    received.append(head + b"\r\n\r\n" + rest[:size])
                    buffer = rest[size:]
                    body = answers.pop(0)
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}", received
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_nothing_logged_over_a_real_connection_shows_a_secret(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    credentials = wire.single("live", wire.credentials_record("live"))
    duplicate = wire.duplicate("live")[1]
    answers = [httpx2.Response(200, json=body).content for body in (credentials, duplicate)]

    async with (
        loopback_server(answers) as (base_url, received),
        wire.make_client(base_url=base_url) as client,
    ):
        found = await client.credentials.get(wire.TRUNK_SID)
        with pytest.raises(APIStatusError):
            await client.phone_numbers.map(wire.TRUNK_SID, "+919876543210")

    assert found is not None
    assert found.password == wire.SIP_PASSWORD
    assert len(received) == 2
    for raw in received:  # the credentials did go on the wire, in the header only
        header = re.search(rb"(?im)^authorization: *(.+?)\r$", raw)
        assert header is not None
        assert header.group(1) == wire.BASIC_AUTH.encode()
        assert wire.API_TOKEN.encode() not in raw
    # The SDK, httpx2.AsyncClient and its connection pool (httpcore2) each logged the requests.
    names = {record.name.split(".")[0] for record in debug_logs.records}
    assert {"exotel_trunking", "httpx2", "httpcore2"} <= names
    assert_no_secret_logged(debug_logs)


# -- SIP digest credentials ---------------------------------------------------------------------

#: A password no other text of the test could contain by chance.
DIGEST_PASSWORD = "Kp4-distinctive-Zx9q-digest"


@pytest.mark.anyio
async def test_a_sip_password_shows_only_as_the_value_returned_by_the_call_that_set_it(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    from exotel_trunking.emulator import Emulator  # noqa: PLC0415 - only this test needs it

    emulator = Emulator(wire.API_KEY, wire.API_TOKEN, wire.ACCOUNT_SID, dialect="live")
    recording = AnswerLog(emulator)
    shown: list[str] = []
    errors: list[BaseException] = []
    async with wire.make_client(transport=recording, max_retries=2) as client:
        sid = (await client.trunks.create("voice_ai")).trunk_sid
        created = await client.credentials.create(sid, "voicebot", DIGEST_PASSWORD)
        listed = await client.credentials.list(sid)
        renamed = await client.credentials.update(sid, created.id, friendly_name="bot")
        for duplicate in (DIGEST_PASSWORD, f"{DIGEST_PASSWORD}2"):  # 409 for the user name
            with pytest.raises(APIStatusError) as conflict:
                await client.credentials.create(sid, "voicebot", duplicate)
            errors.append(conflict.value)
        emulator.script("POST", "/trunks/*/credentials", "drop_after")
        with pytest.raises(APIConnectionError) as dropped:  # outcome unknown: not repeated
            await client.credentials.create(sid, "voicebot2", DIGEST_PASSWORD)
        errors.append(dropped.value)
        with pytest.raises(InvalidParameterError) as refused:
            await client.credentials.create(sid, "voicebot3", f" {DIGEST_PASSWORD}")
        errors.append(refused.value)
        shown += [repr(client), repr(client.credentials), repr(emulator), repr(emulator.state)]

    assert created.password == DIGEST_PASSWORD  # the one deliberate display
    shown += [repr(created), str(created), repr(listed), repr(renamed), pprint.pformat(created)]
    for error in errors:
        shown += [str(error), repr(error), "".join(traceback.format_exception(error))]
    shown += [repr(record.to_dict()) for record in emulator.requests]
    shown.append(repr(emulator.snapshot()))
    shown += [answer.text for answer in recording.answers]  # never echoed by the service
    shown += [record.getMessage() + repr(vars(record)) for record in debug_logs.records]
    assert len(recording.answers) == len(emulator.requests) - 1 == 6  # the drop has no answer
    assert debug_logs.records
    for text in shown:
        assert DIGEST_PASSWORD not in text
    [stored, _] = emulator.state.credentials(sid)  # the dropped create had been applied
    assert stored.password == DIGEST_PASSWORD  # ...and the service does hold it
