"""How responses become results or errors: every error class, and bodies that are no envelope."""

from __future__ import annotations

import json
import traceback
from typing import NamedTuple

import pytest
import respx

from exotel_trunking import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ExotelError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
)
from exotel_trunking._transport._envelope import decode, excerpt

from . import wire

PATH = f"trunks/{wire.TRUNK_SID}/phone-numbers"
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


async def map_number(router: respx.MockRouter) -> None:
    async with wire.make_client(router) as client:
        await client.phone_numbers.map(wire.TRUNK_SID, "+919876543210")


class ErrorCase(NamedTuple):
    status: int
    error_code: int
    message: str
    description: str
    error_class: type[APIStatusError]


ERROR_TABLE = [
    (400, 1000, "Invalid request", "Missing required field: phone_number", BadRequestError),
    (401, 1010, "Authorization failed", "Invalid API key or token", AuthenticationError),
    (403, 1011, "Access denied", "No permission to access this resource", PermissionDeniedError),
    (404, 1003, "Resource not found", "Specified trunk_sid does not exist", NotFoundError),
    (409, 1002, "Resource exists", "Trunk or phone number already exists", ConflictError),
    (422, 1020, "Validation error", "Request validation failed", UnprocessableEntityError),
    (429, 1030, "Rate limit exceeded", "Too many requests, retry later", RateLimitError),
    (500, 1099, "Internal error", "Contact support", InternalServerError),
    (502, 1099, "Bad gateway", "Upstream failed", InternalServerError),
    (503, 1099, "Unavailable", "Maintenance", InternalServerError),
    (418, 1099, "Teapot", "Unlisted status", APIStatusError),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", wire.DIALECTS)
@pytest.mark.parametrize(
    "case", [ErrorCase(*row) for row in ERROR_TABLE], ids=[str(row[0]) for row in ERROR_TABLE]
)
async def test_an_error_status_raises_its_class_with_every_envelope_field(
    exotel: respx.MockRouter, dialect: wire.Dialect, case: ErrorCase
) -> None:
    status, error_code, message, description, error_class = case
    body = wire.failure(dialect, status, error_code, message, description)
    route = exotel.post(f"/{PATH}").respond(status, json=body)

    with pytest.raises(error_class) as caught:
        await map_number(exotel)

    assert route.call_count == 1
    error = caught.value
    assert type(error) is error_class
    assert isinstance(error, APIStatusError)
    assert isinstance(error, ExotelError)
    assert error.status_code == status
    assert error.error_code == error_code
    assert error.message == message
    assert error.description == description
    assert error.request_id == wire.REQUEST_IDS[dialect]
    assert error.method == "POST"
    assert error.path == f"{wire.ACCOUNT_PATH}/{PATH}"
    assert error.attempts == 1
    rendered = str(error)
    assert str(status) in rendered
    assert str(error_code) in rendered
    assert message in rendered
    assert wire.REQUEST_IDS[dialect] in rendered


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("header", "retry_after"),
    [("7", 7.0), ("1.5", 1.5), (None, None)],
)
async def test_a_429_carries_the_retry_after_the_server_asked_for(
    exotel: respx.MockRouter, header: str | None, retry_after: float | None
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    body = wire.failure("live", 429, 1030, "Rate limit exceeded")
    exotel.post(f"/{PATH}").respond(429, json=body, headers=headers)

    with pytest.raises(RateLimitError) as caught:
        await map_number(exotel)

    assert caught.value.retry_after == retry_after
    assert caught.value.error_code == 1030


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "error_code", "error_class"),
    [
        pytest.param(409, 1008, ConflictError, id="duplicate-409"),
        pytest.param(404, 1003, NotFoundError, id="404"),
        pytest.param(400, 1007, BadRequestError, id="400"),
        pytest.param(415, 1011, BadRequestError, id="415"),
        pytest.param(418, 1099, APIStatusError, id="418-unlisted"),
        pytest.param(500, 1099, InternalServerError, id="500"),
    ],
)
async def test_a_failure_envelope_under_http_200_raises_by_its_response_code(
    exotel: respx.MockRouter, code: int, error_code: int, error_class: type[APIStatusError]
) -> None:
    body = wire.failure("live", 200, error_code, "Failed", "Details", code=code)
    route = exotel.post(f"/{PATH}").respond(200, json=body)

    with pytest.raises(error_class) as caught:
        await map_number(exotel)

    assert route.call_count == 1
    assert type(caught.value) is error_class
    assert caught.value.status_code == code
    assert caught.value.error_code == error_code
    assert caught.value.request_id == wire.REQUEST_IDS["live"]


