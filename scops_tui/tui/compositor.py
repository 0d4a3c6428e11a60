"""Textual's compositor, rendering for a partial update only the lines that changed.

Textual 8.2.8's `Compositor._render_chops` takes the box around every changed region of a frame and asks
each widget overlapping that box for all of its visible lines, then keeps only the changed ones. On the
Dashboard a frame changes a few lines far apart (chart titles at the top, process rows at the bottom), so the
box is most of the screen and every widget in it goes through its line cache and line filters for every
line, and those lines were then thrown away. The method below is Textual's, except that each widget is
asked only for the span from its first changed line to its last (one call per widget: a call per run of
lines cost more than the cached lines between the runs). `bench/tui.py --compositor` times both methods on
the Dashboard (docs/BENCHMARKS.md, issue 14). The output is the same; `tests/tui/test_compositor.py`
compares it with Textual's for random updates.

It relies on Textual's private compositor API: Textual is pinned exactly (pyproject.toml) and the test
above fails if that API moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


class ChangedLinesCompositor(Compositor):
    """A compositor whose partial updates render each widget only from its first changed line to its last."""

    def _render_chops(
        self,
        crop: Region,
        is_rendered_line: Callable[[int], bool],
    ) -> Sequence[Mapping[int, Strip]]:
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        crop_overlaps = crop.overlaps
        intersection = Region.intersection
        for widget, (region, clip) in self.visible_widgets.items():
            if not crop_overlaps(clip):
                continue
            visible = intersection(region, clip)
            if not (visible.width and visible.height):
                continue
            first_cut, last_cut = visible.column_span
            x = visible.x
            lines = [y for y in visible.line_range if is_rendered_line(y)]
            if not lines:
                continue
            # One call for the span from the first changed line to the last: a call per run of lines costs
            # more than the cached lines between two runs do.
            start, end = lines[0], lines[-1] + 1
            strips = widget.render_lines(Region(x - region.x, start - region.y, visible.width, end - start))
            for y, strip in zip(range(start, end), strips, strict=False):
                if is_rendered_line(y):
                    chops_line = chops[y]
                    final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                    get_chops_line = chops_line.get
                    # painting front to back: the first strip for a cut wins
                    pieces = strip.divide([cut - x for cut in final_cuts[1:]])
                    for cut, piece in zip(final_cuts, pieces, strict=False):
                        if get_chops_line(cut) is None:
                            chops_line[cut] = piece
        return chops  # type: ignore[return-value]
