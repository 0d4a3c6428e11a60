"""Textual's Linux driver with an input thread that sleeps while there is no input.

Textual 8.2.8's `LinuxDriver.run_input_thread` waits for input in `select` with a 0.1-s timeout for the
whole run: ten wake-ups a second, to look at its exit event and to time out a lone escape key. That is
about 0.1 % of a core, a quarter of what the whole app may spend idle (docs/BENCHMARKS.md, issue 14). The
loop below is the same as Textual's, except that once the input has been quiet for longer than the escape
delay it waits without a timeout; setting the exit event wakes it through a pipe. The app uses it through
`App.get_driver_class`, Textual's hook for choosing a driver; Textual is pinned exactly, and a test runs
this loop on a pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import time
from codecs import getincrementaldecoder
from threading import Event
from typing import TYPE_CHECKING, Any

from textual import constants
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

QUIET_SECONDS = constants.ESCAPE_DELAY + 0.1
"""Input quiet for this long leaves no escape key pending in the parser: the loop may sleep."""


class WakingEvent(Event):
    """An event whose `set` also writes a byte to a pipe, so a thread waiting in `select` wakes."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self.wake_fd = wake_fd

    def set(self) -> None:
        """Set the event and wake the input thread."""
        super().set()
        with contextlib.suppress(OSError):  # the pipe is full (a wake-up is already pending) or closed
            os.write(self.wake_fd, b"x")


class QuietLinuxDriver(LinuxDriver):
    """`LinuxDriver` whose input thread does not wake while nothing is typed, clicked or resized."""

    def __init__(self, app: App[Any], *, debug: bool = False, mouse: bool = True, size: tuple[int, int] | None = None):
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self.wake_read, wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(wake_write, False)
        self.exit_event = WakingEvent(wake_write)

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual's loop; no timeout while the input is quiet)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self.wake_read, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        last_input = time.monotonic()

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for key, mask in events:
                if key.fd == self.wake_read:
                    self._drain_wake()
                elif mask & selectors.EVENT_READ:
                    data = decode(os.read(self.fileno, 1024 * 4), final=final)
                    if not data:
                        break  # stdin is piped and ended
                    for event in parser.feed(data):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                quiet = time.monotonic() - last_input > QUIET_SECONDS
                events = selector.select(None if quiet else 0.1)
                if any(key.fd == self.fileno for key, _mask in events):
                    last_input = time.monotonic()
                process(events)
            selector.unregister(self.fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):  # nothing left (a non-blocking read)
            while os.read(self.wake_read, 64):
                pass

    def close(self) -> None:
        """Perform cleanup, the wake-up pipe included."""
        super().close()
        for fd in (self.wake_read, self.exit_event.wake_fd if isinstance(self.exit_event, WakingEvent) else -1):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
