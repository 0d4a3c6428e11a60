"""A generator of broken command-line inputs run through the real CLI against a real SQLite database.

Every input of these classes (integers beyond SQLite's 64-bit range, inf, nan, 1e300, -1e30, lone
surrogates, empty strings, negative numbers) as an id, a count, a time, an age, a duration or a name must
end with one `scops-tui: error:` line (or click's own usage error for what click itself parses, such as
`-1` read as an option), a non-zero exit, no traceback, and the database exactly as it was.
"""

from __future__ import annotations

import csv
import io
import math
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scops_tui.cli.main import main
from scops_tui.detection import review
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord

T0 = 1_800_000_000_000

HUGE_INTS = ["100000000000000000000", "9223372036854775808", "-9223372036854775809", "9" * 400, "1" + "0" * 5000]
FLOATS = ["inf", "-inf", "nan", "1e300", "-1e30", "1e309"]
SURROGATES = ["\ud800", "\udcff", "web-\udfff-01"]
EMPTY = ["", " "]
NEGATIVE = ["-1", "-5", "-1.5"]

BAD_ID = st.sampled_from([*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, *NEGATIVE, "0", "1.5", "1e3", "0x10"])
BAD_COUNT = st.sampled_from([*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, *NEGATIVE, "0"])
BAD_TIME = st.sampled_from(
    [*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, "-1", "-1e30", "99999999999999d", "9" * 400 + "d", "10000-01-01"]
)
BAD_DAYS = st.sampled_from([*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, *NEGATIVE, "0", "36500.5", "2e11"])
BAD_SECONDS = st.sampled_from([*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, *NEGATIVE, "0", "0.5", "86401"])
BAD_DURATION = st.sampled_from([*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, *NEGATIVE, "0", "4e9"])
BAD_SOURCE = st.sampled_from([*SURROGATES, *EMPTY, "x" * 101])
ANY_BAD_TEXT = st.sampled_from([*HUGE_INTS, *FLOATS, *SURROGATES, *EMPTY, *NEGATIVE])


def _options(option: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    # `--option=value` so a value that starts with "-" is still the option's value, not another option.
    return values.map(lambda value: [f"{option}={value}"])


def _argument(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    # After `--`, a value such as "-1" reaches the parameter type instead of click's option parser.
    return values.map(lambda value: ["--", value])


BROKEN_COMMANDS = st.one_of(
    *[
        st.tuples(st.just(["anomalies", action]), _argument(BAD_ID))
        for action in ("ack", "confirm", "false-positive", "resolve")
    ],
    st.tuples(st.just(["anomalies", "ack", "1"]), _options("--note", st.sampled_from(SURROGATES))),
    st.tuples(st.just(["anomalies", "list"]), _options("--limit", BAD_COUNT)),
    st.tuples(st.just(["model", "deploy"]), _argument(BAD_ID)),
    st.tuples(st.just(["model", "evaluate"]), _argument(BAD_ID)),
    st.tuples(st.just(["model", "evaluate"]), _options("--source", BAD_SOURCE)),
    st.tuples(st.just(["model", "list"]), _options("--source", BAD_SOURCE)),
    st.tuples(st.just(["model", "train"]), _options("--source", BAD_SOURCE)),
    st.tuples(st.just(["export", "metrics"]), _options("--since", BAD_TIME)),
    st.tuples(st.just(["export", "metrics"]), _options("--until", BAD_TIME)),
    st.tuples(st.just(["export", "anomaly_predictions"]), _options("--source", BAD_SOURCE)),
    st.tuples(st.just(["db", "prune"]), _options("--older-than", BAD_DAYS)),
    st.tuples(st.just(["record", "--duration", "0.001", "--quiet"]), _options("--interval", BAD_SECONDS)),
    st.tuples(st.just(["record", "--quiet"]), _options("--duration", BAD_DURATION)),
    st.tuples(st.just(["record", "--duration", "0.001", "--quiet"]), _options("--source", BAD_SOURCE)),
    st.tuples(st.just(["tui", "--no-record"]), _options("--source", BAD_SOURCE)),
).map(lambda parts: [*parts[0], *parts[1]])


def _dump(path: Path) -> list[tuple[object, ...]]:
    """Every row of every table (and the schema), in a stable order: equal dumps mean an unchanged database."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows: list[tuple[object, ...]] = list(conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"))
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            rows.append(("table", table))
            width = len(conn.execute(f'PRAGMA table_info("{table}")').fetchall())
            order = ", ".join(str(column) for column in range(1, width + 1))
            # Table names come from sqlite_master, not from input.
            rows.extend(conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'))  # noqa: S608
        rows.append(("user_version", conn.execute("PRAGMA user_version").fetchone()[0]))
        return rows
    finally:
        conn.close()


@pytest.fixture(scope="module")
def populated_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A database with a few metrics and an open episode (id 1), so ids and sources have something to hit."""
    path = tmp_path_factory.mktemp("broken-inputs") / "scops.db"
    conn = store.open_database(path)
    try:
        records = [
            MetricRecord(T0 + i * 5000, "host", 20.0 + i, 40.0, 55.0, 0.5, 0.5, 0.5, 10, 10, 50, 50, 1.0)
            for i in range(10)
        ]
        store.insert_metrics(conn, records, created_by=store.user_id(conn, store.SYSTEM_USERNAME), created_at=T0)
        with store.transaction(conn):
            review.open_episode(
                conn,
                EpisodeSnapshot(T0, T0 + 2000, 0.9, 3, (("cpu_usage", 9.0),)),
                source="host",
                model_name="detector@host",
                model_version="1",
                model_version_id=None,
            )
    finally:
        conn.close()
    yield path


def _invoke(db: Path, home: Path, args: list[str]) -> Result:
    env = {"SCOPS_HOME": str(home), "SCOPS_DB": str(db)}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=True)


def _assert_refused_in_one_line(result: Result, args: list[str]) -> None:
    shown = ascii(args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}: traceback {result.exception!r}"
    )
    assert result.exit_code != 0, f"{shown}: accepted (exit 0): {result.output!r}"
    lines = result.output.strip().splitlines()
    one_line = len(lines) == 1 and lines[0].startswith("scops-tui: error: ")
    assert one_line, f"{shown}: not one error line: {result.output!r}"
    assert "Traceback" not in result.output


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=BROKEN_COMMANDS)
def test_broken_arguments_are_one_error_line_and_leave_the_database_unchanged(
    populated_db: Path, tmp_path: Path, args: list[str]
) -> None:
    """The generator: each broken value of each class, on each command, is refused cleanly."""
    before = _dump(populated_db)
    result = _invoke(populated_db, tmp_path, args)
    _assert_refused_in_one_line(result, args)
    assert _dump(populated_db) == before, f"{args!a} changed the database"


