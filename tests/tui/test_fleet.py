"""The fleet view from the real test PostgreSQL: Hosts, a host's History and the fleet's Anomalies queue (Pilot).

Three local databases are synced through the real sync code as three hosts (web1 with open episodes, db1
calm, old1 stale); the app reads them as the `postgres` role, a member of every role (so a reader).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.widgets import DataTable, Label

from scops_tui.config import load_settings
from scops_tui.sync.fleet import FleetSession
from scops_tui.sync.server import init_server
from scops_tui.sync.target import resolve_target
from scops_tui.tui.fleet import FleetApp, create_fleet_app
from scops_tui.tui.screens.fleet_screens import FleetAnomaliesScreen, FleetDetailScreen, FleetHistoryScreen
from scops_tui.tui.screens.hosts import HostsScreen
from scops_tui.tui.widgets.chart import MetricChart
from scops_tui.tui.widgets.preview import EpisodePreview
from tests.fleet_hosts import Fleet, three_hosts
from tests.pg import _server_or_fail, url_for
from tests.tui.helpers import table_column, wait_for


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A fresh server database holding the three synced hosts (made once for this module)."""
    admin = _server_or_fail()
    name = f"scops_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = url_for(name)
        init_server(resolve_target(url))
        yield three_hosts(tmp_path_factory.mktemp("fleet"), url)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def make_app(fleet: Fleet, tmp_path: Path, url: str | None = None) -> tuple[FleetApp, Path]:
    local = tmp_path / "never-made.db"
    settings = load_settings({"db": local})
    session = FleetSession(resolve_target(url or fleet.url))
    session.open()
    return create_fleet_app(settings, session, refresh_seconds=60, time_zone="utc"), local


def acknowledged_on_server(fleet: Fleet) -> int:
    with psycopg.connect(fleet.url) as conn:
        row = conn.execute("SELECT count(*) FROM anomaly_predictions WHERE acknowledged").fetchone()
        return int(row[0]) if row else -1


async def hosts_ready(pilot: object, app: FleetApp) -> DataTable[object]:
    await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen) and app.screen.loaded, "the host list")  # type: ignore[arg-type]
    return app.screen.query_one("#hosts", DataTable)


async def test_hosts_lists_every_host_stale_ones_and_open_episodes_first(fleet: Fleet, tmp_path: Path) -> None:
    app, local = make_app(fleet, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        table = await hosts_ready(pilot, app)
        assert table_column(table, "host") == ["web1", "db1", "old1"] or table_column(table, "host")[0] == "web1"
        assert set(table_column(table, "host")) == {"web1", "db1", "old1"}
        ages = dict(zip(table_column(table, "host"), table_column(table, "age"), strict=True))
        assert "stale" in ages["old1"] and "stale" not in ages["web1"] and "stale" not in ages["db1"]
        opened = dict(zip(table_column(table, "host"), table_column(table, "open"), strict=True))
        assert opened == {"web1": "1C 1H", "db1": "-", "old1": "-"}
        cpu = dict(zip(table_column(table, "host"), table_column(table, "cpu"), strict=True))
        assert cpu == {"web1": "90.0", "db1": "30.0", "old1": "20.0"}
        databases = dict(zip(table_column(table, "host"), table_column(table, "db"), strict=True))
        assert databases["web1"] == fleet.database_ids["web1"][:8]
        summary = str(app.screen.query_one("#hosts-summary", Label).render())
        assert "3 hosts" in summary and "1 stale" in summary and "1 critical" in summary and "1 high" in summary
        assert "(reader)" in summary
    assert not local.exists()


async def test_hosts_sort_by_any_column_and_filter_by_name(fleet: Fleet, tmp_path: Path) -> None:
    app, _local = make_app(fleet, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        table = await hosts_ready(pilot, app)
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        screen.sort_by("cpu")
        await pilot.pause()
        assert table_column(table, "host") == ["web1", "db1", "old1"]
        await pilot.press("r")
        assert table_column(table, "host") == ["old1", "db1", "web1"]
        screen.sort_by("host")
        await pilot.pause()
        assert table_column(table, "host") == ["db1", "old1", "web1"]
        await pilot.press("s")  # the next column: the database id
        assert screen.sort_column == "db"
        assert table_column(table, "db") == sorted(table_column(table, "db"))
        await pilot.press("slash", "o", "l", "d")
        assert table_column(table, "host") == ["old1"]
        assert "showing 1 of 3" in str(screen.query_one("#hosts-filter-line", Label).render())
        await pilot.press("escape")
        assert len(table_column(table, "host")) == 3


async def test_enter_opens_the_hosts_history_from_the_server_with_its_episodes(fleet: Fleet, tmp_path: Path) -> None:
    app, _local = make_app(fleet, tmp_path)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        table = await hosts_ready(pilot, app)
        table.move_cursor(row=table_column(table, "host").index("web1"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetHistoryScreen), "History")
        history = app.screen
        assert isinstance(history, FleetHistoryScreen)
        await wait_for(pilot, lambda: history.view is not None and history.view.source == "web1", "web1's history")
        view = history.view
        assert view is not None
        assert [span.severity for span in view.episodes] == ["medium", "high", "critical"]
        assert view.summary.samples == 180 and view.summary.maxima["cpu_usage"] == 90.0
        cpu = history.query_one("#history-cpu_usage", MetricChart)
        await wait_for(pilot, lambda: cpu.data is not None and len(cpu.data.spans) == 3, "episodes on the chart")
        # A month is drawn from the hourly rollup, with the same figures.
        await pilot.press("o")
        await wait_for(pilot, lambda: history.loaded_label == "30d", "the 30-day window")
        assert history.view is not None and history.view.summary.samples == 180
        assert max(row.maxima["cpu_usage"] for row in history.view.rows) == 90.0
        # n highlights an episode, enter opens it read-only; review keys only say where to review.
        await pilot.press("n", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetDetailScreen), "the episode's detail")
        before = acknowledged_on_server(fleet)
        await pilot.press("a")
        await wait_for(pilot, lambda: any("read-only" in (n.title or "") for n in app._notifications), "a notice")
        notice = next(n for n in app._notifications if "read-only" in (n.title or ""))
        assert "on web1" in notice.message and "scops-tui anomalies ack" in notice.message
        assert acknowledged_on_server(fleet) == before
        # The queue shows each episode's id on its host (History numbered them first, oldest first).
        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetAnomaliesScreen), "the queue")
        table = app.screen.query_one("#episodes", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "the open episodes")
        assert [str(key.value) for key in table.rows] == ["3", "2"]
        assert table_column(table, "id") == ["1", "2"]


