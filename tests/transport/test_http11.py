"""The transport's HTTP/1.1 codec, checked against h11 (which it replaces) wherever they agree."""

from __future__ import annotations

import h11
import httpx
import pytest

from exotel_trunking._transport._connections import ConnectionPoolTransport
from exotel_trunking._transport._http11 import (
    MAX_HEAD_SIZE,
    LocalProtocolError,
    RemoteProtocolError,
    Response,
    ResponseReader,
    encode_request,
)

from .test_connections import answering, serving

Headers = list[tuple[bytes, bytes]]
HOST: Headers = [(b"Host", b"api.example.com")]
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": true}'
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4;name=value\r\n{"a"\r\n'
    b"7 \r\n: true}\r\n"
    b"0;last\r\nX-Trailer: 1\r\nX-Other:  two \r\n\r\n"
)


# -- helpers ---------------------------------------------------------------------------------


class IncompleteError(Exception):
    """h11 wants more bytes."""


def h11_encode(method: bytes, target: bytes, headers: Headers, body: bytes = b"") -> bytes:
    """The bytes h11 sends for a request."""
    conn = h11.Connection(h11.CLIENT)
    data = conn.send(h11.Request(method=method, target=target, headers=headers))
    assert data is not None
    if body:
        data += conn.send(h11.Data(data=body))
    return data + conn.send(h11.EndOfMessage())


