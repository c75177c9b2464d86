"""A small, strict, sans-I/O HTTP/1.1 client codec: encode a whole request, parse a whole response.

The SDK's transport (:mod:`._connections`) used to drive one ``h11.Connection`` per connection.
h11 is general (client and server, streaming bodies, protocol switches, a state machine checked
on every event) and pays for it: about 100 µs of pure-Python CPU per request/response exchange,
10-15% of the client's CPU in a CPU-bound bulk run. The SDK needs much less: small requests sent
whole, each response read whole, one origin. This module does exactly that, with h11's
validation rules (RFC 9110/9112) wherever they apply, in about a sixth of the time (some 16 µs
against h11's 100 for a POST and a 400-byte JSON response, on the same machine).

* :func:`encode_request` turns a request into the bytes h11 would send for it, or raises
  :class:`LocalProtocolError` (nothing is sent).
* :class:`ResponseReader` is fed the bytes that arrive and returns the :class:`Response` once it
  is complete, or raises :class:`RemoteProtocolError`.

Where this codec deliberately differs from h11: only ``HTTP/1.0`` and ``HTTP/1.1`` status lines
are accepted; a response head over 16 KiB is refused however it arrives (h11 refuses it only
while incomplete); requests cannot use ``Transfer-Encoding`` nor repeat ``Content-Length``; a
response framed by both ``Transfer-Encoding`` and ``Content-Length`` is read chunked (as h11
does) but its connection is not reused (RFC 9112 section 6.3); response headers come as
received (h11 drops repeated ``Content-Length`` fields and lowercases ``Transfer-Encoding``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "MAX_HEAD_SIZE",
    "EncodedRequest",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Response",
    "ResponseReader",
    "encode_request",
]

#: The most a response head (status line and headers), a chunk-size line or a trailer block
#: may take (h11's default limit on an incomplete event).
MAX_HEAD_SIZE = 16 * 1024

_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VCHAR = bytes(range(0x21, 0x7F))
_HEXDIG = b"0123456789abcdefABCDEF"
#: What no header value may hold (h11's field-value rule); nor may it start or end with a space
#: or a tab.
_NOT_IN_VALUES = b"\x00\r\n\x0b\x0c"
#: The blank line that ends a head: CRLF CRLF, or (as h11 accepts) bare LFs.
_BLANK_LINE = re.compile(rb"\n\r?\n")
_OBS_FOLD = (b" ", b"\t")
_STATUS_PREFIX = b"HTTP/1."
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")
_NO_RESPONSE = "Server disconnected without sending a response."

# The reader's states.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_EOF, _DONE = range(8)


class ProtocolError(Exception):
    """A message that breaks HTTP/1.1's rules."""


class LocalProtocolError(ProtocolError):
    """The request cannot be sent as given (a header value with a newline, say)."""


class RemoteProtocolError(ProtocolError):
    """The server's response breaks HTTP/1.1's rules, or it hung up mid-response."""


@dataclass(slots=True)
class Response:
    """A complete response.

    Attributes:
        status: The status code.
        reason: The reason phrase, maybe empty.
        headers: The header fields as received: original name casing, values without the
            surrounding whitespace, folded lines joined.
        body: The whole body, de-chunked.
        http_version: ``b"HTTP/1.1"`` or ``b"HTTP/1.0"``.
        reusable: Whether the connection can carry another request: HTTP/1.1, no
            ``Connection: close``, a body framed by ``Content-Length`` or chunked (not both),
            and nothing received after the response.
    """

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    http_version: bytes
    reusable: bool


class EncodedRequest(NamedTuple):
    """A request ready to send.

    Attributes:
        data: Its bytes.
        closes: Whether it asks the server to close the connection after answering
            (``Connection: close``).
    """

    data: bytes
    closes: bool


