"""The installed `scops-tui fleet` in a real terminal (tmux): hosts, the queue, a review key that only says where
to review, quit; the password in the URL never on screen."""

from __future__ import annotations

import shlex
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from scops_tui.sync.server import init_server
from scops_tui.sync.target import resolve_target
from tests.fleet_hosts import three_hosts
from tests.pg import _server_or_fail, url_for
from tests.tui.test_terminal import INSTALLED, poll, tmux

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to drive")
__all__ = ["tmux"]
SECRET = "TmuxFl33tPw"


@pytest.fixture
def fleet_url(tmp_path: Path) -> Iterator[str]:
    admin = _server_or_fail()
    name = f"scops_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = url_for(name)
        init_server(resolve_target(url))
        three_hosts(tmp_path, url)
        yield url
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def test_scops_tui_fleet_in_a_real_terminal(
    tmp_path: Path, tmux: Callable[..., str], scops_home: Path, fleet_url: str
) -> None:
    url = make_conninfo(fleet_url, password=SECRET)
    home = shlex.quote(str(scops_home))
    command = f"env -u COLUMNS -u LINES SCOPS_HOME={home} {INSTALLED} fleet --url {shlex.quote(url)}; sleep 30"
    tmux("new-session", "-d", "-s", "fleet", "-x", "120", "-y", "40", command)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "fleet")

    poll(lambda: "web1" in screen() and "old1" in screen() and "stale" in screen(), "the hosts")
    assert "1C 1H" in screen() and "3 hosts" in screen()
    tmux("send-keys", "-t", "fleet", "3")
    poll(lambda: "critical" in screen() and "host: all" in screen(), "the fleet queue")
    tmux("send-keys", "-t", "fleet", "a")
    poll(lambda: "only reads" in screen(), "the read-only notice")
    before = screen()
    tmux("send-keys", "-t", "fleet", "q")
    poll(lambda: "web1" not in screen(), "the app to quit")
    assert SECRET not in before
    with psycopg.connect(fleet_url) as conn:
        row = conn.execute("SELECT count(*) FROM anomaly_predictions WHERE acknowledged").fetchone()
    assert row is not None and row[0] == 1
    assert not any(scops_home.rglob("*.db"))