def h11_parse(raw: bytes, method: bytes = b"GET", *, eof: bool = False) -> Response:
    """What h11 makes of a response to a ``method`` request, in the codec's terms."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=HOST))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    if eof:
        conn.receive_data(b"")
    head: h11.Response | None = None
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        elif event is h11.NEED_DATA or event is h11.PAUSED:
            raise IncompleteError(event)
    assert head is not None
    reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
    return Response(
        status=head.status_code,
        reason=head.reason,
        headers=head.headers.raw_items(),
        body=body,
        http_version=b"HTTP/" + head.http_version,
        reusable=reusable and conn.trailing_data == (b"", False),  # nothing after it, no EOF
    )


def parse(*pieces: bytes, method: bytes = b"GET", eof: bool = False) -> Response:
    """Feed ``pieces`` one by one (then the end, with ``eof``); the response, which must come
    with the last piece, or with the end."""
    reader = ResponseReader(method)
    for piece in pieces[:-1]:
        assert reader.feed(piece) is None
    response = reader.feed(pieces[-1]) if pieces else None
    if eof:
        assert response is None
        response = reader.feed_eof()
    assert response is not None
    return response


def byte_by_byte(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def refused(raw: bytes, method: bytes = b"GET", *, eof: bool = False) -> str:
    """The message of the error the codec raises on ``raw`` fed whole (then the end)."""
    reader = ResponseReader(method)
    if eof:
        assert reader.feed(raw) is None
        with pytest.raises(RemoteProtocolError) as caught:
            reader.feed_eof()
    else:
        with pytest.raises(RemoteProtocolError) as caught:
            reader.feed(raw)
    return str(caught.value)


def outcomes(raw: bytes) -> tuple[Response | str, Response | str]:
    """What h11 and the codec make of ``raw``: the response, "refused" or "incomplete"."""
    try:
        expected: Response | str = h11_parse(raw)
    except h11.RemoteProtocolError:
        expected = "refused"
    except IncompleteError:
        expected = "incomplete"
    try:
        got: Response | str | None = ResponseReader(b"GET").feed(raw)
    except RemoteProtocolError:
        got = "refused"
    return expected, "incomplete" if got is None else got


# -- encoding requests -----------------------------------------------------------------------


def httpx_request(method: str, url: str, **kwargs: object) -> tuple[bytes, bytes, Headers, bytes]:
    request = httpx.Request(method, url, **kwargs)  # type: ignore[arg-type]
    return request.method.encode(), request.url.raw_path, request.headers.raw, request.read()


REQUESTS = [
    httpx_request("GET", "http://api.example.com/v2/accounts/a/trunks"),
    httpx_request(
        "POST",
        "https://api.example.com/v2/accounts/a/trunks/t1/phone-numbers",
        json={"phone_number": "+919876543210"},
        headers={"Authorization": "Basic a2V5OnRva2Vu", "User-Agent": "exotel-trunking/0.1"},
    ),
    httpx_request("DELETE", "http://127.0.0.1:8000/v2/a%20b?x=1&y=%2F", headers={"X-A": "b"}),
    httpx_request("PUT", "http://h/", content=b"", headers={"content-type": "text/plain"}),
    (b"GET", b"/", [(b"X-First", b"1"), (b"HOST", b"h"), (b"x-Mixed-Case", b"")], b""),
    (b"PATCH", b"*", [*HOST, (b"X-Obs", b"caf\xc3\xa9 \x01\x7f"), (b"X-Tab", b"a\tb")], b""),
    (b"POST", b"/x", [*HOST, (b"Content-Length", b"5")], b"hello"),
    (b"POST", b"/x", [*HOST, (b"Content-Length", b"0")], b""),
]


@pytest.mark.parametrize(("method", "target", "headers", "body"), REQUESTS)
def test_a_request_encodes_to_exactly_what_h11_sends(
    method: bytes, target: bytes, headers: Headers, body: bytes
) -> None:
    assert encode_request(method, target, headers, body).data == h11_encode(
        method, target, headers, body
    )


def test_the_request_line_headers_and_body_are_laid_out_in_order() -> None:
    headers = [(b"X-A", b"1"), (b"Host", b"h"), (b"Content-Length", b"2")]
    assert encode_request(b"POST", b"/p?q", headers, b"{}").data == (
        b"POST /p?q HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n{}"
    )


BAD_REQUESTS = {
    "method with a space": (b"GE T", b"/", HOST, b""),
    "empty method": (b"", b"/", HOST, b""),
    "method with a NUL": (b"G\x00T", b"/", HOST, b""),
    "empty target": (b"GET", b"", HOST, b""),
    "target with a space": (b"GET", b"/a b", HOST, b""),
    "target with a DEL": (b"GET", b"/a\x7f", HOST, b""),
    "target with a newline": (b"GET", b"/a\r\nX: y", HOST, b""),
    "target with a non-ASCII byte": (b"GET", b"/caf\xc3\xa9", HOST, b""),
    "header name with a space": (b"GET", b"/", [*HOST, (b"X Bad", b"1")], b""),
    "header name with a colon": (b"GET", b"/", [*HOST, (b"X:Y", b"1")], b""),
    "empty header name": (b"GET", b"/", [*HOST, (b"", b"1")], b""),
    "value with LF": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\nb")], b""),
    "value with CR": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\rb")], b""),
    "value with CRLF": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\r\nX-Injected: 1")], b""),
    "value with NUL": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\x00b")], b""),
    "value with VT": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\x0bb")], b""),
    "value with FF": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\x0cb")], b""),
    "value with a leading space": (b"GET", b"/", [*HOST, (b"X-Bad", b" a")], b""),
    "value with a trailing tab": (b"GET", b"/", [*HOST, (b"X-Bad", b"a\t")], b""),
    "no Host": (b"GET", b"/", [(b"X-A", b"1")], b""),
    "two Hosts": (b"GET", b"/", [*HOST, (b"host", b"other")], b""),
    "a body without Content-Length": (b"POST", b"/", HOST, b"{}"),
    "a Content-Length too small": (b"POST", b"/", [*HOST, (b"Content-Length", b"1")], b"{}"),
    "a Content-Length too large": (b"POST", b"/", [*HOST, (b"Content-Length", b"3")], b"{}"),
    "a Content-Length without a body": (b"GET", b"/", [*HOST, (b"Content-Length", b"3")], b""),
    "a Content-Length that is no number": (
        b"POST", b"/", [*HOST, (b"Content-Length", b"two")], b"{}"
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "target", "headers", "body"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys()
)
def test_a_request_h11_refuses_is_refused(
    method: bytes, target: bytes, headers: Headers, body: bytes
) -> None:
    with pytest.raises(h11.LocalProtocolError):
        h11_encode(method, target, headers, body)
    with pytest.raises(LocalProtocolError):
        encode_request(method, target, headers, body)


@pytest.mark.parametrize(
    "headers",
    [
        [*HOST, (b"Transfer-Encoding", b"chunked")],
        [*HOST, (b"Content-Length", b"0"), (b"Content-Length", b"0")],
        [*HOST, (b"Content-Length", b"0, 0")],
    ],
    ids=["transfer-encoding", "repeated content-length", "listed content-length"],
)
def test_chunked_requests_and_repeated_lengths_are_refused_though_h11_sends_them(
    headers: Headers,
) -> None:
    h11_encode(b"POST", b"/", headers)  # h11 chunks the (empty) body, or merges the lengths
    with pytest.raises(LocalProtocolError):
        encode_request(b"POST", b"/", headers, b"")


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_in_each_part_of_a_request_is_accepted_exactly_when_h11_accepts_it(
    byte: int,
) -> None:
    b = bytes([byte])
    variants = [
        (b"G" + b + b"T", b"/", HOST),
        (b"GET", b"/" + b, HOST),
        (b"GET", b"/", [*HOST, (b"X" + b, b"v")]),
        (b"GET", b"/", [*HOST, (b"X", b"a" + b + b"a")]),
        (b"GET", b"/", [*HOST, (b"X", b + b"a")]),
        (b"GET", b"/", [*HOST, (b"X", b"a" + b)]),
    ]
    for method, target, headers in variants:
        try:
            expected: bytes | None = h11_encode(method, target, headers)
        except h11.LocalProtocolError:
            expected = None
        try:
            got: bytes | None = encode_request(method, target, headers, b"").data
        except LocalProtocolError:
            got = None
        assert got == expected, (method, target, headers)


def test_a_request_says_whether_it_closes_the_connection() -> None:
    def closes(headers: list[tuple[bytes, bytes]]) -> bool:
        return encode_request(b"GET", b"/", headers, b"").closes

    assert not closes([*HOST])
    assert not closes([*HOST, (b"Connection", b"keep-alive")])
    assert closes([*HOST, (b"Connection", b"keep-alive, Close")])
    assert closes([(b"connection", b"close"), *HOST])
    assert closes([*HOST, (b"Connection", b"keep-alive"), (b"Connection", b"close")])
    assert not closes([*HOST, (b"X-Connection", b"close")])
    assert not closes([*HOST, (b"Connection", b"closed")])


# -- reading responses -----------------------------------------------------------------------


def test_a_content_length_body_fed_in_one_piece() -> None:
    response = parse(OK)
    assert response == Response(
        status=200,
        reason=b"OK",
        headers=[(b"Content-Type", b"application/json"), (b"Content-Length", b"11")],
        body=b'{"a": true}',
        http_version=b"HTTP/1.1",
        reusable=True,
    )


def test_a_content_length_body_fed_byte_by_byte() -> None:
    assert parse(*byte_by_byte(OK)) == parse(OK)


@pytest.mark.parametrize("raw", [OK, CHUNKED, b"HTTP/1.1 100 Continue\r\n\r\n" + OK])
def test_a_response_split_anywhere_in_two_reads_the_same(raw: bytes) -> None:
    whole = parse(raw)
    for split in range(1, len(raw)):
        assert parse(raw[:split], raw[split:]) == whole, split


def test_a_response_split_at_the_end_of_its_head() -> None:
    head_end = OK.index(b"\r\n\r\n") + 4
    for split in (head_end - 2, head_end - 1, head_end, head_end + 1):
        assert parse(OK[:split], OK[split:]).body == b'{"a": true}'


def test_a_chunked_body_with_extensions_and_trailers_fed_byte_by_byte() -> None:
    response = parse(*byte_by_byte(CHUNKED))
    assert response.body == b'{"a": true}'
    assert response.headers == [(b"Transfer-Encoding", b"chunked")]  # no trailers
    assert response.reusable
    assert parse(CHUNKED) == response


def test_a_chunked_body_without_trailers_ends_at_the_blank_line() -> None:
    raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    assert parse(raw).body == b"hi"
    assert parse(*byte_by_byte(raw)).reusable


@pytest.mark.parametrize("status", [b"100 Continue", b"102 Processing", b"103 Early Hints"])
def test_informational_responses_are_skipped(status: bytes) -> None:
    raw = b"HTTP/1.1 " + status + b"\r\nLink: </a>; rel=preload\r\n\r\n" + OK
    assert parse(raw) == parse(OK)
    assert parse(*byte_by_byte(raw)) == parse(OK)


def test_an_informational_response_alone_is_not_a_response() -> None:
    reader = ResponseReader(b"GET")
    assert reader.feed(b"HTTP/1.1 100 Continue\r\n\r\n") is None
    with pytest.raises(RemoteProtocolError, match="without sending a response"):
        reader.feed_eof()


def test_a_protocol_switch_raises() -> None:
    message = refused(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    assert "101" in message


def test_a_tunnel_opened_by_connect_raises() -> None:
    refused(b"HTTP/1.1 200 Connection established\r\n\r\n", method=b"CONNECT")
    assert parse(b"HTTP/1.1 407 Auth\r\ncontent-length: 0\r\n\r\n", method=b"CONNECT").reusable


@pytest.mark.parametrize(
    ("status", "method"),
    [(b"204 No Content", b"DELETE"), (b"304 Not Modified", b"GET"), (b"200 OK", b"HEAD")],
)
def test_responses_that_never_have_a_body_ignore_their_content_length(
    status: bytes, method: bytes
) -> None:
    raw = b"HTTP/1.1 " + status + b"\r\nContent-Length: 11\r\n\r\n"
    response = parse(raw, method=method)
    assert (response.body, response.reusable) == (b"", True)
    assert response == h11_parse(raw, method)


def test_an_http_1_0_response_is_not_reusable() -> None:
    response = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert (response.body, response.http_version, response.reusable) == (b"hi", b"HTTP/1.0", False)


@pytest.mark.parametrize("value", [b"close", b"Close", b"keep-alive, close", b"upgrade ,CLOSE"])
def test_a_response_with_connection_close_is_not_reusable(value: bytes) -> None:
    raw = b"HTTP/1.1 200 OK\r\nConnection: " + value + b"\r\nContent-Length: 2\r\n\r\nhi"
    assert not parse(raw).reusable
    assert parse(raw.replace(value, b"keep-alive")).reusable


def test_a_body_without_framing_runs_until_the_end() -> None:
    reader = ResponseReader(b"GET")
    assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhel") is None
    assert reader.feed(b"") is None
    assert reader.feed(b"lo") is None
    response = reader.feed_eof()
    assert (response.body, response.reusable) == (b"hello", False)


def test_a_head_without_a_body_then_the_end_is_an_empty_body() -> None:
    assert parse(b"HTTP/1.1 200 OK\r\n\r\n", eof=True).body == b""


@pytest.mark.parametrize(
    "lengths",
    [[b"5", b"5"], [b"5, 5"], [b"5,5", b"5"]],
    ids=["two headers", "a list", "both"],
)
def test_repeated_content_lengths_that_agree_are_accepted(lengths: list[bytes]) -> None:
    fields = b"".join(b"Content-Length: " + length + b"\r\n" for length in lengths)
    raw = b"HTTP/1.1 200 OK\r\n" + fields + b"\r\nhello"
    response = parse(raw)
    assert response.body == h11_parse(raw).body == b"hello"
    # As received: h11 would keep one Content-Length: 5.
    assert response.headers == [(b"Content-Length", length) for length in lengths]


@pytest.mark.parametrize(
    "lengths",
    [[b"5", b"6"], [b"5, 6"], [b"5", b"05"], [b"5,"]],
    ids=["two headers", "a list", "leading zero", "an empty item"],
)
def test_repeated_content_lengths_that_disagree_raise(lengths: list[bytes]) -> None:
    fields = b"".join(b"Content-Length: " + length + b"\r\n" for length in lengths)
    assert "conflicting" in refused(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\nhello")


@pytest.mark.parametrize(
    "value", [b"-1", b"+5", b"0x5", b"1e3", b"5 5", b"", b"1" * 21, b"\xd9\xa3"]
)
def test_a_content_length_that_is_not_digits_raises(value: bytes) -> None:
    refused(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nhello")


def test_a_transfer_encoding_beside_a_content_length_wins_but_the_connection_is_dropped() -> None:
    raw = CHUNKED.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n", 1)
    response = parse(raw)
    assert (response.body, response.reusable) == (b'{"a": true}', False)
    assert response.body == h11_parse(raw).body


@pytest.mark.parametrize(
    "fields",
    [
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ],
)
def test_a_transfer_encoding_other_than_chunked_raises(fields: bytes) -> None:
    refused(b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n0\r\n\r\n")


def test_a_head_up_to_the_size_limit_is_read_and_a_larger_one_raises() -> None:
    def head(size: int) -> bytes:
        start = b"HTTP/1.1 200 OK\r\nX-Pad: "
        end = b"\r\nContent-Length: 0\r\n\r\n"
        return start + b"a" * (size - len(start) - len(end)) + end

    assert parse(head(MAX_HEAD_SIZE)).headers[0] == (b"X-Pad", b"a" * (MAX_HEAD_SIZE - 47))
    assert parse(head(MAX_HEAD_SIZE)[:1000], head(MAX_HEAD_SIZE)[1000:]).status == 200
    assert "larger than" in refused(head(MAX_HEAD_SIZE + 1))
    reader = ResponseReader(b"GET")
    assert reader.feed(head(MAX_HEAD_SIZE + 1)[:MAX_HEAD_SIZE]) is None
    with pytest.raises(RemoteProtocolError, match="larger than"):
        reader.feed(b"a")  # still no end of the head in sight


def test_an_endless_chunk_size_line_raises() -> None:
    reader = ResponseReader(b"GET")
    assert reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;") is None
    with pytest.raises(RemoteProtocolError, match="longer than"):
        reader.feed(b"x" * MAX_HEAD_SIZE)


@pytest.mark.parametrize(
    "line",
    [
        b"SPDY/9 banana",
        b"http/1.1 200 OK",
        b"HTTP/2.0 200 OK",
        b"HTTP/1.2 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 2x0 OK",
        b"HTTP/1.1 099 Too Low",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1 200\tOK",
        b"HTTP/1.1 200 O\x00K",
        b"HTTP/1.1 200 O\rK",
        b"HTTP/1.1",
        b"",
        b" HTTP/1.1 200 OK",
    ],
)
def test_a_malformed_status_line_raises(line: bytes) -> None:
    refused(line + b"\r\nContent-Length: 0\r\n\r\n")


def test_garbage_raises_before_a_whole_head_arrives() -> None:
    refused(b"\x15\x03\x03\x00\x02\x02\x46")  # a TLS alert, from a server that wants TLS
    refused(b"HTTP/2")
    assert ResponseReader(b"GET").feed(b"HTTP/1.") is None


@pytest.mark.parametrize(
    "fields",
    [
        b"No-Colon\r\n",
        b"Space-Before : colon\r\n",
        b": no name\r\n",
        b"X[y]: 1\r\n",
        b"X: a\x00b\r\n",
        b"X: a\rb\r\n",
        b"X: a\x0bb\r\n",
        b"X: a\x0cb\r\n",
        b" Folded: at the start\r\n",
    ],
)
def test_a_malformed_header_line_raises(fields: bytes) -> None:
    refused(b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 0\r\n\r\n")


def test_bare_lf_line_ends_and_folded_lines_are_read_as_h11_reads_them() -> None:
    raw = b"HTTP/1.1 200 OK\nX-Folded: a  \n  b\r\n\tc\nContent-Length: 2\r\n\nhi"
    response = parse(raw)
    assert response.headers == [(b"X-Folded", b"a   b c"), (b"Content-Length", b"2")]
    assert response == h11_parse(raw)


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        (b"x\r\n", "illegal chunk header"),
        (b"\r\n", "illegal chunk header"),
        (b"2 ;a\r\nhi\r\n0\r\n\r\n", "illegal chunk header"),
        (b"2;a\nb\r\nhi\r\n0\r\n\r\n", "illegal chunk header"),
        (b"-2\r\nhi\r\n0\r\n\r\n", "illegal chunk header"),
        (b"2\r\nhiX\r\n0\r\n\r\n", "malformed chunk footer"),
        (b"0\r\nBad Trailer\r\n\r\n", "illegal header line"),
    ],
)
def test_a_malformed_chunk_raises(chunks: bytes, error: str) -> None:
    assert error in refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "without sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "without sending a response"),
        (OK[:-3], "received 8 bytes, expected 11"),
        (CHUNKED[:-20], "incomplete chunked read"),
        (CHUNKED[:-2], "incomplete chunked read"),
    ],
    ids=["nothing", "mid-head", "mid-body", "mid-chunks", "mid-trailers"],
)
def test_the_end_before_the_response_is_complete_raises(raw: bytes, error: str) -> None:
    assert error in refused(raw, eof=True)


def test_bytes_after_the_response_make_the_connection_not_reusable() -> None:
    assert parse(OK + b"H") == h11_parse(OK + b"H")
    assert not parse(OK + b"H").reusable
    assert not parse(CHUNKED + b"HTTP/1.1 200 OK\r\n").reusable
    assert not parse(b"HTTP/1.1 204 No Content\r\n\r\n\r\n").reusable


def test_a_complete_response_takes_nothing_more() -> None:
    reader = ResponseReader(b"GET")
    assert reader.feed(OK) is not None
    with pytest.raises(RuntimeError):
        reader.feed(b"more")
    with pytest.raises(RuntimeError):
        reader.feed_eof()


# -- the same answers as h11 -----------------------------------------------------------------

VALID_RESPONSES = {
    "content-length": OK,
    "chunked": CHUNKED,
    "no reason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi",
    "empty reason": b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
    "odd reason": b"HTTP/1.1 500 Oops \t caf\xc3\xa9 \x01\x7f\r\nContent-Length: 0\r\n\r\n",
    "informational": b"HTTP/1.1 100 Continue\r\nX: 1\r\n\r\nHTTP/1.1 201 Created\r\n"
    b"Location: /x\r\nContent-Length: 0\r\n\r\n",
    "whitespace around values": b"HTTP/1.1 200 OK\r\nX-A:a\r\nX-B: \t b c \t\r\nX-Empty:\r\n"
    b"X-Spaces:   \r\nContent-Length: 1\r\n\r\n.",
    "obs-text and controls in a value": b"HTTP/1.1 200 OK\r\nX: \xff\xfe\x01\x1f\x7f\r\n"
    b"Content-Length: 0\r\n\r\n",
    "repeated fields keep their order": b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX: y\r\n"
    b"set-cookie: b=2\r\nContent-Length: 0\r\n\r\n",
    "connection close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
    "http/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "bare lf": b"HTTP/1.1 200 OK\nA: b\nContent-Length: 2\n\nhi",
    "mixed line ends": b"HTTP/1.1 200 OK\r\nA: b\nContent-Length: 2\n\r\nhi",
    "folded": b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\t d\r\nContent-Length: 0\r\n\r\n",
    "chunk sizes in hex": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"A\r\n0123456789\r\n00b\r\nabcdefghijk\r\n0\r\n\r\n",
    "trailers with bare lf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1\r\na\r\n0\r\nX: 1\n\n",
    "no trailers, bare lf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
    "204": b"HTTP/1.1 204 No Content\r\nX: 1\r\n\r\n",
}
UNTIL_EOF_RESPONSES = {
    "no framing": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello",
    "no framing, http/1.0": b"HTTP/1.0 200 OK\r\n\r\nhello",
    "no framing, no body": b"HTTP/1.1 200 OK\r\n\r\n",
}


@pytest.mark.parametrize("raw", VALID_RESPONSES.values(), ids=VALID_RESPONSES.keys())
def test_a_response_reads_as_h11_reads_it(raw: bytes) -> None:
    expected = h11_parse(raw)
    assert parse(raw) == expected
    assert parse(*byte_by_byte(raw)) == expected


@pytest.mark.parametrize("raw", UNTIL_EOF_RESPONSES.values(), ids=UNTIL_EOF_RESPONSES.keys())
def test_a_response_read_until_the_end_reads_as_h11_reads_it(raw: bytes) -> None:
    expected = h11_parse(raw, eof=True)
    assert parse(raw, eof=True) == expected
    assert parse(*byte_by_byte(raw), eof=True) == expected


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_in_each_part_of_a_response_head_is_accepted_exactly_when_h11_accepts_it(
    byte: int,
) -> None:
    b = bytes([byte])
    heads = [
        b"HTTP/1.1 200 O" + b + b"K\r\n",
        b"HTTP/1.1 200 OK\r\nX" + b + b"Y: 1\r\n",
        b"HTTP/1.1 200 OK\r\nX: a" + b + b"b\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: 1\r\n" + b + b"Y: 2\r\n",
    ]
    for head in heads:
        expected, got = outcomes(head + b"Content-Length: 0\r\n\r\n")
        assert got == expected, head


@pytest.mark.parametrize("byte", range(256))
def test_every_byte_in_a_chunk_size_line_is_accepted_exactly_when_h11_accepts_it(
    byte: int,
) -> None:
    b = bytes([byte])
    for line in (b"1" + b, b"1;" + b, b + b"1"):
        chunks = line + b"\r\nx\r\n0\r\n\r\n"
        expected, got = outcomes(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        assert got == expected, line


# -- through the transport -------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_transport_drops_a_connection_its_request_asked_to_close() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    async with serving(answering(ok)) as server:
        async with httpx.AsyncClient(transport=ConnectionPoolTransport(1)) as client:
            for _ in range(2):
                await client.get(server.url, headers={"Connection": "close"})
            await client.get(server.url)
            await client.get(server.url)
        assert server.accepted == 3


@pytest.mark.anyio
async def test_the_transport_reports_an_http_1_0_response_as_such_and_drops_it() -> None:
    old = b"HTTP/1.0 200 Fine\r\nContent-Length: 2\r\n\r\nhi"
    async with serving(answering(old)) as server:
        transport = ConnectionPoolTransport(1)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(server.url)
            assert transport.connections == 0
    assert (response.http_version, response.reason_phrase, response.text) == (
        "HTTP/1.0",
        "Fine",
        "hi",
    )
