"""Three worker processes, one account limit: shared through Redis, or each paced alone.

Serves the emulator with a real token bucket (``--rate-limit 50/1``: 50 calls a second, bursts
of 50) and starts a private ``redis-server``. Then, in the same run, three scenarios, each
with three worker processes (asyncio, trio, asyncio) mapping numbers with
``client.bulk.map_phone_numbers`` from a common start:

``redis``        every worker uses ``RedisRateLimiter(RateLimit(50, 1.0))`` on one key
``independent``  every worker uses its own in-process ``RateLimit(50, 1.0)``: 3 x 50 a second
``redis-killed`` as ``redis``, and redis-server is killed halfway: the workers fall back to
                 ``fallback_rate_limit=RateLimit(50 // 3, 1.0)`` each; no item may be lost

For each: the items created, failed and lost; items done a second (from the common start to
the last one) and the most done in any one second; the requests sent (every attempt), a
second and at most in any one second; and those the server refused with 429. Run it with
``uv run --all-extras python benchmarks/redis_workers.py`` (it needs the ``redis`` extra and
``redis-server`` on the PATH); ``--server-rate-limit 50/1/10`` makes the server's bursts as
small as the client's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import anyio
import httpx2

from exotel_trunking import AsyncTrunkingClient, RateLimit, RateLimiter
from exotel_trunking.emulator import DEFAULT_ACCOUNT_SID, DEFAULT_API_KEY, DEFAULT_API_TOKEN
from exotel_trunking.redis import RedisRateLimiter

WORKER_BACKENDS = ("asyncio", "trio", "asyncio")
SCENARIOS = ("redis", "independent", "redis-killed")


# -- the worker side ------------------------------------------------------------------------


class _Recording(httpx2.AsyncBaseTransport):
    """The network, noting when each request (every attempt) was sent."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent.append(time.time())
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _work(job: dict[str, Any]) -> dict[str, Any]:
    rate = RateLimit(job["calls"], 1.0)
    network = _Recording()
    done: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        limiter: RateLimit | RateLimiter
        if job["scenario"] == "independent":
            limiter = rate
        else:
            limiter = await stack.enter_async_context(
                RedisRateLimiter(
                    job["redis_url"],
                    account_sid=job["account_sid"],
                    rate_limit=rate,
                    key_prefix=f"bench-{job['run']}",
                    fallback_rate_limit=RateLimit(max(1, job["calls"] // job["workers"]), 1.0),
                )
            )
        client = await stack.enter_async_context(
            AsyncTrunkingClient(
                job["api_key"],
                job["api_token"],
                job["account_sid"],
                base_url=job["base_url"],
                rate_limit=limiter,
                transport=network,
            )
        )
        trunk = await client.trunks.create(f"w{job['index']}_{job['run']}"[:16])
        numbers = [f"+91{job['run']}{job['index']}{n:07d}" for n in range(job["items"])]
        # Ready: wait for the driver's common start time (every worker is set up by then).
        print(json.dumps({"ready": True}), flush=True)
        start_at = float(await anyio.to_thread.run_sync(sys.stdin.readline))
        await anyio.sleep(max(0.0, start_at - time.time()))
        network.sent.clear()
        result = await client.bulk.map_phone_numbers(
            trunk.trunk_sid,
            numbers,
            concurrency=job["concurrency"],
            on_progress=lambda *_: done.append(time.time()),
        )
        fell_back = isinstance(limiter, RedisRateLimiter) and limiter.using_fallback
    return {
        "created": len(result.created),
        "failed": len(result.failed),
        "outcomes": len(result.outcomes),
        "done": done,
        "sent": network.sent,
        "fell_back": fell_back,
    }


def _worker_main(raw: str) -> None:
    job = json.loads(raw)
    print(json.dumps(anyio.run(_work, job, backend=job["backend"])), flush=True)


# -- the driver side ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(binary: str, port: int) -> subprocess.Popen[bytes]:
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--loglevel", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("redis-server did not start")


def _start_emulator(rate_limit: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "exotel_trunking.emulator", "--port", "0"]
    command += ["--rate-limit", rate_limit]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit("the emulator did not start")
    return process, url


def _counters(base_url: str) -> dict[str, Any]:
    counters: dict[str, Any] = httpx2.get(f"{base_url}/_emulator/counters", timeout=5).json()
    return counters


def _max_in_window(stamps: list[float], window: float) -> int:
    ordered = sorted(stamps)
    most, first = 0, 0
    for last, stamp in enumerate(ordered):
        while stamp - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def _run_scenario(
    scenario: str, run: int, args: argparse.Namespace, base_url: str, redis: dict[str, Any]
) -> dict[str, Any]:
    workers = []
    for index, backend in enumerate(WORKER_BACKENDS[: args.workers]):
        job = {
            "scenario": scenario,
            "run": run,
            "index": index,
            "backend": backend,
            "workers": args.workers,
            "calls": args.rate,
            "items": args.items,
            "concurrency": args.concurrency,
            "base_url": base_url,
            "redis_url": redis["url"],
            "api_key": DEFAULT_API_KEY,
            "api_token": DEFAULT_API_TOKEN,
            "account_sid": DEFAULT_ACCOUNT_SID,
        }
        command = [sys.executable, __file__, "--worker", json.dumps(job)]
        workers.append(
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    for worker in workers:  # each has imported everything and created its trunk
        assert worker.stdout is not None
        if not worker.stdout.readline():
            raise SystemExit(f"a worker of {scenario!r} failed to start")
    time.sleep(2.0)  # the server's bucket refills after the trunks (and any earlier scenario)
    before = _counters(base_url)
    start_at = time.time() + 0.2
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{start_at}\n")
        worker.stdin.flush()
    if scenario == "redis-killed":
        expected = args.workers * args.items / args.rate
        time.sleep(max(0.0, start_at + expected / 2 - time.time()))
        redis["process"].kill()
        redis["process"].wait()
    replies = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        if worker.returncode != 0:
            raise SystemExit(f"a worker of {scenario!r} failed (exit {worker.returncode})")
        replies.append(json.loads(out))
    if scenario == "redis-killed":
        redis["process"] = _start_redis(redis["binary"], redis["port"])
    after = _counters(base_url)
    done = sorted(stamp for reply in replies for stamp in reply["done"])
    sent = sorted(stamp for reply in replies for stamp in reply["sent"])
    requests = after["total"] - before["total"]
    refused = after["rate_limited"] - before["rate_limited"]
    span = done[-1] - start_at
    return {
        "scenario": scenario,
        "items": args.workers * args.items,
        "accounted": sum(reply["outcomes"] for reply in replies),
        "created": sum(reply["created"] for reply in replies),
        "failed": sum(reply["failed"] for reply in replies),
        "seconds": span,
        "rate": len(done) / span,
        "peak_done_1s": _max_in_window(done, 1.0),
        "requests": requests,
        "sent_rate": len(sent) / span,
        "peak_sent_1s": _max_in_window(sent, 1.0),
        "refused_429": refused,
        "refused_share": refused / requests if requests else 0.0,
        "fell_back": sum(reply["fell_back"] for reply in replies),
    }


def _print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.workers} worker processes ({', '.join(WORKER_BACKENDS[: args.workers])}), "
        f"{args.items} items each, concurrency {args.concurrency}; emulator --rate-limit "
        f"{args.server_rate_limit}; client limit {args.rate}/s, shared or per process\n"
    )
    header = (
        f"{'scenario':<13} {'created':>7} {'failed':>6} {'lost':>4} {'seconds':>7} "
        f"{'items/s':>7} {'peak 1s':>7} {'sent':>5} {'sent/s':>6} {'peak 1s':>7} "
        f"{'429s':>5} {'429 %':>6} {'fell back':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['scenario']:<13} {row['created']:>7} {row['failed']:>6} "
            f"{row['items'] - row['accounted']:>4} {row['seconds']:>7.1f} {row['rate']:>7.1f} "
            f"{row['peak_done_1s']:>7} {row['requests']:>5} {row['sent_rate']:>6.1f} "
            f"{row['peak_sent_1s']:>7} {row['refused_429']:>5} "
            f"{100 * row['refused_share']:>5.1f}% {row['fell_back']:>9}"
        )


def _print_verdict(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    for row in rows:
        lost = row["items"] - row["accounted"]
        if row["scenario"] == "independent":
            over = row["peak_sent_1s"] > args.rate
            print(
                f"independent: peak {row['peak_sent_1s']} sent in one second against a limit of "
                f"{args.rate}: {'overshoots' if over else 'does not overshoot'}"
            )
            continue
        within = abs(row["rate"] - args.rate) <= 0.05 * args.rate
        judged = f" ({'within' if within else 'outside'} 5% of {args.rate})"
        print(
            f"{row['scenario']}: {row['rate']:.1f} items/s"
            f"{judged if row['scenario'] == 'redis' else ''}, 429s "
            f"{100 * row['refused_share']:.1f}% of requests, {lost} lost, {row['failed']} failed"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--rate", type=int, default=50, help="the account limit, per second")
    parser.add_argument("--items", type=int, default=200, help="numbers mapped per worker")
    parser.add_argument("--concurrency", type=int, default=20, help="per worker")
    parser.add_argument("--server-rate-limit", default=None, help="CALLS/PERIOD[/BURST]")
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker_main(args.worker)
        return
    args.server_rate_limit = args.server_rate_limit or f"{args.rate}/1"
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    port = _free_port()
    redis = {"binary": binary, "port": port, "url": f"redis://127.0.0.1:{port}/0"}
    redis["process"] = _start_redis(binary, port)
    emulator, base_url = _start_emulator(args.server_rate_limit)
    rows = []
    try:
        for run, scenario in enumerate(args.scenario or SCENARIOS, start=1):
            rows.append(_run_scenario(scenario, run, args, base_url, redis))
    finally:
        emulator.terminate()
        emulator.wait()
        redis["process"].kill()
        redis["process"].wait()
    _print_table(rows, args)
    _print_verdict(rows, args)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
