"""`scops-tui service unit JOB`: the systemd unit that runs `record`, `serve` or `sync --watch` as a service.

The printed unit knows this installation: the absolute path of the `scops-tui` being run, the database
file, the `SCOPS_*` settings of the shell that prints it (never `SCOPS_PG_URL`, a secret), and the folders
the job writes to. System units are hardened (read-only system and home but for those folders, private
/tmp, no new privileges); user units are not, because file-system sandboxing in a user manager needs
unprivileged user namespaces, which many hosts turn off, and the job would then fail to start.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from scops_tui.cli.context import settings_for
from scops_tui.config import Paths, Settings, resolve_paths

JOBS = ("record", "serve", "sync")

_CARRIED_SETTINGS = (
    "SCOPS_SOURCE",
    "SCOPS_INTERVAL",
    "SCOPS_FLUSH_INTERVAL",
    "SCOPS_BUSY_TIMEOUT_MS",
    "SCOPS_RETENTION_DAYS",
)
"""Settings taken from the printing shell into the unit; SCOPS_PG_URL is a secret and stays out."""


@dataclass(frozen=True)
class UnitRequest:
    """What a unit is for: the job, user or system manager, and where this installation keeps things."""

    job: str
    user: bool
    command: tuple[str, ...]
    """The absolute command line of this installation's scops-tui."""
    db: Path
    paths: Paths
    environment: dict[str, str]
    run_as: str | None
    """The account a system unit runs as (None: root)."""


def installed_command() -> tuple[str, ...]:
    """This installation's command: the `scops-tui` script beside the interpreter, else `python -m scops_tui`.

    The interpreter's path is made absolute but not resolved: a virtual environment's `python` is a link
    whose target lies outside the environment.
    """
    python = Path(sys.executable).absolute()
    script = python.with_name("scops-tui")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (str(python), "-m", "scops_tui")


def quote(word: str) -> str:
    """One word of an ExecStart= line: `%` doubled (systemd's specifier), quoted when it holds spaces or quotes."""
    word = word.replace("%", "%%")
    if word and not any(char in word for char in " \t\"'\\;$"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _job_arguments(job: str) -> list[str]:
    return {"record": ["record", "--quiet"], "serve": ["serve"], "sync": ["sync", "--watch"]}[job]


_DESCRIPTIONS = {
    "record": "scops-tui recorder: samples this host into {db}",
    "serve": "scops-tui local HTTP API over {db}",
    "sync": "scops-tui sync of {db} to PostgreSQL",
}


def render_unit(request: UnitRequest) -> str:
    """The text of the `.service` file for `request`."""
    db = request.db
    exec_start = " ".join(quote(word) for word in (*request.command, "--db", str(db), *_job_arguments(request.job)))
    printed_by = f"scops-tui service unit {request.job}{' --user' if request.user else ''}"
    lines = [
        f"# {unit_name(request.job)}: written by `{printed_by}`",
        "[Unit]",
        f"Description={_DESCRIPTIONS[request.job].format(db=db)}",
    ]
    if request.job in ("sync", "serve") and not request.user:
        # A user manager has no network-online.target of its own; sync retries until the network is up.
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += ["", "[Service]", "Type=simple", f"ExecStart={exec_start}"]
    for name, value in sorted(request.environment.items()):
        lines.append(f"Environment={quote(f'{name}={value}')}")
    if request.job == "sync":
        lines += [
            f"# The target: pg_url in {request.paths.config_file} (mode 0600),",
            "# or libpq's own ~/.pgpass and service file; never put a password in this unit.",
        ]
    lines += ["Restart=on-failure", "RestartSec=5s", "TimeoutStopSec=30s"]
    if request.job == "sync":
        # Exit 2 is a configuration error (refused login, missing database): restarting cannot fix it.
        lines.append("RestartPreventExitStatus=2")
    if request.job == "record":
        lines += [
            "# Low priority: recording must never slow the host it watches.",
            "Nice=10",
            "IOSchedulingClass=idle",
            "CPUSchedulingPolicy=batch",
        ]
    if not request.user:
        if request.run_as:
            lines.append(f"User={request.run_as}")
        writable = sorted({str(db.parent), str(request.paths.data_dir)})
        lines.append("NoNewPrivileges=yes")
        if not any(_under_tmp(Path(path)) for path in writable):
            # A private /tmp would hide a database kept under /tmp, so only then is it left out.
            lines.append("PrivateTmp=yes")
        lines += [
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
            "LockPersonality=yes",
            "# The database folder (the file, its -wal, -shm and the recorder lock) is the only place written.",
            "ReadWritePaths=" + " ".join(quote(f"-{path}") for path in writable),
        ]
    lines += ["", "[Install]", f"WantedBy={'default.target' if request.user else 'multi-user.target'}", ""]
    return "\n".join(lines)


def _under_tmp(path: Path) -> bool:
    return any(path == Path(tmp) or Path(tmp) in path.parents for tmp in ("/tmp", "/var/tmp"))


def unit_name(job: str) -> str:
    """The file name the README installs the unit under."""
    return f"scops-{job}.service"


def unit_request(job: str, user: bool, settings: Settings, paths: Paths) -> UnitRequest:
    """Collect what the unit needs from this process: the command, the database and the SCOPS_* settings."""
    environment = {name: os.environ[name] for name in _CARRIED_SETTINGS if os.environ.get(name)}
    for name in ("SCOPS_HOME", "SCOPS_CONFIG"):
        if os.environ.get(name):
            environment[name] = str(Path(os.environ[name]).expanduser().absolute())
    run_as = None if user or os.geteuid() == 0 else getpass.getuser()
    return UnitRequest(
        job=job,
        user=user,
        command=installed_command(),
        db=settings.db.expanduser().absolute(),
        paths=paths,
        environment=environment,
        run_as=run_as,
    )


@click.group()
def service() -> None:
    """Run scops-tui under systemd."""


@service.command("unit")
@click.argument("job", metavar="JOB", type=click.Choice(JOBS))
@click.option("--user", "user_unit", is_flag=True, help="A unit for the user's own manager (systemctl --user).")
@click.pass_context
def service_unit(ctx: click.Context, job: str, user_unit: bool) -> None:
    """Print the systemd unit that runs JOB (record, serve or sync --watch) for this installation.

    \b
    System (as root):  scops-tui service unit record > /etc/systemd/system/scops-record.service
                       systemctl daemon-reload && systemctl enable --now scops-record.service
    User (a laptop):   scops-tui service unit record --user > ~/.config/systemd/user/scops-record.service
                       systemctl --user daemon-reload && systemctl --user enable --now scops-record.service
    """
    settings = settings_for(ctx)
    click.echo(render_unit(unit_request(job, user_unit, settings, resolve_paths())), nl=False)