@pytest.mark.asyncio
async def test_a_failure_status_without_a_code_is_a_bad_request(exotel: respx.MockRouter) -> None:
    body = {"request_id": "r1", "response": {"status": "failure", "data": None}}
    exotel.post(f"/{PATH}").respond(200, json=body)

    with pytest.raises(BadRequestError) as caught:
        await map_number(exotel)

    assert caught.value.status_code == 400
    assert caught.value.request_id == "r1"


@pytest.mark.asyncio
async def test_a_502_html_page_from_a_proxy_raises_internal_server_error_with_a_short_excerpt(
    exotel: respx.MockRouter,
) -> None:
    exotel.post(f"/{PATH}").respond(502, content=NGINX_502, headers={"Content-Type": "text/html"})

    with pytest.raises(InternalServerError) as caught:
        await map_number(exotel)

    error = caught.value
    assert error.status_code == 502
    assert error.error_code is None
    assert error.request_id is None
    assert "502 Bad Gateway" in error.message
    assert "<" not in error.message
    assert "\n" not in error.message
    rendered = "".join(traceback.format_exception(error))
    assert "JSONDecodeError" not in rendered


@pytest.mark.asyncio
async def test_a_long_error_page_is_cut_to_a_short_excerpt(exotel: respx.MockRouter) -> None:
    page = b"<html><body>" + b"Service down. " * 2000 + b"</body></html>"
    exotel.post(f"/{PATH}").respond(500, content=page, headers={"Content-Type": "text/html"})

    with pytest.raises(InternalServerError) as caught:
        await map_number(exotel)

    assert caught.value.message.startswith("Service down.")
    assert caught.value.message.endswith("...")
    assert len(caught.value.message) <= 203
    assert len(str(caught.value)) < 400


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 404, 500])
async def test_an_error_status_with_an_empty_body_raises_its_class_with_a_message(
    exotel: respx.MockRouter, status: int
) -> None:
    exotel.post(f"/{PATH}").respond(status, content=b"")

    with pytest.raises(APIStatusError) as caught:
        await map_number(exotel)

    assert caught.value.status_code == status
    assert type(caught.value) is {400: BadRequestError, 404: NotFoundError}.get(
        status, InternalServerError
    )
    assert str(status) in caught.value.message
    assert "empty" in caught.value.message


@pytest.mark.asyncio
async def test_a_503_labelled_json_with_an_html_body_raises_internal_server_error(
    exotel: respx.MockRouter,
) -> None:
    page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    exotel.post(f"/{PATH}").respond(503, content=page, headers={"Content-Type": "application/json"})

    with pytest.raises(InternalServerError) as caught:
        await map_number(exotel)

    assert caught.value.status_code == 503
    assert caught.value.message == "503 Service Temporarily Unavailable"
    assert not isinstance(caught.value.__context__, json.JSONDecodeError)


@pytest.mark.asyncio
async def test_an_error_status_whose_json_is_not_an_envelope_keeps_the_status(
    exotel: respx.MockRouter,
) -> None:
    exotel.post(f"/{PATH}").respond(401, json={"error": "invalid_token"})

    with pytest.raises(AuthenticationError) as caught:
        await map_number(exotel)

    assert caught.value.error_code is None
    assert "invalid_token" in caught.value.message


