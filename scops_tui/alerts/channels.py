"""Delivery of one message to one channel: apprise for URLs (the only module that imports apprise, and
only when it sends), a subprocess for the command. A failure is a short reason, never an exception."""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scops_tui.alerts.config import Channel
from scops_tui.alerts.message import AlertMessage
from scops_tui.sync.target import mask_text

COMMAND_TIMEOUT_SECONDS = 30.0
"""How long the alert command may run before it is killed and the delivery counted as failed."""
URL_TIMEOUT_SECONDS = 20.0
"""How long one apprise delivery may take in all."""
_REASON_CHARS = 300
_UNKNOWN_URL = "apprise does not understand this URL (unknown scheme or a missing part)"


@dataclass(frozen=True)
class DeliveryResult:
    """What happened when one channel was given one message."""

    channel: Channel
    error: str | None
    """None: delivered; otherwise why not (masked: no URL token in it)."""

    @property
    def ok(self) -> bool:
        """True when the channel took the message."""
        return self.error is None


def deliver(channel: Channel, message: AlertMessage) -> DeliveryResult:
    """Give `message` to `channel`; any failure (network, plugin, command) becomes the result's error."""
    try:
        error = _send_command(channel, message) if channel.kind == "command" else _send_url(channel, message)
    except Exception as exc:  # a channel plugin or command must never stop the sender
        error = f"{type(exc).__name__}: {exc}"
    if error is not None:
        error = _clean(channel, error)
    return DeliveryResult(channel, error)


def prepare(channels: Sequence[Channel]) -> list[DeliveryResult]:
    """Load apprise and parse each URL once, ahead of the first alert (apprise finds its ~100 plugins on
    first use: about a second, which would otherwise delay that alert); return the URLs it refuses."""
    urls = [channel for channel in channels if channel.kind == "url"]
    if not urls:
        return []
    import apprise

    refused = []
    for channel in urls:
        if not apprise.Apprise().add(channel.target):
            refused.append(DeliveryResult(channel, _UNKNOWN_URL))
    return refused


def _clean(channel: Channel, text: str) -> str:
    """One line, at most a few hundred characters, with the channel's URL and its parts masked."""
    secrets = [channel.target]
    if channel.kind == "url":
        rest = channel.target.split("://", 1)[-1]
        secrets += [part for part in rest.replace("@", "/").replace("?", "/").replace(":", "/").split("/") if part]
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4 and not secret.replace(".", "").isdigit() and secret not in ("localhost",):
            text = text.replace(secret, "***")
    line = " ".join(mask_text(text).split())
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 3] + "..."


def _send_url(channel: Channel, message: AlertMessage) -> str | None:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(channel.target):
        return _UNKNOWN_URL
    notify_type = "failure" if message.severity in ("high", "critical") else "warning"
    if message.severity == "low" and message.payload.get("alert") == "test":
        notify_type = "info"
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        kwargs: dict[str, Any] = {"body": message.body, "title": message.title, "notify_type": notify_type}
        try:
            result = sender.notify(**kwargs, timeout=URL_TIMEOUT_SECONDS)
        except TypeError:  # apprise before 2.0 has no call timeout (its plugins keep their own)
            result = sender.notify(**kwargs)
    if bool(result):
        return None
    lines = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip()]
    return "; ".join(lines[-2:]) or "apprise reported a failed delivery"


def _send_command(channel: Channel, message: AlertMessage) -> str | None:
    words = shlex.split(channel.target)
    data = json.dumps({"title": message.title, "body": message.body, **message.payload}, ensure_ascii=False)
    try:
        result = subprocess.run(
            words,
            input=data.encode("utf-8"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the command did not finish within {COMMAND_TIMEOUT_SECONDS:g} s (killed)"
    except OSError as exc:
        return f"the command could not start: {exc.strerror or exc}"
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] if result.stderr else []
        reason = f"the command exited with status {result.returncode}"
        return reason + (f": {tail[0]}" if tail else "")
    return None
