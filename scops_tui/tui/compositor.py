"""Textual's compositor, rendering for a partial update only the widgets in front on the changed lines.

Textual 8.2.8's partial update takes the box around every changed region of a frame and asks every widget
overlapping that box for all of its visible lines, then keeps only the changed ones, and renders the
widgets hidden behind others too. On the Dashboard a frame changes a few lines far apart (chart titles at
the top, process rows at the bottom): the box is most of the screen, and the screen and the chart grid were
rendered under every changed chart line although nothing of them shows there. The method below asks a
widget only for the span from its first changed line to its last, and only when some part of a changed span
on those lines is not yet covered by a widget in front of it (one call per widget: a call per run of lines
cost more than the cached lines between the runs). `bench/tui.py --compositor` and `--frame-cost` time it
on the Dashboard (docs/BENCHMARKS.md, issue 14). What reaches the terminal is the same;
`tests/tui/test_compositor.py` compares it with Textual's for random updates.

It relies on Textual's private compositor API: Textual is pinned exactly (pyproject.toml) and the test
above fails if that API moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip


class ChangedLinesCompositor(Compositor):
    """A compositor whose partial updates render only the widgets in front on the changed spans, each only
    from its first changed line to its last."""

    def render_partial_update(self) -> ChopsUpdate | None:
        """Textual's method, with the changed spans (not the box around them) given to `_render_spans`."""
        screen_region = self.size.region
        update_regions = [region.intersection(screen_region) for region in self._dirty_regions]
        self._dirty_regions.clear()
        spans = list(self._regions_to_spans(region for region in update_regions if region))
        if not spans:
            return None
        chops = self._render_spans(spans)
        chop_ends = [cut_set[1:] for cut_set in self.cuts]
        return ChopsUpdate(chops, spans, chop_ends)

    def _render_spans(self, spans: list[tuple[int, int, int]]) -> Sequence[Mapping[int, Strip]]:
        """The chops of the lines in `spans`, from the widgets that show on them.

        Widgets are taken front to back. A widget is rendered only where some part of a span on its lines is
        not yet covered by a widget in front of it: the screen and the containers under the dashboard's
        charts are hidden there and are no longer rendered. Chops outside the spans may stay empty;
        `ChopsUpdate` writes only the spans.
        """
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        uncovered: dict[int, list[tuple[int, int]]] = {}
        for y, x1, x2 in spans:
            uncovered.setdefault(y, []).append((x1, x2))
        intersection = Region.intersection
        for widget, (region, clip) in self.visible_widgets.items():
            visible = intersection(region, clip)
            left, right = visible.x, visible.right
            if not (visible.width and visible.height):
                continue
            top, bottom = visible.y, visible.bottom
            lines = sorted(
                y
                for y, parts in uncovered.items()
                if top <= y < bottom and any(x1 < right and x2 > left for x1, x2 in parts)
            )
            if not lines:
                continue
            first_cut, last_cut = visible.column_span
            # One call for the span from the first changed line to the last: a call per run of lines costs
            # more than the cached lines between two runs do.
            start, end = lines[0], lines[-1] + 1
            strips = widget.render_lines(Region(left - region.x, start - region.y, visible.width, end - start))
            for y in lines:
                if y - start >= len(strips):
                    break  # (as Textual's method zips lines with strips)
                strip = strips[y - start]
                chops_line = chops[y]
                final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                get_chops_line = chops_line.get
                # painting front to back: the first strip for a cut wins
                pieces = strip.divide([cut - left for cut in final_cuts[1:]])
                for cut, piece in zip(final_cuts, pieces, strict=False):
                    if get_chops_line(cut) is None:
                        chops_line[cut] = piece
                # What this widget covers no widget behind it shows.
                rest = []
                for x1, x2 in uncovered[y]:
                    if x1 < left:
                        rest.append((x1, min(x2, left)))
                    if x2 > right:
                        rest.append((max(x1, right), x2))
                if rest:
                    uncovered[y] = rest
                else:
                    del uncovered[y]
            if not uncovered:
                break
        return chops  # type: ignore[return-value]
