"""Ctrl-C for commands that do many things: stop at once, say what was done, exit 130.

The first Ctrl-C (SIGINT) cancels the work inside :meth:`Interruption.stopping`: the block ends
normally, with ``interrupted`` set, so that the command can print its counts and write its
``--output`` before it exits with :data:`~._app.EXIT_INTERRUPTED`. A second Ctrl-C, while the
work winds down or while the command reports, ends the process at once with the same code.

How a command uses it (as ``numbers import`` and ``apply`` do)::

    with interruptible(settings.errors) as interruption:
        async def work(client):
            async with interruption.stopping():
                ...  # everything that sends requests
            return what_was_done

        done = run(settings, work)
        report(done)  # a second Ctrl-C here ends at once
    if interruption.interrupted:
        sys.exit(EXIT_INTERRUPTED)

A Ctrl-C outside the ``stopping`` block (while a file is read, say) is click's
``KeyboardInterrupt``, which the command group turns into exit code 130 as well.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from types import FrameType
from typing import Any

import anyio
from anyio.abc import TaskStatus
from rich.console import Console

from ._app import EXIT_INTERRUPTED

__all__ = ["Interruption", "interruptible"]


class Interruption:
    """Whether Ctrl-C stopped a command's work, and the means to stop it.

    Make one with :func:`interruptible`, which also puts back the process's own Ctrl-C
    handling afterwards.

    Attributes:
        interrupted: Whether a Ctrl-C stopped the work.
    """

    def __init__(
        self, console: Console | None = None, *, end: Callable[[int], Any] = os._exit
    ) -> None:
        self.interrupted = False
        self._console = console
        #: Ends the process without unwinding; tests pass a recorder.
        self._end = end

    @asynccontextmanager
    async def stopping(self) -> AsyncIterator[None]:
        """Run the block until a Ctrl-C, which cancels it: the block then ends normally.

        Afterwards (``interrupted`` set), a further Ctrl-C ends the process at once. An error
        of the block comes out as it is (an ``ExotelError`` stays one, for ``run`` to report).
        Signals reach only the main thread: elsewhere the block runs unwatched.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        failure: Exception | None = None
        async with anyio.create_task_group() as watcher:
            with anyio.CancelScope() as work:
                await watcher.start(self._watch, work)
                try:
                    yield
                except Exception as error:  # raised below as it is, not in an ExceptionGroup
                    failure = error
                finally:
                    watcher.cancel_scope.cancel()
        if self.interrupted:
            signal.signal(signal.SIGINT, self._again)
        if failure is not None:
            raise failure

    async def _watch(
        self, work: anyio.CancelScope, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            signals = anyio.open_signal_receiver(signal.SIGINT)
            with signals as received:
                task_status.started()
                async for _ in received:
                    if self.interrupted:
                        self.end_at_once()
                    self.interrupted = True
                    self._say("[bold yellow]interrupted:[/] stopping (Ctrl-C again ends at once)")
                    work.cancel()
        except NotImplementedError:  # no signal handlers in this event loop (Windows)
            task_status.started()

    def _again(self, _signal: int, _frame: FrameType | None) -> None:
        self.end_at_once()

    def end_at_once(self) -> None:
        """End the process now with exit code 130, without unwinding (a second Ctrl-C)."""
        self._say("[bold red]interrupted again:[/] ending now")
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):  # closed, or a broken pipe: nothing to save
                stream.flush()
        self._end(EXIT_INTERRUPTED)

    def _say(self, text: str) -> None:
        if self._console is not None:
            self._console.print(text, soft_wrap=True)


@contextmanager
def interruptible(
    console: Console | None = None, *, end: Callable[[int], Any] = os._exit
) -> Iterator[Interruption]:
    """An :class:`Interruption` for the block, the process's Ctrl-C handling put back after.

    Args:
        console: Where to say that the work is stopping (the command's stderr console).
        end: Ends the process at once on a second Ctrl-C; tests pass a recorder.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        yield Interruption(console, end=end)
    finally:
        if previous is not None:  # None: not installed from Python, nothing to put back
            signal.signal(signal.SIGINT, previous)
