"""`scops-tui detect FILE.csv`: score any CSV series causally, without a database."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def detect(csv_file: Path, out: Path | None) -> None:
    """Score a CSV series (a timestamp column plus numeric columns) causally; add an anomaly_score column.

    Rows must be in time order; rows sharing a timestamp are kept and scored in file order.
    No database is needed.
    """
    from scops_tui.detection.detector import score_series
    from scops_tui.transfer.output_file import open_output
    from scops_tui.transfer.series_csv import read_series, write_scores

    series = read_series(csv_file)
    scores = score_series(series.timestamps_ms, series.rows)
    if out is None:
        write_scores(series, scores, sys.stdout)
        return
    with open_output(out) as handle:
        write_scores(series, scores, handle)
    click.echo(f"scored {len(scores):,} rows of {csv_file} into {out}", err=True)
