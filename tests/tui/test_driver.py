"""The quiet Linux driver: its input thread reads keys as Textual's does, sleeps while there is no input,
and wakes at once when the app stops."""

from __future__ import annotations

import os
import pty
import selectors
import threading
import time
import tty
from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.message import Message

from scops_tui.tui.driver import QuietLinuxDriver


class RecordingDriver(QuietLinuxDriver):
    """The driver with its messages kept instead of sent to an app."""

    def __init__(self) -> None:
        super().__init__(object())  # type: ignore[arg-type]
        self.messages: list[Message] = []

    def process_message(self, message: Message) -> None:
        self.messages.append(message)

    def pressed(self) -> list[str]:
        return [m.key for m in self.messages if isinstance(m, events.Key)]


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def test_keys_are_read_the_thread_sleeps_while_quiet_and_wakes_to_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    timeouts: list[float | None] = []
    select = selectors.SelectSelector.select

    def recording_select(self: selectors.SelectSelector, timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        return select(self, timeout)

    monkeypatch.setattr(selectors.SelectSelector, "select", recording_select)
    master, slave = pty.openpty()
    tty.setraw(slave)  # as Textual sets the terminal when the app starts
    driver = RecordingDriver()
    driver.fileno = slave
    thread = threading.Thread(target=driver.run_input_thread)
    thread.start()
    try:
        os.write(master, b"q")
        wait_until(lambda: "q" in driver.pressed(), "the key q")
        wait_until(lambda: timeouts and timeouts[-1] is None, "the loop to wait without a timeout")
        os.write(master, b"\x1b")  # a lone escape: the parser times it out, so the loop polls again after input
        wait_until(lambda: "escape" in driver.pressed(), "the escape key")
        wait_until(lambda: timeouts[-1] is None, "the loop to sleep again")
    finally:
        driver.exit_event.set()  # what Textual's disable_input does when the app stops
        thread.join(timeout=10)
        assert not thread.is_alive()  # woken by the pipe, not by a timeout
        driver.close()
        os.close(master)
        os.close(slave)
