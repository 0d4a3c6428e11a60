"""Typed messages of the fleet view's thread workers (beside `messages.py`, which the local app's use)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from scops_tui.sync.fleet import HostState


@dataclass
class HostsLoaded(Message):
    """Every host's latest state, read from the server at `read_at` (epoch ms)."""

    hosts: list[HostState]
    read_at: int


@dataclass
class HostsFailed(Message):
    """The host list could not be read (server gone, say): one line, password masked."""

    error: str