NOT_ENVELOPES = [
    pytest.param(b"{not json", "application/json", id="bad-json"),
    pytest.param(b"", "application/json", id="empty"),
    pytest.param(b"   \n", "application/json", id="whitespace"),
    pytest.param(b"<html><body>Welcome to nginx!</body></html>", "text/html", id="html"),
    pytest.param(
        b'{"request_id": "r1", "response": {"status": "success", "data": {"id": "pn',
        "application/json",
        id="truncated-json",
    ),
    pytest.param(b"[]", "application/json", id="json-array"),
    pytest.param(b'{"status": "ok"}', "application/json", id="object-without-response"),
    pytest.param(b'{"response": "ok"}', "application/json", id="response-is-a-string"),
    pytest.param(b"null", "application/json", id="null"),
    pytest.param(b"\xff\xfe\x00garbage", "application/octet-stream", id="binary"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "content_type"), NOT_ENVELOPES)
async def test_a_2xx_that_is_not_an_envelope_raises_response_decode_error(
    exotel: respx.MockRouter, body: bytes, content_type: str
) -> None:
    exotel.post(f"/{PATH}").respond(200, content=body, headers={"Content-Type": content_type})

    with pytest.raises(ResponseDecodeError) as caught:
        await map_number(exotel)

    error = caught.value
    assert isinstance(error, ExotelError)
    assert not isinstance(error, json.JSONDecodeError)
    assert error.status_code == 200
    assert (error.method, error.path) == ("POST", f"{wire.ACCOUNT_PATH}/{PATH}")
    assert len(error.excerpt) <= 203
    assert "JSONDecodeError" not in "".join(traceback.format_exception(error))


@pytest.mark.asyncio
async def test_a_201_envelope_is_a_success(exotel: respx.MockRouter) -> None:
    body = wire.single("reference", wire.phone_number_record("reference"), method="POST")
    exotel.post(f"/{PATH}").respond(201, json=body)

    await map_number(exotel)  # does not raise


@pytest.mark.asyncio
async def test_a_success_envelope_without_status_but_with_an_error_code_raises(
    exotel: respx.MockRouter,
) -> None:
    body = {"request_id": "r2", "response": {"code": 404, "data": None}}
    exotel.post(f"/{PATH}").respond(200, json=body)

    with pytest.raises(NotFoundError):
        await map_number(exotel)


# -- decode(), the pure function behind all of the above ----------------------------------------


def test_decode_returns_the_data_and_request_id_of_a_single_envelope() -> None:
    body = json.dumps(wire.single("live", {"id": "41512"})).encode()

    envelope = decode(200, body)

    assert envelope.request_id == wire.REQUEST_IDS["live"]
    assert envelope.data == {"id": "41512"}
    assert envelope.items is None
    assert envelope.next_page_uri is None


def test_decode_returns_items_and_errors_of_a_per_item_envelope_with_the_next_page() -> None:
    ok = wire.item_ok("live", {"id": "1"})
    failed = wire.item_failed("live", 409, 1008, "Duplicate resource")
    body = wire.per_item("live", [ok, failed], metadata={"next_page_uri": "/next"})

    envelope = decode(207, json.dumps(body).encode())

    assert envelope.items is not None
    assert envelope.items[0] == {"id": "1"}
    assert isinstance(envelope.items[1], ConflictError)
    assert envelope.items[1].error_code == 1008
    assert envelope.next_page_uri == "/next"


@pytest.mark.parametrize("request_id", [None, 12345, ["x"]], ids=["missing-null", "number", "list"])
def test_decode_ignores_a_request_id_that_is_not_a_string(request_id: object) -> None:
    body = {"request_id": request_id, "response": {"status": "success", "data": None}}

    assert decode(200, json.dumps(body).encode()).request_id is None


