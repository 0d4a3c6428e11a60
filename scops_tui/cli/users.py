"""`scops-tui users`: list, add, disable and enable the accounts that own API keys."""

from __future__ import annotations

import json

import click

from scops_tui.cli.context import reader_for, writer_for
from scops_tui.cli.params import TEXT
from scops_tui.cli.table import Column, render_table
from scops_tui.store.timestamps import iso


@click.group()
def users() -> None:
    """Accounts: each API key belongs to one; a disabled user's keys stop working."""


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Every account with its role, state and number of active keys."""
    from scops_tui.api import users as api_users

    found = api_users.list_users(reader_for(ctx))
    if as_json:
        click.echo(json.dumps([user.as_json() for user in found]))
        return
    rows = [
        (
            user.username,
            user.role,
            "active" if user.is_active else "disabled",
            user.active_keys,
            iso(user.created_at)[:16].replace("T", " "),
            user.email,
        )
        for user in found
    ]
    columns = (
        Column("username", limit=32),
        Column("role"),
        Column("state"),
        Column("keys", right=True),
        Column("created (UTC)"),
        Column("email", limit=60),
    )
    for line in render_table(columns, rows):
        click.echo(line)


@users.command("add")
@click.argument("name", type=TEXT)
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="viewer", show_default=True)
@click.option("--email", type=TEXT, help="Default: NAME@this host's name.")
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, email: str | None) -> None:
    """Add an account. Its role caps its keys: viewer read, operator write, admin admin."""
    from scops_tui.api import users as api_users

    user = api_users.add_user(writer_for(ctx, create=False), name, role=role, email=email)
    click.echo(f"user {user.username!r} added: {user.role}, {user.email}")


def _state_command(name: str, active: bool, help_text: str) -> None:
    @users.command(name, help=help_text)
    @click.argument("username", metavar="NAME", type=TEXT)
    @click.pass_context
    def action(ctx: click.Context, username: str) -> None:
        from scops_tui.api import users as api_users

        user, changed = api_users.set_active(writer_for(ctx, create=False), username, active)
        word = "enabled" if active else "disabled"
        click.echo(f"user {user.username!r}: {word}" if changed else f"user {user.username!r} was already {word}")


_state_command("disable", False, "Disable account NAME: its API keys stop working at once.")
_state_command("enable", True, "Enable account NAME again.")
