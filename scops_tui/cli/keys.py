"""`scops-tui keys`: make an API key (shown once), list keys' metadata, revoke a key."""

from __future__ import annotations

import json

import click

from scops_tui.cli.context import reader_for, writer_for
from scops_tui.cli.params import DAYS, SQLITE_ID, TEXT, WholeNumber
from scops_tui.cli.table import Column, render_table
from scops_tui.store.timestamps import iso

RATE_LIMIT = WholeNumber(0, 2**31 - 1, "requests per hour")
"""`--rate-limit`: requests per hour; 0 means no limit."""


@click.group()
def keys() -> None:
    """API keys for `scops-tui serve`: create (shown once), list, revoke."""


@keys.command("create")
@click.argument("name", type=TEXT)
@click.option(
    "--permission",
    type=click.Choice(["read", "write", "admin"]),
    default="read",
    show_default=True,
    help="read: /metrics and /ml/metrics; write: also /ml/predict; admin: everything.",
)
@click.option("--expires", "expires_days", type=DAYS, help="Days until the key stops working (default: never).")
@click.option("--rate-limit", type=RATE_LIMIT, default=1000, show_default=True, help="Requests per hour; 0: none.")
@click.option("--user", "username", type=TEXT, help="The key's owner (default: the OS login user).")
@click.option("--description", type=TEXT, help="What the key is for.")
@click.pass_context
def keys_create(
    ctx: click.Context,
    name: str,
    permission: str,
    expires_days: float | None,
    rate_limit: int,
    username: str | None,
    description: str | None,
) -> None:
    """Make a key called NAME and print it once; only its SHA-256 hash is stored."""
    from scops_tui.api import keys as api_keys
    from scops_tui.store import database as store

    conn = writer_for(ctx, create=False)
    operator = store.operator_username()
    made = api_keys.create_key(
        conn,
        name,
        username=username or operator,
        created_by=operator,
        permission=permission,
        expires_days=expires_days,
        rate_limit=rate_limit or None,
        description=description,
    )
    click.echo(made.secret)
    expires = "never" if made.key.expires_at is None else iso(made.key.expires_at)
    click.echo(
        f"key {made.key.id} {made.key.name!r}: {made.key.permission} for {made.key.username}, expires {expires}; "
        "shown once, only its hash is stored",
        err=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_context
def keys_list(ctx: click.Context, as_json: bool) -> None:
    """Every key's metadata (never the key itself)."""
    from scops_tui.api import keys as api_keys
    from scops_tui.store.timestamps import now_ms

    found = api_keys.list_keys(reader_for(ctx))
    now = now_ms()
    if as_json:
        click.echo(json.dumps([key.as_json(now) for key in found]))
        return
    if not found:
        click.echo("no API keys (make one with `scops-tui keys create NAME`)")
        return
    rows = [
        (
            key.id,
            key.name,
            key.permission,
            key.username or "-",
            _when(key.created_at),
            _when(key.expires_at),
            _when(key.last_used_at),
            key.usage_count,
            "-" if key.rate_limit_per_hour is None else key.rate_limit_per_hour,
            key.status(now),
        )
        for key in found
    ]
    columns = (
        Column("id", right=True),
        Column("name", limit=40),
        Column("perm"),
        Column("user", limit=20),
        Column("created (UTC)"),
        Column("expires"),
        Column("last used"),
        Column("uses", right=True),
        Column("limit/h", right=True),
        Column("status"),
    )
    for line in render_table(columns, rows):
        click.echo(line)


def _when(ms: int | None) -> str:
    return "-" if ms is None else iso(ms)[:16].replace("T", " ")


@keys.command("revoke")
@click.argument("key_id", metavar="ID", type=SQLITE_ID)
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: int) -> None:
    """Revoke key ID: it stops working at once, for good."""
    from scops_tui.api import keys as api_keys

    key, was_active = api_keys.revoke_key(writer_for(ctx, create=False), key_id)
    click.echo(f"key {key.id} {key.name!r}: {'revoked' if was_active else 'was already revoked'}")
