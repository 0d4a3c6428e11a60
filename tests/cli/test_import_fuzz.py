"""Broken legacy files through the real `scops-tui import` commands: a clean error or a success, never a traceback.

A generator mutates the legacy JSON files (metrics, models, API keys) and a CSV export of metrics:
values swapped for hostile ones (huge integers, NaN, lone surrogates, deep nesting, times that a
daylight-saving change skips or repeats), keys repeated, records duplicated or altered, text cut or
spliced, invalid UTF-8, hostile options. Every run must either succeed or end with exactly one line
`scops-tui: error: ...`, a non-zero exit and the database as it was (or, when there was none, still none).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scops_tui.cli.main import main
from scops_tui.store import database as store
from tests.conftest import data_file
from tests.transfer.helpers import database_fingerprint

_DEEP = "__DEEP_{}__"
_HUGE = "__HUGE__"

_LONE = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
_TIMES = st.sampled_from(
    [
        "2025-08-08T03:43:42.092",
        "2025-08-08T03:43:42.0921",
        "2025-08-08T03:43:42.092Z",
        "2025-08-08T05:43:42.092+02:00",
        "2025-03-30T02:30:00",
        "2025-10-26T02:30:00",
        "2025-11-02T01:30:00",
        "1969-12-31T23:59:59",
        "9999-12-31T23:59:59.9999",
        "0001-01-01T00:00:00",
        "now",
        "",
        "1754624622",
    ]
)
_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(_HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    _LONE,
    st.booleans(),
    st.none(),
    st.sampled_from([[], {}, [1], {"a": 1}]),
    st.sampled_from([_DEEP.format(depth) for depth in (31, 33, 981, 982, 983, 3000)]),
    _TIMES,
)


def _deepen(text: str) -> str:
    for depth in (31, 33, 981, 982, 983, 3000):
        text = text.replace(f'"{_DEEP.format(depth)}"', "[" * depth + "]" * depth)
    return text.replace(f'"{_HUGE}"', "1" + "0" * 400)


@st.composite
def _mutated_json(draw: st.DrawFn, document: Any) -> bytes:
    """The document with a few structural mutations, then maybe a textual one."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        # walk to a random container
        node = document
        for _step in range(draw(st.integers(min_value=0, max_value=3))):
            children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
            children = [child for child in children if isinstance(child, dict | list)]
            if not children:
                break
            node = draw(st.sampled_from(children))
        action = draw(st.sampled_from(["set", "delete", "add", "duplicate"]))
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if action == "set":
                node[key] = draw(_VALUES)
            elif action == "delete":
                del node[key]
            elif action == "add":
                node[draw(st.one_of(st.text(max_size=12), _LONE, st.sampled_from(["load_15m", "value", "x"])))] = draw(
                    _VALUES
                )
            else:
                node[key + draw(st.sampled_from(["", "_"]))] = node[key]
        elif isinstance(node, list) and node:
            index = draw(st.integers(min_value=0, max_value=len(node) - 1))
            if action == "set":
                node[index] = draw(_VALUES)
            elif action == "delete":
                del node[index]
            else:
                copy = json.loads(json.dumps(node[index]))
                if isinstance(copy, dict) and copy and draw(st.booleans()):
                    copy[draw(st.sampled_from(sorted(copy)))] = draw(_VALUES)
                node.insert(draw(st.integers(min_value=0, max_value=len(node))), copy)
    text = _deepen(json.dumps(document, indent=draw(st.sampled_from([None, 1]))))
    data = text.encode()
    edit = draw(st.sampled_from(["none", "none", "cut", "splice", "repeat-key", "bytes"]))
    at = draw(st.integers(min_value=0, max_value=len(data)))
    if edit == "cut":
        data = data[:at]
    elif edit == "splice":
        data = (
            data[:at] + draw(st.sampled_from([b",", b"]", b"{", b'"', b"\\ud800", b"NaN", b"1e999", b" "])) + data[at:]
        )
    elif edit == "repeat-key":
        position = data.find(b'{"', at)
        if position >= 0:
            end = data.find(b",", position)
            if end > 0:
                data = data[: end + 1] + data[position + 1 : end + 1] + data[end + 1 :]
    elif edit == "bytes":
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\x00", b"\xc3"])) + data[at:]
    return data


