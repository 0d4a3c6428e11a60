"""The compositor that renders only changed lines: the same output as Textual's for any partial update."""

from __future__ import annotations

import random

from rich.console import Console
from rich.segment import ControlType, Segment
from textual._compositor import ChopsUpdate, Compositor
from textual.app import App, ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.geometry import Region
from textual.widgets import Footer, Header, Label

from scops_tui.tui.compositor import ChangedLinesCompositor
from scops_tui.tui.screens.base import ScopsScreen


class Busy(ScopsScreen):
    """Widgets side by side, stacked, and clipped by a scrolled container: three-line rows scrolled by 7 lines
    leave a row cut at the top (the branch that crops a widget)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="row"):
            for column in range(3):
                yield Label("\n".join(f"c{column} line {y}" for y in range(5)), id=f"col{column}")
        with VerticalScroll(id="scroll"):
            for index in range(30):
                yield Label(
                    f"row {index} " + "x" * (index % 17) + f"\n  second {index}\n  third {index}", id=f"row{index}"
                )
        yield Footer()


class BusyApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(Busy())


def written_cells(update: ChopsUpdate) -> dict[tuple[int, int], tuple[str, str]]:
    """What an update writes to the terminal: each cell's character and style, by (x, y)."""
    cells: dict[tuple[int, int], tuple[str, str]] = {}
    x = y = 0
    for segment in update.__rich_console__(Console(), Console().options):
        assert isinstance(segment, Segment)
        if segment.control:
            for control in segment.control:
                if control[0] == ControlType.CURSOR_MOVE_TO:
                    x, y = control[1], control[2]
            continue
        if segment.text == "\n":
            continue
        for char in segment.text:
            cells[(x, y)] = (char, str(segment.style))
            x += 1
    return cells


def textuals_update(compositor: Compositor, regions: list[Region]) -> ChopsUpdate:
    """Textual's own partial update of `regions` (its `render_partial_update` with its `_render_chops`)."""
    crop = Region.from_union(regions).intersection(compositor.size.region)
    spans = list(compositor._regions_to_spans(regions))
    lines = {y for y, _, _ in spans}
    chops = Compositor._render_chops(compositor, crop, lines.__contains__)
    return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in compositor.cuts])


async def test_partial_updates_write_the_same_cells_as_textuals_compositor() -> None:
    app = BusyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen._compositor, ChangedLinesCompositor)
        screen.query_one("#scroll", VerticalScroll).scroll_to(y=7, animate=False)
        await pilot.pause()
        compositor = screen._compositor
        rng = random.Random(5)
        for _ in range(80):
            # Change a few labels, as a frame of the dashboard does, then render the same regions both ways.
            for label_id in rng.sample([f"col{c}" for c in range(3)] + [f"row{r}" for r in range(30)], 3):
                label = screen.query_one(f"#{label_id}", Label)
                label.update(f"{label_id} {rng.random():.6f}\n{rng.random():.3f}\n{rng.random():.2f}")
            regions = [
                Region(rng.randrange(0, 50), rng.randrange(0, 20), rng.randrange(1, 20), rng.randrange(1, 4))
                for _ in range(rng.randrange(1, 4))
            ]
            regions = [region.intersection(compositor.size.region) for region in regions]
            textuals = written_cells(textuals_update(compositor, regions))
            compositor._dirty_regions.update(regions)
            ours = compositor.render_partial_update()
            assert ours is not None
            assert written_cells(ours) == textuals
            assert textuals  # the regions are on screen: something is written
            await pilot.pause()


async def test_a_line_under_a_widget_renders_only_that_widget() -> None:
    app = BusyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        screen = app.screen
        label = screen.query_one("#col1", Label)
        rendered: list[object] = []
        for widget in (screen, screen.query_one("#row"), *screen.query(Label)):
            original = widget.render_lines

            def spy(crop: Region, widget: object = widget, original: object = original) -> object:
                rendered.append(widget)
                return original(crop)  # type: ignore[operator]

            widget.render_lines = spy  # type: ignore[method-assign]
        compositor = screen._compositor
        compositor._dirty_regions.add(Region(label.region.x, label.region.y, label.region.width, 1))
        assert compositor.render_partial_update() is not None
        assert rendered == [label]  # not the screen or the row behind it, nor the labels beside it


async def test_a_label_changed_on_screen_reads_changed_in_the_rendered_screen() -> None:
    app = BusyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        app.screen.query_one("#col1", Label).update("changed text")
        await pilot.pause()
        screen_text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "changed text" in screen_text and "c1 line 0" not in screen_text