async def test_the_fleet_queue_filters_by_host_status_severity_and_previews(fleet: Fleet, tmp_path: Path) -> None:
    app, _local = make_app(fleet, tmp_path)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await hosts_ready(pilot, app)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetAnomaliesScreen), "the queue")
        queue = app.screen
        assert isinstance(queue, FleetAnomaliesScreen)
        table = queue.query_one("#episodes", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "the open episodes")
        assert table_column(table, "severity") == ["critical", "high"]
        assert set(table_column(table, "source")) == {"web1"}
        preview = queue.query_one("#preview", EpisodePreview)
        await wait_for(pilot, lambda: preview.episode_id is not None, "the preview")
        await pilot.press("v", "v", "v", "v")  # critical only
        await wait_for(pilot, lambda: table.row_count == 1, "critical only")
        await pilot.press("v", "s")  # every severity, acknowledged
        await wait_for(pilot, lambda: table_column(table, "status") == ["acknowledged"], "the acknowledged one")
        before = acknowledged_on_server(fleet)
        await pilot.press("r")
        await wait_for(pilot, lambda: any("read-only" in (n.title or "") for n in app._notifications), "a notice")
        assert acknowledged_on_server(fleet) == before
        filt = str(queue.query_one("#queue-filter", Label).render())
        assert "host: all" in filt
        queue.host = "db1"
        queue.reload()
        await wait_for(pilot, lambda: table.row_count == 0, "db1 has no episodes")
        # e on a host of the Hosts screen opens the queue on that host.
        queue.host = None
        await pilot.press("1")
        hosts = app.screen
        assert isinstance(hosts, HostsScreen)
        host_table = hosts.query_one("#hosts", DataTable)
        host_table.move_cursor(row=table_column(host_table, "host").index("web1"))
        await pilot.press("s")
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen is queue and queue.host == "web1", "the queue on web1")
        await wait_for(pilot, lambda: table.row_count == 1, "web1's acknowledged episode")


async def test_the_screen_never_shows_the_password(fleet: Fleet, tmp_path: Path) -> None:
    url = fleet.url.replace("user=postgres", "user=postgres password=S3cretFleetPw")
    if "S3cretFleetPw" not in url:
        url = fleet.url + " password=S3cretFleetPw"
    app, _local = make_app(fleet, tmp_path, url)
    async with app.run_test(size=(160, 40)) as pilot:
        await hosts_ready(pilot, app)
        shown = [app.screen.sub_title, app.title, str(app.screen.query_one("#hosts-summary", Label).render())]
        assert app.target_display in shown[0]
        assert all("S3cretFleetPw" not in text for text in shown)
        assert "S3cretFleetPw" not in app.export_screenshot()


async def test_hosts_at_80_by_24_keep_the_state_columns_and_say_what_is_hidden(fleet: Fleet, tmp_path: Path) -> None:
    app, _local = make_app(fleet, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await hosts_ready(pilot, app)
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        assert {"host", "age", "cpu", "memory", "score", "open"} <= set(screen.columns)
        assert "database" in screen.hidden
        assert "hidden at this width" in str(screen.query_one("#hosts-filter-line", Label).render())
        assert len(table_column(table, "host")) == 3


async def test_ages_are_measured_on_the_servers_clock(fleet: Fleet, tmp_path: Path) -> None:
    app, _local = make_app(fleet, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await hosts_ready(pilot, app)
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        server_now = app.fleet_reader.session.server_now_ms
        assert server_now is not None and screen.read_at == server_now


def test_a_keys_table_is_checked_against_the_fleet_screens(tmp_path: Path) -> None:
    from scops_tui.errors import ConfigError

    settings = load_settings({"db": tmp_path / "never-made.db"})
    session = FleetSession(resolve_target("postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(ConfigError, match=r'keys."hosts.sort" = "r" clashes with hosts.reverse on the Hosts screen'):
        create_fleet_app(settings, session, keymap={"hosts.sort": "r"})
    with pytest.raises(ConfigError, match=r"keys\.nope\.x: unknown binding id"):
        create_fleet_app(settings, session, keymap={"nope.x": "z"})
    # One config file serves both apps: the local app's ids are accepted here; remaps of the fleet's apply.
    app = create_fleet_app(settings, session, keymap={"dashboard.extras": "E", "hosts.sort": "O"})
    assert app.user_keymap == {"dashboard.extras": "E", "hosts.sort": "O"}
    assert not (tmp_path / "never-made.db").exists()