@st.composite
def _mutated_csv(draw: st.DrawFn, records: list[dict[str, Any]]) -> bytes:
    columns = ["timestamp", *draw(st.sampled_from([["cpu_usage", "is_anomaly"], ["cpu_usage", "source"], ["value"]]))]
    lines = [",".join(columns)]
    for record in records[:12]:
        lines.append(",".join(str(record.get(column, record["cpu_usage"])) for column in columns))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(["cell", "duplicate", "drop-field", "quote", "blank"]))
        fields = lines[index].split(",")
        if action == "cell":
            column = draw(st.integers(min_value=0, max_value=len(fields) - 1))
            value = draw(
                st.one_of(_TIMES, st.text(max_size=8), _LONE, st.sampled_from(["nan", "1e999", "-1", "1" * 400]))
            )
            fields[column] = value
            lines[index] = ",".join(fields)
        elif action == "duplicate":
            copy = lines[index]
            if draw(st.booleans()) and len(fields) > 1:
                copy = ",".join([*fields[:-1], "1"])
            lines.insert(index + 1, copy)
        elif action == "drop-field":
            lines[index] = ",".join(fields[:-1])
        elif action == "quote":
            lines[index] = lines[index].replace(",", ',"', 1)
        else:
            lines.insert(index, "")
    return "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"


def _legacy(name: str) -> Any:
    return json.loads(data_file("legacy", name).read_text())


_OPTIONS = {
    "--timezone": st.sampled_from([None, "UTC", "Europe/Berlin", "America/New_York", "Nowhere/City", "\ud800"]),
    "--source": st.one_of(st.sampled_from([None, None, "fuzz", "", "a" * 101]), _LONE),
    "--name": st.one_of(st.sampled_from([None, None, "fuzzed model", ""]), _LONE),
    "--column": st.sampled_from([None, "cpu_usage", "memory_usage", "nope"]),
}


@st.composite
def _case(draw: st.DrawFn) -> tuple[str, str, bytes, list[str]]:
    """(command, file suffix, file bytes, extra options)."""
    kind = draw(st.sampled_from(["metrics-json", "metrics-csv", "model", "api-keys"]))
    if kind == "metrics-json":
        command, suffix, data = "metrics", ".json", draw(_mutated_json(_legacy("real_training_data.json")[:20]))
        names = ["--timezone", "--source", "--column"]
    elif kind == "metrics-csv":
        command, suffix, data = "metrics", ".csv", draw(_mutated_csv(_legacy("real_training_data.json")))
        names = ["--timezone", "--source", "--column"]
    elif kind == "model":
        name = draw(st.sampled_from(["real_data_model.json", "production_model.json"]))
        command, suffix, data = "model", ".json", draw(_mutated_json(_legacy(name)))
        names = ["--timezone", "--name"]
    else:
        command, suffix, data = "api-keys", ".json", draw(_mutated_json(_legacy("api_keys_db.json")))
        names = ["--timezone"]
    options: list[str] = []
    for option in names:
        value = draw(_OPTIONS[option])
        if value is not None:
            options += [option, value]
    return command, suffix, data, options


def _fingerprint(path: Path) -> tuple[dict[str, int], str]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return database_fingerprint(conn)
    finally:
        conn.close()


def test_broken_imports_end_in_one_error_line_or_succeed(tmp_path: Path) -> None:
    base = tmp_path / "base.db"
    conn = store.open_database(base)
    conn.close()
    seeded = CliRunner().invoke(
        main, ["--db", str(base), "import", "metrics", str(data_file("legacy", "real_training_data.json"))]
    )
    assert seeded.exit_code == 0, seeded.output
    before = _fingerprint(base)
    counter = iter(range(10**9))

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(case=_case(), fresh=st.booleans())
    def check(case: tuple[str, str, bytes, list[str]], fresh: bool) -> None:
        command, suffix, data, options = case
        work = tmp_path / f"run{next(counter)}"
        work.mkdir()
        source = work / f"input{suffix}"
        source.write_bytes(data)
        db = work / "db" / "scops.db"
        if not fresh:
            db.parent.mkdir()
            shutil.copyfile(base, db)
        result = CliRunner().invoke(main, ["--db", str(db), "import", command, str(source), *options])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{type(result.exception).__name__}: {result.exception}"
        )
        if result.exit_code != 0:
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("scops-tui: error: "), result.stderr
            assert "Traceback" not in result.stderr and result.stdout == ""
            if fresh:
                assert not db.parent.exists(), "a failed import left a database behind"
            else:
                assert _fingerprint(db) == before, "a failed import changed the database"
        shutil.rmtree(work)

    check()
