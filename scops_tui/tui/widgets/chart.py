"""A labelled time-series chart; the one place that knows which chart widget draws it (a Sparkline today)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline


class MetricChart(Vertical):
    """A title with the latest reading, over a sparkline of the series."""

    DEFAULT_CLASSES = "metric-chart"

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title

    def compose(self) -> ComposeResult:
        yield Label(self.title, classes="chart-title")
        yield Sparkline([], classes="chart-line")

    def show(self, values: Sequence[float], reading: str) -> None:
        """Draw `values` (a new list each time, so the sparkline notices) and the latest reading."""
        self.query_one(".chart-title", Label).update(f"{self.title}  [b]{reading}[/b]")
        self.query_one(Sparkline).data = list(values)

    @property
    def values(self) -> list[float]:
        """The series drawn now."""
        return list(self.query_one(Sparkline).data or [])


class EpisodeStrip(Label):
    """One row of marks under a chart: where episodes (and flagged samples) lie in the window."""

    DEFAULT_CLASSES = "episode-strip"

    def show(self, marks: Sequence[str | None]) -> None:
        """One cell per bucket: a severity name marks an episode there, None leaves the cell empty."""
        glyphs = {"critical": "[red]█[/]", "high": "[darkorange]█[/]", "medium": "[yellow]▆[/]", "low": "[blue]▃[/]"}
        self.update("".join(" " if mark is None else glyphs.get(mark, "[magenta]▃[/]") for mark in marks))
