"""A tiny HTTP/1.1 server that answers every request with a canned Exotel envelope.

``python -m benchmarks.bare_server [--port N] [--max-seconds S]`` listens on 127.0.0.1, prints
its base URL, and answers GET with the canned list and any other method with the canned record,
keeping connections alive. It does as little as a server can, so that over loopback the
client's own cost shows; it stops by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse

# A stand-alone server outside the package: asyncio's Protocol is the leanest server Python
# has, and nothing here needs to run on trio.
import asyncio  # noqa: TID251
import contextlib

from ._canned import HEADERS, LIST_BODY, MAP_BODY


def _response(body: bytes) -> bytes:
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in HEADERS)
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


_GET = _response(LIST_BODY)
_OTHER = _response(MAP_BODY)


class _Canned(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            self._buffer = self._buffer[total:]
            assert self._transport is not None
            self._transport.write(_GET if head.startswith(b"get ") else _OTHER)


async def _serve(port: int, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Canned, "127.0.0.1", port)
    async with server:
        print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.sleep(max_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
