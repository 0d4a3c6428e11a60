"""`scops-tui detect FILE.csv`: score any CSV series causally, without a database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

DETECT_PROGRESS_ROWS = 5000
"""`detect` shows a progress bar on a terminal for files with more rows than this (a few seconds' work)."""


@click.command()
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
def detect(csv_file: Path, out: Path | None, force: bool) -> None:
    """Score a CSV series (a timestamp column plus numeric columns) causally; add an anomaly_score column.

    Rows are scored in file order. Timestamps that step back or repeat are accepted (one warning line
    says how many and where the first is); the time-of-day features use them as given. No database is
    needed.
    """
    from scops_tui.detection.detector import score_series
    from scops_tui.transfer.output_file import open_output, refuse_existing
    from scops_tui.transfer.series_csv import read_series, write_scores

    if out is not None:
        refuse_existing(out, force=force)
    series = read_series(csv_file)
    warning = series.clock_warning()
    if warning:
        click.echo(f"scops-tui: warning: {warning}", err=True)
    if sys.stderr.isatty() and len(series) > DETECT_PROGRESS_ROWS:
        with click.progressbar(length=len(series), label="scoring", file=sys.stderr) as bar:
            scores = score_series(series.timestamps_ms, series.rows, progress=bar.update)
    else:
        scores = score_series(series.timestamps_ms, series.rows)
    if out is None:
        write_scores(series, scores, sys.stdout)
        return
    with open_output(out, force=force) as handle:
        write_scores(series, scores, handle)
    click.echo(f"scored {len(scores):,} rows of {csv_file} into {out}", err=True)
