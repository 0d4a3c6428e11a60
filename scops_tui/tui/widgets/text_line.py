"""One line of styled text that repaints only when its text changes, drawn straight from Rich segments.

For a line that changes at every repaint of the Dashboard (the anomaly score). A Label sends every new text
through Textual's content pipeline (markup, wrapping, visual styles): a frame that changes only this line
cost 1.54 to 1.61 ms of the UI thread as a Label and 0.99 to 1.05 ms as this widget (`bench/tui.py --frame-cost`,
docs/BENCHMARKS.md, issue 14). Text longer than the line ends in `…`.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


class TextLine(Widget):
    """A one-line label for text that changes often: `update(Text)`; `render()` gives the text shown."""

    DEFAULT_CSS = """
    TextLine { height: 1; width: 1fr; }
    """

    def __init__(self, text: str | Text = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text(text) if isinstance(text, str) else text
        self._strip: Strip | None = None
        self.repaints = 0
        """How many times a new text was drawn (for tests: the same text again repaints nothing)."""

    def update(self, text: str | Text) -> None:
        """Show `text`; nothing is repainted when it reads and looks the same as the text shown."""
        new = Text(text) if isinstance(text, str) else text
        if new == self._text:
            return
        self._text = new
        self._strip = None
        self.refresh()

    def notify_style_update(self) -> None:
        """New styles (a theme, a class, focus): the kept line holds the old colours, so it is drawn again."""
        self._strip = None
        super().notify_style_update()

    def render(self) -> Text:
        """The text shown (the line itself is drawn by `render_line`)."""
        return self._text

    def render_line(self, y: int) -> Strip:
        """The text cut or padded to the width, on the first line; blank below."""
        width = self.size.width
        if y != 0:
            return Strip.blank(width)
        if self._strip is None or self._strip.cell_length != width:
            text = self._text.copy()
            text.no_wrap = True
            text.truncate(width, overflow="ellipsis", pad=True)
            segments = Segment.apply_style(text.render(self.app.console), self.rich_style)
            self._strip = Strip(list(segments), width).crop(0, width)
            self.repaints += 1
        return self._strip