@pytest.mark.parametrize(
    "args",
    [
        ["anomalies", "ack", "100000000000000000000"],
        ["anomalies", "resolve", "9223372036854775808"],
        ["model", "deploy", "100000000000000000000"],
        ["model", "evaluate", "100000000000000000000"],
        ["anomalies", "list", "--limit", "100000000000000000000"],
        ["export", "metrics", "--since", "1e300"],
        ["export", "metrics", "--until", "-1e30"],
        ["export", "metrics", "--since", "9" * 400 + "d"],
        ["db", "prune", "--older-than", "inf"],
        ["db", "prune", "--older-than", "1e300"],
        ["export", "metrics", "--source", "\ud800"],
        ["model", "list", "--source", "\udcff"],
        ["model", "evaluate", "--source", "\ud800"],
        ["anomalies", "ack", "1", "--note", "\ud800"],
        ["record", "--duration", "inf", "--quiet"],
        ["record", "--interval", "1e300", "--duration", "0.001", "--quiet"],
        ["sync", "--interval", "nan", "--watch"],
        ["sync", "--interval", "inf", "--watch"],
        ["sync", "--batch-size", "100000000000000000000"],
    ],
    ids=lambda args: ascii(" ".join(args))[:50],
)
def test_the_reported_inputs_are_refused_by_name(populated_db: Path, tmp_path: Path, args: list[str]) -> None:
    """The inputs of issue 9 section 5 that printed a traceback: each names its parameter in one line."""
    before = _dump(populated_db)
    result = _invoke(populated_db, tmp_path, args)
    _assert_refused_in_one_line(result, args)
    option = next((a for a in args if a.startswith("--")), None)
    assert (option or "ID") in result.output
    assert result.exit_code == 2
    assert _dump(populated_db) == before


def test_ids_and_times_are_accepted_exactly_up_to_their_limits(populated_db: Path, tmp_path: Path) -> None:
    """The largest id is merely unknown and one more is refused; 1970-01-01 .. 9999-12-31 is accepted, not beyond."""
    unknown = _invoke(populated_db, tmp_path, ["anomalies", "ack", str(2**63 - 1)])
    assert unknown.exit_code == 1 and "no anomaly episode with id 9223372036854775807" in unknown.output
    beyond = _invoke(populated_db, tmp_path, ["anomalies", "ack", str(2**63)])
    assert beyond.exit_code == 2 and "for ID: '9223372036854775808' is outside the id range" in beyond.output
    edges = ["--since", "1970-01-01", "--until", "9999-12-31T23:59:59.999Z"]
    exported = _invoke(populated_db, tmp_path, ["export", "metrics", *edges])
    assert exported.exit_code == 0, exported.output
    assert len(list(csv.DictReader(io.StringIO(exported.output)))) == 10
    for option, value in (("--since", "1969-12-31T23:59:59.999Z"), ("--until", "10000-01-01")):
        refused = _invoke(populated_db, tmp_path, ["export", "metrics", f"{option}={value}"])
        expected = f"scops-tui: error: invalid value for {option}: "
        assert refused.exit_code == 2 and refused.output.startswith(expected), refused.output


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.one_of(
            st.sampled_from(["1e308", "-1e308", "1.7976931348623157e308", "-1.7976931348623157e308", "5e-324"]),
            st.floats(allow_nan=False, allow_infinity=False).map(repr),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_detect_scores_any_finite_csv_in_the_unit_interval(tmp_path: Path, values: list[str]) -> None:
    """`detect` on huge, tiny and mixed finite values: exit 0, one finite score in [0, 1] per row, no warning."""
    series = tmp_path / "series.csv"
    series.write_text("timestamp,value\n" + "".join(f"{T0 // 1000 + i},{v}\n" for i, v in enumerate(values)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning fails the command instead of being hidden
        result = CliRunner().invoke(main, ["detect", str(series)])
    assert result.exit_code == 0, f"{result.output!r} {result.exception!r}"
    scores = [float(row["anomaly_score"]) for row in csv.DictReader(io.StringIO(result.output))]
    assert len(scores) == len(values)
    assert all(math.isfinite(score) and 0.0 <= score <= 1.0 for score in scores)