@pytest.mark.parametrize(
    "error_data",
    [None, "oops", {"code": "1002", "message": 5}, {"code": True}],
    ids=["null", "string", "ill-typed-fields", "bool-code"],
)
def test_decode_of_an_ill_formed_error_data_still_raises_the_status_class(
    error_data: object,
) -> None:
    body = {"response": {"status": "failure", "code": 409, "error_data": error_data}}

    with pytest.raises(ConflictError) as caught:
        decode(409, json.dumps(body).encode())

    assert caught.value.error_code is None
    assert caught.value.message  # never empty


def test_excerpt_strips_tags_and_collapses_whitespace() -> None:
    assert excerpt(NGINX_502) == "502 Bad Gateway 502 Bad Gateway nginx/1.25.3"


def test_excerpt_of_undecodable_bytes_does_not_raise() -> None:
    assert excerpt(b"\xff\xfeok") == "\ufffd\ufffdok"


def test_error_statuses_map_to_the_documented_classes() -> None:
    for status, error_class in {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        415: BadRequestError,
        422: UnprocessableEntityError,
        429: RateLimitError,
        500: InternalServerError,
        504: InternalServerError,
        599: InternalServerError,
    }.items():
        with pytest.raises(error_class):
            decode(status, b"")


class LiveError(NamedTuple):
    status: int
    code: int  # the envelope's response.code
    error_code: int
    message: str
    description: str
    error_class: type[APIStatusError]


#: The live service's errors as live-api-extended.md captures them, and the class each raises.
LIVE_ERRORS = [
    LiveError(404, 404, 1000, "Not Found", "Not Found", NotFoundError),
    LiveError(
        400, 400, 1001, "Mandatory Parameter missing", "TrunkName is mandatory", BadRequestError
    ),
    LiveError(400, 400, 1002, "Invalid parameter", "Invalid PhoneNumber", BadRequestError),
    LiveError(403, 403, 1003, "Authorization failed", "Authorization failed", NotFoundError),
    LiveError(
        400, 400, 1007, "Invalid request body,failed parsing ", "unexpected EOF", BadRequestError
    ),
    LiveError(
        200, 409, 1008, "Duplicate resource", "Unable to create trunk with name t1", ConflictError
    ),
    LiveError(401, 401, 1010, "Authorization failed", "Authorization failed", AuthenticationError),
    LiveError(415, 415, 1011, "unsupported content type", "text/plain", BadRequestError),
]


@pytest.mark.parametrize("case", LIVE_ERRORS, ids=[str(case.error_code) for case in LIVE_ERRORS])
def test_each_live_error_code_raises_its_class_with_the_services_words(case: LiveError) -> None:
    body = wire.failure(
        "live", case.status, case.error_code, case.message, case.description, code=case.code
    )

    with pytest.raises(case.error_class) as caught:
        decode(case.status, json.dumps(body).encode(), method="POST", path="/v2/accounts/a/trunks")

    assert type(caught.value) is case.error_class
    assert (caught.value.error_code, caught.value.message) == (case.error_code, case.message)
    assert caught.value.description == case.description


def test_both_live_answers_for_an_unknown_trunk_are_not_found_the_403_keeping_its_status() -> None:
    not_found = wire.failure("live", 404, 1000, "Not Found", "Not Found")
    not_yours = wire.failure("live", 403, 1003, "Authorization failed", "Authorization failed")

    with pytest.raises(NotFoundError) as first:
        decode(404, json.dumps(not_found).encode())
    with pytest.raises(NotFoundError) as second:
        decode(403, json.dumps(not_yours).encode())

    assert first.value.status_code == 404
    assert second.value.status_code == 403
    assert not isinstance(second.value, PermissionDeniedError)


def test_the_references_403_is_still_a_permission_error() -> None:
    body = wire.failure("reference", 403, 1011, "Access denied", "No permission")

    with pytest.raises(PermissionDeniedError) as caught:
        decode(403, json.dumps(body).encode())

    assert caught.value.error_code == 1011


def test_a_redirect_is_an_error_status_not_a_success() -> None:
    with pytest.raises(APIStatusError) as caught:
        decode(302, b"")

    assert caught.value.status_code == 302
