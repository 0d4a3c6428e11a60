"""The one-line text widget of the score line: draws its text, cut with `…`, and repaints only on a change."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from scops_tui.tui.widgets.text_line import TextLine


class LineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TextLine("waiting", id="line")


async def test_a_new_text_is_drawn_and_the_same_text_again_draws_nothing() -> None:
    app = LineApp()
    async with app.run_test(size=(30, 3)) as pilot:
        line = app.query_one(TextLine)
        await pilot.pause()
        assert line.render_line(0).text.rstrip() == "waiting"
        line.update(Text.assemble("score ", ("0.912", "bold")))
        await pilot.pause()
        drawn = line.repaints
        assert line.render_line(0).text.rstrip() == "score 0.912"
        assert any(s.style is not None and s.style.bold for s in line.render_line(0) if s.text == "0.912")
        line.update(Text.assemble("score ", ("0.912", "bold")))  # the same text: nothing to repaint
        await pilot.pause()
        line.render_line(0)
        assert line.repaints == drawn
        assert str(line.render()) == "score 0.912"


async def test_a_text_longer_than_the_line_is_cut_with_an_ellipsis() -> None:
    app = LineApp()
    async with app.run_test(size=(12, 3)) as pilot:
        line = app.query_one(TextLine)
        line.update("anomaly score: 0.123 severity: normal")
        await pilot.pause()
        text = line.render_line(0).text
        assert len(text) == 12 and text.endswith("…")


async def test_a_new_theme_redraws_the_line_in_its_colours() -> None:
    app = LineApp()
    async with app.run_test(size=(30, 3)) as pilot:
        line = app.query_one(TextLine)
        await pilot.pause()
        before = line.render_line(0)
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        after = line.render_line(0)
        assert after.text == before.text
        assert after != before  # not the strip kept from the old theme
        expected = line.rich_style
        assert all(segment.style is not None and segment.style.bgcolor == expected.bgcolor for segment in after)
