"""Ctrl-C inside a command: the first stops the work, a second ends the process at once.

These raise a real SIGINT in this process (the main thread, as for a user); the subprocess
tests in ``test_cli_exit_codes.py`` send one to a running ``numbers import``.
"""

from __future__ import annotations

import signal
import sys

import anyio
import anyio.lowlevel
import pytest

from exotel_trunking import InvalidParameterError
from exotel_trunking._cli._interrupt import interruptible

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_the_first_ctrl_c_cancels_the_work_and_the_block_ends_normally() -> None:
    ended: list[int] = []
    reached: list[str] = []

    async def work() -> str:
        with anyio.fail_after(5):  # a Ctrl-C that cancels nothing fails the test, not hangs it
            async with interruption.stopping():
                signal.raise_signal(signal.SIGINT)
                await anyio.sleep_forever()
                reached.append("after the sleep")
        return "reported"

    with interruptible(end=ended.append) as interruption:
        assert anyio.run(work) == "reported"
    assert interruption.interrupted
    assert reached == []
    assert ended == []  # one Ctrl-C does not end the process


def test_a_second_ctrl_c_while_the_work_winds_down_ends_at_once_with_130() -> None:
    ended: list[int] = []
    events: list[anyio.Event] = []

    def end(code: int) -> None:
        ended.append(code)
        events[0].set()

    async def work() -> None:
        events.append(anyio.Event())
        async with interruption.stopping():
            try:
                signal.raise_signal(signal.SIGINT)
                await anyio.sleep_forever()
            finally:
                with anyio.CancelScope(shield=True), anyio.fail_after(5):
                    signal.raise_signal(signal.SIGINT)  # the clean-up is slow: again
                    await events[0].wait()

    with interruptible(end=end) as interruption:
        anyio.run(work)
    assert ended == [130]


def test_a_second_ctrl_c_while_the_command_reports_ends_at_once_with_130() -> None:
    ended: list[int] = []

    async def work() -> None:
        async with interruption.stopping():
            signal.raise_signal(signal.SIGINT)
            await anyio.sleep_forever()

    with interruptible(end=ended.append) as interruption:
        anyio.run(work)
        assert ended == []
        signal.raise_signal(signal.SIGINT)  # while the counts are printed, say
        assert ended == [130]


def test_without_ctrl_c_the_work_finishes_and_the_handler_is_put_back() -> None:
    before = signal.getsignal(signal.SIGINT)

    async def work() -> int:
        async with interruption.stopping():
            await anyio.lowlevel.checkpoint()
        return 7

    with interruptible(end=lambda _: None) as interruption:
        assert anyio.run(work) == 7
    assert not interruption.interrupted
    assert signal.getsignal(signal.SIGINT) is before


def test_after_an_interruption_the_process_handler_is_put_back_too() -> None:
    before = signal.getsignal(signal.SIGINT)

    async def work() -> None:
        async with interruption.stopping():
            signal.raise_signal(signal.SIGINT)
            await anyio.sleep_forever()

    with interruptible(end=lambda _: None) as interruption:
        anyio.run(work)
        assert signal.getsignal(signal.SIGINT) is not before  # a second one ends at once
    assert signal.getsignal(signal.SIGINT) is before


def test_an_error_in_the_block_comes_out_as_it_is_not_in_a_group() -> None:
    async def work() -> None:
        async with interruption.stopping():
            raise InvalidParameterError("trunk_sid", "bad/sid", "expected an id")

    with interruptible(end=lambda _: None) as interruption, pytest.raises(InvalidParameterError):
        anyio.run(work)
    assert not interruption.interrupted