def encode_request(
    method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> EncodedRequest:
    """A whole HTTP/1.1 request, in the bytes h11 writes for it.

    The request line, the ``Host`` header first, then the others in the given order and casing,
    a blank line and the body.

    Raises:
        LocalProtocolError: The method is not a token, the target is empty or holds spaces or
            control characters, a header name is not a token, a value holds CR, LF, NUL, VT or
            FF or starts or ends with whitespace; there is no ``Host`` header, or several; a
            body without a ``Content-Length`` header, a ``Content-Length`` that is not the
            body's length or is repeated; any ``Transfer-Encoding``.
    """
    if not method or method.translate(None, _TCHAR):
        raise LocalProtocolError(f"illegal method {method!r}")
    if not target or target.translate(None, _VCHAR):
        raise LocalProtocolError(f"illegal request target {target!r}")
    host: list[bytes] = []
    lines: list[bytes] = []
    length: bytes | None = None
    closes = False
    for name, value in headers:
        if not name or name.translate(None, _TCHAR):
            raise LocalProtocolError(f"illegal header name {name!r}")
        if value.translate(None, _NOT_IN_VALUES) != value or value.strip(b" \t") != value:
            raise LocalProtocolError(f"illegal header value {value!r}")
        lowered = name.lower()
        if lowered == b"host":
            if host:
                raise LocalProtocolError("several Host headers")
            host = [name, b": ", value, b"\r\n"]
            continue
        if lowered == b"content-length":
            if length is not None:
                raise LocalProtocolError("several Content-Length headers")
            length = value
        elif lowered == b"transfer-encoding":
            raise LocalProtocolError("Transfer-Encoding is not supported: send a whole body")
        elif lowered == b"connection":
            closes = closes or _has_close(value)
        lines += (name, b": ", value, b"\r\n")
    if not host:
        raise LocalProtocolError("missing Host header")
    _check_length(length, body)
    data = b"".join((method, b" ", target, b" HTTP/1.1\r\n", *host, *lines, b"\r\n", body))
    return EncodedRequest(data, closes)


def _check_length(length: bytes | None, body: bytes) -> None:
    """A body needs a Content-Length that counts it (h11 sends none without a body)."""
    if length is None:
        if body:
            raise LocalProtocolError("a request body needs a Content-Length header")
    elif not length.isdigit() or len(length) > 20 or int(length) != len(body):
        raise LocalProtocolError(f"Content-Length {length!r} for a body of {len(body)} bytes")


def _has_close(value: bytes) -> bool:
    value = value.lower()
    return b"close" in value and b"close" in [item.strip() for item in value.split(b",")]


class ResponseReader:
    """Parses the response to one request from the bytes fed to it.

    ``1xx`` informational responses before it are skipped; ``101 Switching Protocols`` (and a
    ``2xx`` answer to ``CONNECT``) raise, since this client does not switch protocols.

    Args:
        method: The request's method: the response to ``HEAD`` has no body.
    """

    __slots__ = (
        "_body",
        "_buffer",
        "_head",
        "_keep_alive",
        "_method",
        "_remaining",
        "_scanned",
        "_state",
    )

    def __init__(self, method: bytes) -> None:
        self._method = method
        self._buffer = bytearray()  # bytes fed but not yet consumed
        self._scanned = 0  # how much of the buffer the search for a line end has seen
        self._state = _HEAD
        self._head: tuple[bytes, int, bytes, list[tuple[bytes, bytes]]] = (b"", 0, b"", [])
        self._keep_alive = False
        self._remaining = 0
        self._body: list[bytes | bytearray] = []

    def feed(self, data: bytes) -> Response | None:
        """Take the next bytes received; the response once it is complete, else ``None``.

        Raises:
            RemoteProtocolError: The response is malformed, too large or a protocol switch.
        """
        if self._state == _DONE:
            raise RuntimeError("the response is already complete")
        buf: bytes | bytearray = data
        if self._buffer:
            self._buffer += data
            buf = self._buffer
        pos = 0
        while True:
            moved = self._step(buf, pos)
            if moved < 0:
                break
            pos = moved
            if self._state == _DONE:
                version, status, reason, headers = self._head
                reusable = self._keep_alive and pos == len(buf)
                return Response(status, reason, headers, b"".join(self._body), version, reusable)
        if buf is self._buffer:
            del self._buffer[:pos]
        elif pos < len(buf):
            self._buffer = bytearray(buf[pos:])
        return None

    def feed_eof(self) -> Response:
        """The server closed the connection: the response, if it ran until the end.

        Raises:
            RemoteProtocolError: The response was not complete.
        """
        if self._state == _UNTIL_EOF:
            self._state = _DONE
            version, status, reason, headers = self._head
            return Response(status, reason, headers, b"".join(self._body), version, False)
        if self._state == _HEAD:
            raise RemoteProtocolError(_NO_RESPONSE)
        if self._state == _LENGTH:
            got = sum(map(len, self._body))
            raise RemoteProtocolError(
                "peer closed connection without sending complete message body "
                f"(received {got} bytes, expected {got + self._remaining})"
            )
        if self._state == _DONE:
            raise RuntimeError("the response is already complete")
        raise RemoteProtocolError(
            "peer closed connection without sending complete message body (incomplete chunked read)"
        )

    def _step(self, buf: bytes | bytearray, pos: int) -> int:
        """Parse what the state expects at ``pos``: the position after it, or -1 for more."""
        state = self._state
        if state in (_LENGTH, _CHUNK_DATA):
            return self._take(buf, pos)
        if state in (_HEAD, _TRAILERS):
            return self._read_block(buf, pos)
        if state == _CHUNK_SIZE:
            return self._read_chunk_size(buf, pos)
        if state == _CHUNK_END:
            return self._read_chunk_end(buf, pos)
        if pos == len(buf):  # _UNTIL_EOF
            return -1
        self._body.append(buf[pos:])
        return len(buf)

    def _take(self, buf: bytes | bytearray, pos: int) -> int:
        """Body bytes counted by ``_remaining`` (a Content-Length, or a chunk's size)."""
        if self._remaining:
            if pos == len(buf):
                return -1
            end = min(pos + self._remaining, len(buf))
            self._body.append(buf[pos:end])
            self._remaining -= end - pos
            pos = end
            if self._remaining:
                return pos
        self._state = _DONE if self._state == _LENGTH else _CHUNK_END
        return pos

    def _read_block(self, buf: bytes | bytearray, pos: int) -> int:
        """A response head or the trailers: lines up to a blank line."""
        trailers = self._state == _TRAILERS
        if trailers and buf[pos : pos + 1] == b"\n":  # no trailers: the blank line at once
            self._state = _DONE
            return pos + 1
        if trailers and buf[pos : pos + 2] == b"\r\n":
            self._state = _DONE
            return pos + 2
        found = _BLANK_LINE.search(buf, pos + self._scanned)
        if found is None or found.end() - pos > MAX_HEAD_SIZE:
            if len(buf) - pos > MAX_HEAD_SIZE:
                raise RemoteProtocolError(f"response head larger than {MAX_HEAD_SIZE} bytes")
            if not trailers and not _STATUS_PREFIX.startswith(buf[pos : pos + 7]):
                raise RemoteProtocolError(f"illegal status line {bytes(buf[pos : pos + 20])!r}")
            self._scanned = max(0, len(buf) - pos - 2)
            return -1
        self._scanned = 0
        lines = _split_lines(bytes(buf[pos : found.end()]))
        if trailers:
            _parse_fields(lines)  # checked, then dropped
            self._state = _DONE
        else:
            self._start(*_parse_status_line(lines[0]), _parse_fields(lines[1:]))
        return found.end()

    def _start(
        self, version: bytes, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Frame the body of the response whose head was just read."""
        length, chunked, close = _framing(headers)
        if status < 200:
            if status == 101:
                raise RemoteProtocolError("the server switched protocols (101 response)")
            return  # 100 Continue, 102 Processing, 103 Early Hints: the response follows
        if self._method == b"CONNECT" and status < 300:
            raise RemoteProtocolError("the server opened a tunnel (2xx response to CONNECT)")
        self._head = (version, status, reason, headers)
        self._keep_alive = version == b"HTTP/1.1" and not close
        if status in (204, 304) or self._method == b"HEAD":
            self._state = _DONE
        elif chunked:
            self._keep_alive = self._keep_alive and length is None
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._remaining = int(length)
            self._state = _LENGTH
        else:  # read until the server closes: feed_eof() completes it, not to be reused
            self._state = _UNTIL_EOF

    def _read_chunk_end(self, buf: bytes | bytearray, pos: int) -> int:
        """The CRLF after a chunk's data."""
        if len(buf) - pos < 2:
            return -1
        if buf[pos : pos + 2] != b"\r\n":
            raise RemoteProtocolError(f"malformed chunk footer {bytes(buf[pos : pos + 2])!r}")
        self._state = _CHUNK_SIZE
        return pos + 2

    def _read_chunk_size(self, buf: bytes | bytearray, pos: int) -> int:
        """A chunk-size line: hex digits, maybe extensions (ignored), CRLF."""
        end = buf.find(b"\r\n", pos + self._scanned)
        if end < 0 or end - pos > MAX_HEAD_SIZE:
            if len(buf) - pos > MAX_HEAD_SIZE:
                raise RemoteProtocolError(f"chunk-size line longer than {MAX_HEAD_SIZE} bytes")
            self._scanned = max(0, len(buf) - pos - 1)
            return -1
        self._scanned = 0
        line = bytes(buf[pos:end])
        size, semicolon, _ = line.partition(b";")
        if not semicolon:  # h11 allows whitespace after the size, and extensions take it all
            size = size.rstrip(b" \t")
        if not size or len(size) > 20 or size.translate(None, _HEXDIG) or b"\n" in line:
            raise RemoteProtocolError(f"illegal chunk header {line!r}")
        self._remaining = int(size, 16)
        self._state = _CHUNK_DATA if self._remaining else _TRAILERS
        return end + 2


def _split_lines(block: bytes) -> list[bytes]:
    """The lines of a head ending in its blank line, without line ends; LF alone ends one too.

    Raises if the block holds a NUL, VT or FF, or a CR not followed by LF: no header field,
    status line or reason phrase may (h11's rules).
    """
    lines = block.split(b"\r\n")
    # One pass for the usual case: the only CRs, LFs, NULs, VTs and FFs are the CRLFs split on.
    if len(block) - len(block.translate(None, b"\r\n\x00\x0b\x0c")) != 2 * (len(lines) - 1):
        if b"\x00" in block or b"\x0b" in block or b"\x0c" in block:
            raise RemoteProtocolError(f"illegal character in response head {block[:200]!r}")
        if block.count(b"\r") != block.count(b"\r\n"):
            raise RemoteProtocolError(f"CR without LF in response head {block[:200]!r}")
        lines = [line.removesuffix(b"\r") for line in block.split(b"\n")]  # bare LFs
    del lines[-2:]  # the blank line
    return lines


def _parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    """``HTTP/1.x SP 3DIGIT [SP reason]``: the version, the status and the reason."""
    version, code, rest = line[:8], line[9:12], line[12:]
    if (
        version not in _VERSIONS
        or line[8:9] != b" "
        or len(code) != 3
        or not code.isdigit()
        or code < b"100"  # no status below 100 exists
        or (rest and rest[:1] != b" ")
    ):
        raise RemoteProtocolError(f"illegal status line {line!r}")
    return version, int(code), rest[1:]


def _parse_fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """``name: value`` lines: a token name right before the colon, whitespace around the value.

    Obs-fold continuation lines (starting with whitespace) are joined to the line before with
    one space, as h11 does (RFC 9112 section 5.2 allows either that or rejecting them).
    """
    fields = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TCHAR):
            if line[:1] in _OBS_FOLD:  # rare: parse again, unfolded
                return _parse_fields(_unfold(lines))
            raise RemoteProtocolError(f"illegal header line {line!r}")
        fields.append((name, value.strip(b" \t")))
    return fields


def _unfold(lines: list[bytes]) -> list[bytes]:
    """The lines with each continuation line joined to the one before it."""
    joined: list[bytes] = []
    for line in lines:
        if line[:1] not in _OBS_FOLD:
            joined.append(line)
        elif joined:
            joined[-1] += b" " + line.lstrip(b" \t")
        else:
            raise RemoteProtocolError("continuation line at start of headers")
    return joined


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bool, bool]:
    """The Content-Length (checked), whether the body is chunked, whether to close after."""
    length: bytes | None = None
    chunked = close = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            length = _content_length(value, length)
        elif lowered == b"transfer-encoding":
            if chunked:
                raise RemoteProtocolError("multiple Transfer-Encoding headers")
            if value.lower() != b"chunked":
                raise RemoteProtocolError(f"unsupported Transfer-Encoding {value!r}")
            chunked = True
        elif lowered == b"connection" and _has_close(value):
            close = True
    return length, chunked, close


def _content_length(value: bytes, seen: bytes | None) -> bytes:
    """A Content-Length value: digits, maybe listed repeatedly (``5, 5``); repeats must agree."""
    if b"," in value:
        values = {item.strip() for item in value.split(b",")}
        if len(values) != 1:
            raise RemoteProtocolError("conflicting Content-Length headers")
        value = values.pop()
    if not value.isdigit() or len(value) > 20:
        raise RemoteProtocolError(f"bad Content-Length {value!r}")
    if seen is not None and seen != value:
        raise RemoteProtocolError("conflicting Content-Length headers")
    return value
