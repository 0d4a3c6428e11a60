"""The compositor that renders only changed lines: the same output as Textual's for any partial update."""

from __future__ import annotations

import random

from textual._compositor import Compositor
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


def chops_text(chops: object, lines: set[int]) -> dict[int, dict[int, str | None]]:
    return {
        y: {
            cut: (None if strip is None else "".join(f"{s.text}{s.style}" for s in strip)) for cut, strip in row.items()
        }
        for y, row in enumerate(chops)  # type: ignore[call-overload]
        if y in lines
    }


async def test_partial_updates_render_the_same_lines_as_textuals_compositor() -> None:
    app = BusyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen._compositor, ChangedLinesCompositor)
        screen.query_one("#scroll", VerticalScroll).scroll_to(y=7, animate=False)
        await pilot.pause()
        compositor = screen._compositor
        rng = random.Random(5)
        for _ in range(60):
            # Change a few labels, as a frame of the dashboard does, then render the dirty lines both ways.
            for label_id in rng.sample([f"col{c}" for c in range(3)] + [f"row{r}" for r in range(30)], 3):
                label = screen.query_one(f"#{label_id}", Label)
                label.update(f"{label_id} {rng.random():.6f}\n{rng.random():.3f}\n{rng.random():.2f}")
            regions = [
                Region(rng.randrange(0, 50), rng.randrange(0, 20), rng.randrange(1, 20), rng.randrange(1, 4))
                for _ in range(rng.randrange(1, 4))
            ]
            crop = Region.from_union(regions).intersection(compositor.size.region)
            lines = {y for region in regions for y in range(region.y, region.bottom) if y < 20}
            ours = compositor._render_chops(crop, lines.__contains__)
            textuals = Compositor._render_chops(compositor, crop, lines.__contains__)
            assert chops_text(ours, lines) == chops_text(textuals, lines)
            await pilot.pause()


async def test_a_label_changed_on_screen_reads_changed_in_the_rendered_screen() -> None:
    app = BusyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        app.screen.query_one("#col1", Label).update("changed text")
        await pilot.pause()
        screen_text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "changed text" in screen_text and "c1 line 0" not in screen_text
