"""Timestamps: every parsed time lies in 1970-01-01 .. 9999-12-31 UTC, so it fits SQLite and the schema."""

from __future__ import annotations

import pytest

from scops_tui.store.timestamps import MAX_MS, MIN_MS, check_range, iso, parse_timestamp


@pytest.mark.parametrize(
    "text", ["1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999-14:00"]
)
def test_times_outside_the_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"outside 1970-01-01 \.\. 9999-12-31"):
        parse_timestamp(text)


def test_the_range_ends_are_accepted() -> None:
    assert parse_timestamp("1970-01-01T00:00:00Z") == MIN_MS == check_range(0)
    assert parse_timestamp("9999-12-31T23:59:59.999Z") == MAX_MS
    assert iso(MAX_MS) == "9999-12-31T23:59:59.999Z"
    with pytest.raises(ValueError):
        check_range(MAX_MS + 1)
