"""Worker processes that draw permits from a limiter, and the test side that drives them.

Run as a script, this module is one worker: it reads one JSON job per line on stdin, runs it
with ``anyio.run`` on the job's backend, and answers one JSON line on stdout with the wall-clock
time at which each permit was granted. Workers are started once and reused, so the tests pay
the interpreter's start-up (and coredis' import) only once, and every job starts at the same
``start_at`` in all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import anyio

from exotel_trunking import RateLimit, RateLimiter
from exotel_trunking._transport import LocalRateLimiter

#: How long the tests wait for a worker to start, or to answer a job, before failing.
WORKER_TIMEOUT = 20.0


async def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    # Imported here, once _serve has seen that importing exotel_trunking did not pull coredis.
    from exotel_trunking.redis import RedisRateLimiter  # noqa: PLC0415

    rate = RateLimit(job["calls"], job["period"], job["burst"])
    stamps: list[float] = []
    cool_down_started: float | None = None
    remaining = job["permits"]

    async def draw(limiter: RateLimiter) -> None:
        nonlocal remaining, cool_down_started
        while remaining > 0:
            remaining -= 1
            await limiter.acquire()
            stamps.append(time.time())
            cool_down = job.get("cool_down")
            if cool_down and len(stamps) == cool_down["after"]:
                cool_down_started = time.time()
                await limiter.cool_down(cool_down["seconds"])

    async def run(limiter: RateLimiter) -> None:
        await anyio.sleep(max(0.0, job["start_at"] - time.time()))
        async with anyio.create_task_group() as tasks:
            for _ in range(job["tasks"]):
                tasks.start_soon(draw, limiter)

    if job["limiter"] == "local":
        await run(LocalRateLimiter(rate))
    else:
        async with RedisRateLimiter(
            job["url"], account_sid=job["account"], rate_limit=rate, key_prefix=job["prefix"]
        ) as limiter:
            await run(limiter)
    return {"stamps": stamps, "cool_down_started": cool_down_started}


def _serve() -> None:
    # exotel_trunking is imported (at the top) and the optional module is not, yet.
    ready = {"ready": True, "coredis_imported": "coredis" in sys.modules}
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            reply = anyio.run(_run_job, job, backend=job["backend"])
        except Exception as error:  # reported to the test, which fails with it
            reply = {"error": repr(error)}
        print(json.dumps(reply), flush=True)


class Fleet:
    """Worker processes, started together, each answering jobs one at a time."""

    def __init__(self, size: int) -> None:
        self.processes = [
            subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(size)
        ]
        #: What each worker said once started (see _serve).
        self.ready = [self._read(process) for process in self.processes]

    def run(self, jobs: Sequence[dict[str, Any]], *, lead: float = 0.2) -> list[dict[str, Any]]:
        """Give one job to each worker, all starting ``lead`` seconds from now; their replies."""
        start_at = time.time() + lead
        for process, job in zip(self.processes, jobs, strict=True):
            assert process.stdin is not None
            process.stdin.write(json.dumps({**job, "start_at": start_at}) + "\n")
            process.stdin.flush()
        return [self._read(process) for process in self.processes]

    def close(self) -> None:
        for process in self.processes:
            process.kill()  # idle between jobs, with nothing to flush
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    @staticmethod
    def _read(process: subprocess.Popen[str]) -> dict[str, Any]:
        """One line from the worker, or a failure after WORKER_TIMEOUT (never a hang)."""
        assert process.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(WORKER_TIMEOUT)
        if reader.is_alive() or not lines or not lines[0]:
            process.kill()
            reader.join()
            raise AssertionError(f"worker {process.pid} did not answer (exit {process.poll()})")
        reply: dict[str, Any] = json.loads(lines[0])
        return reply


def max_in_window(stamps: Sequence[float], window: float) -> int:
    """The most permits granted within any ``window`` seconds."""
    ordered = sorted(stamps)
    most, first = 0, 0
    for last, stamp in enumerate(ordered):
        while stamp - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


if __name__ == "__main__":
    _serve()
