"""`scops-tui model`: list, train, deploy and evaluate model versions."""

from __future__ import annotations

import json

import click

from scops_tui.cli.completion import complete_source, complete_version_id
from scops_tui.cli.context import reader_for, writer_for
from scops_tui.cli.params import SOURCE, SQLITE_ID
from scops_tui.cli.table import Column, render_table
from scops_tui.errors import ScopsError
from scops_tui.store.timestamps import iso


@click.group()
def model() -> None:
    """List, train, deploy and evaluate the detector models."""


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@model.command("list")
@click.option(
    "--source",
    type=SOURCE,
    shell_complete=complete_source,
    help="Only this source's model.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def model_list(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Every model version: status, data window, size and quality."""
    from scops_tui.detection import registry

    versions = registry.list_versions(reader_for(ctx), source)
    if as_json:
        click.echo(json.dumps([version.as_json() for version in versions]))
        return
    if not versions:
        click.echo("no model versions yet (the recorder makes one with its first samples)")
        return
    rows = [
        (
            v.id,
            v.model_name,
            v.version,
            v.kind,
            v.status,
            f"{v.training_data_size:,}",
            f"{iso(v.training_data_start)[:16]} .. {iso(v.training_data_end)[:16]}",
            _figure(v.precision),
            _figure(v.recall),
            _figure(v.f1),
        )
        for v in versions
    ]
    for line in render_table(VERSION_COLUMNS, rows):
        click.echo(line)


VERSION_COLUMNS = (
    Column("id", right=True),
    Column("model", limit=40),
    Column("version", right=True),
    Column("kind"),
    Column("status"),
    Column("rows", right=True),
    Column("data window (UTC)"),
    Column("prec", right=True),
    Column("rec", right=True),
    Column("f1", right=True),
)


@model.command("train")
@click.option(
    "--source",
    type=SOURCE,
    shell_complete=complete_source,
    help="Whose history to train on (default: this host's source).",
)
@click.option("--deploy", is_flag=True, help="Deploy the new version at once.")
@click.pass_context
def model_train(ctx: click.Context, source: str | None, deploy: bool) -> None:
    """Train a learned detector on a source's recent history; it becomes a ready (or deployed) version."""
    from scops_tui.detection.training import train_source
    from scops_tui.store import database as store

    conn = writer_for(ctx, create=False)
    chosen = source or ctx.obj["settings"].source
    click.echo(f"training on the recent history of {chosen} ...", err=True)
    version = train_source(conn, chosen, deploy=deploy, created_by=store.user_id(conn, store.operator_username()))
    click.echo(
        f"version {version.id} ({version.model_name} v{version.version}) {version.status}: "
        f"{version.training_data_size:,} samples from {iso(version.training_data_start)} "
        f"to {iso(version.training_data_end)}"
    )
    if not deploy:
        click.echo(f"deploy it with: scops-tui model deploy {version.id}")


@model.command("deploy")
@click.argument("version_id", type=SQLITE_ID, shell_complete=complete_version_id)
@click.pass_context
def model_deploy(ctx: click.Context, version_id: int) -> None:
    """Make VERSION_ID the version that scores its source; the previous one is deprecated."""
    from scops_tui.detection import registry

    version = registry.deploy(writer_for(ctx, create=False), version_id)
    click.echo(f"deployed version {version.id} ({version.model_name} v{version.version})")


@model.command("evaluate")
@click.argument("version_id", type=SQLITE_ID, required=False, shell_complete=complete_version_id)
@click.option(
    "--source",
    type=SOURCE,
    shell_complete=complete_source,
    help="With no VERSION_ID: the deployed version of this source.",
)
@click.option(
    "--labels",
    "labels_source",
    metavar="SOURCE",
    type=SOURCE,
    shell_complete=complete_source,
    help="Also measure against the labels imported for SOURCE (default: the version's own source's, if any).",
)
@click.pass_context
def model_evaluate(ctx: click.Context, version_id: int | None, source: str | None, labels_source: str | None) -> None:
    """Count a version's episodes against verdicts and imported labels; store precision, recall and F1.

    A confirmed episode is one true positive, a false-positive verdict one false positive, a span marked
    as missed one false negative; against imported labels, each labelled event found or missed counts
    once. Sample-level counts are printed beside.
    """
    from scops_tui.detection import quality, registry
    from scops_tui.store import database as store

    conn = writer_for(ctx, create=False)
    if version_id is None:
        chosen = source or ctx.obj["settings"].source
        deployed = registry.deployed_version(conn, chosen)
        if deployed is None:
            raise ScopsError(f"no deployed model for source {chosen!r}; name a VERSION_ID")
        version_id = deployed.id
    result = quality.evaluate(
        conn,
        version_id,
        labels_source=labels_source,
        created_by=store.user_id(conn, store.operator_username()),
    )
    version, episodes, samples = result.version, result.episodes, result.samples
    against = "verdicts" + ("" if result.labels_source is None else f" and the labels of {result.labels_source}")
    if result.scored:
        click.echo(f"scored {result.scored:,} labelled samples of {result.labels_source} with this version", err=True)
    click.echo(
        f"version {version.id} ({version.model_name} v{version.version}) against {against}: episodes "
        f"TP {episodes.true_positives}, FP {episodes.false_positives}, FN {episodes.false_negatives}; "
        f"precision {_figure(episodes.precision)}, recall {_figure(episodes.recall)}, F1 {_figure(episodes.f1)}"
    )
    click.echo(
        f"  samples (beside, not stored as precision/recall): {samples.labelled} verdicts (TP "
        f"{samples.true_positives}, FP {samples.false_positives}, FN {samples.false_negatives}, TN "
        f"{samples.true_negatives}); precision {_figure(samples.precision)}, recall {_figure(samples.recall)}, "
        f"F1 {_figure(samples.f1)}, accuracy {_figure(samples.accuracy)}"
    )
