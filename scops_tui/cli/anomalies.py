"""`scops-tui anomalies`: the review queue and its verdicts."""

from __future__ import annotations

import json
from typing import Any

import click

from scops_tui.cli.completion import complete_episode_id
from scops_tui.cli.context import reader_for, writer_for
from scops_tui.cli.params import COUNT, SQLITE_ID, TEXT
from scops_tui.cli.table import Column, render_table
from scops_tui.store.timestamps import iso


@click.group()
def anomalies() -> None:
    """The review queue of anomaly episodes."""


@anomalies.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "resolved", "all"]),
    default="open",
    show_default=True,
)
@click.option("--severity", type=click.Choice(["low", "medium", "high", "critical"]), help="Only this severity.")
@click.option("--limit", type=COUNT, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_context
def anomalies_list(ctx: click.Context, status: Any, severity: str | None, limit: int | None, as_json: bool) -> None:
    """Episodes, newest first."""
    from scops_tui.detection import review

    episodes = review.list_episodes(reader_for(ctx), status, severity, limit)
    if as_json:
        click.echo(json.dumps([episode.as_json() for episode in episodes]))
        return
    if not episodes:
        click.echo("no anomaly episodes" + ("" if status == "all" else f" with status {status}"))
        return
    rows = []
    for e in episodes:
        metrics = ", ".join(str(item.get("metric")) for item in e.contributing_metrics[:3])
        end = "-" if e.end_timestamp is None else iso(e.end_timestamp)[11:19]
        state = e.status + (f" ({e.verdict})" if e.verdict else "")
        peak = e.peak_score if e.peak_score is not None else e.confidence_score
        rows.append((e.id, iso(e.timestamp)[:19], end, e.source, e.severity or "-", f"{peak:.2f}", state, metrics))
    for line in render_table(EPISODE_COLUMNS, rows):
        click.echo(line)


EPISODE_COLUMNS = (
    Column("id", right=True),
    Column("start (UTC)"),
    Column("end"),
    Column("source", limit=32),
    Column("severity"),
    Column("peak", right=True),
    Column("status"),
    Column("metrics", limit=60),
)


def _review_command(name: str, help_text: str) -> None:
    """Register `anomalies NAME ID [--note TEXT]`, acting as the OS login user."""

    @anomalies.command(name, help=help_text)
    @click.argument("episode_id", metavar="ID", type=SQLITE_ID, shell_complete=complete_episode_id)
    @click.option("--note", type=TEXT, help="A note kept with the episode (who and when are added).")
    @click.pass_context
    def action(ctx: click.Context, episode_id: int, note: str | None) -> None:
        from scops_tui.detection import review
        from scops_tui.store import database as store

        conn = writer_for(ctx, create=False)
        who = store.operator_username()
        if name == "ack":
            episode = review.acknowledge(conn, episode_id, who, note)
        elif name == "resolve":
            episode = review.resolve(conn, episode_id, who, note)
        else:
            episode = review.give_verdict(conn, episode_id, who, confirmed=name == "confirm", note=note)
        verdict = f", {episode.verdict}" if episode.verdict else ""
        click.echo(f"episode {episode.id}: {episode.status}{verdict} (by {who})")


_review_command("ack", "Acknowledge episode ID: seen, under review.")
_review_command("confirm", "Confirm episode ID as a true anomaly (acknowledges it).")
_review_command("false-positive", "Mark episode ID as a false positive (acknowledges it).")
_review_command("resolve", "Resolve episode ID, with an optional --note.")
