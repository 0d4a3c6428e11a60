"""How each of the eight tables travels to PostgreSQL: local columns, staging types, server conversions and SQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scops_tui.store import database as store


@dataclass(frozen=True)
class Column:
    """One column on its way: read locally as `local`, staged as `stage_type`, stored as `expr` in `server`."""

    local: str
    stage_type: str
    server: str
    expr: str

    @property
    def stage(self) -> str:
        return self.server


def _plain(name: str, stage_type: str) -> Column:
    return Column(name, stage_type, name, f"s.{name}")


def _text(name: str) -> Column:
    return _plain(name, "text")


def _int(name: str) -> Column:
    return _plain(name, "int8")


def _real(name: str) -> Column:
    return _plain(name, "float8")


def _uuid(name: str) -> Column:
    return _plain(name, "uuid")


def _time(name: str) -> Column:
    # Epoch ms -> timestamptz; float8 keeps every millisecond exact at today's magnitudes.
    return Column(name, "int8", name, f"to_timestamp(s.{name}::float8 / 1000)")


def _bool(name: str) -> Column:
    return Column(name, "int8", name, f"(s.{name} <> 0)")


def _json(name: str) -> Column:
    return Column(name, "text", name, f"s.{name}::jsonb")


def _scaled(name: str) -> Column:
    # Exact: the local scaled integer times 10^-s is the original DECIMAL(p, s) value.
    factor = {100: "0.01", 1000: "0.001", 10_000: "0.0001"}[store.METRIC_SCALES[name]]
    return Column(name, "int8", name, f"(s.{name} * {factor})")


_ID = Column("id", "int8", "local_id", "s.local_id")


@dataclass(frozen=True)
class TableSpec:
    """A synced table: its columns (id first), whether rows change after insert, and its conflict key."""

    name: str
    columns: tuple[Column, ...]
    mutable: bool
    key: tuple[str, ...] = ("source_db", "local_id")
    stream_key: str = "id"
    """The local integer key the streams follow (always the first column read)."""

    @property
    def stage_table(self) -> str:
        return f"scops_stage_{self.name}"

    @property
    def updated_at_index(self) -> int:
        return [c.local for c in self.columns].index("updated_at")

    def select_sql(self) -> str:
        return ", ".join(c.local if c.local != "timestamp" else '"timestamp"' for c in self.columns)

    def insert_stream_sql(self) -> str:
        """New rows: ids after the checkpoint, up to the snapshot's newest."""
        return (
            f"SELECT {self.select_sql()} FROM {self.name} "  # noqa: S608
            f"WHERE {self.stream_key} > ? AND {self.stream_key} <= ? ORDER BY {self.stream_key} LIMIT ?"
        )

    def change_stream_sql(self) -> str:
        """Rows sent before whose updated_at moved past the change checkpoint, oldest change first."""
        return (
            f"SELECT {self.select_sql()} FROM {self.name} "  # noqa: S608
            f"WHERE {self.stream_key} <= ? AND (updated_at, {self.stream_key}) > (?, ?) "
            f"ORDER BY updated_at, {self.stream_key} LIMIT ?"
        )

    def create_stage_sql(self) -> str:
        columns = ", ".join(f"{c.stage} {c.stage_type}" for c in self.columns)
        return f"CREATE TEMP TABLE IF NOT EXISTS {self.stage_table} ({columns}) ON COMMIT DELETE ROWS"

    def copy_sql(self) -> str:
        columns = ", ".join(c.stage for c in self.columns)
        return f"COPY {self.stage_table} ({columns}) FROM STDIN (FORMAT BINARY)"

    def stage_types(self) -> list[str]:
        return [c.stage_type for c in self.columns]

    def upsert_sql(self) -> str:
        """Stage -> table; returns (inserted, updated). Changes apply only when newer than what the server has."""
        if self.name == "metrics":
            return METRICS_SAFE
        stored = [c for c in self.columns if c.expr]
        columns = ["source_db", *(c.server for c in stored)]
        exprs = ["%(db)s", *(c.expr for c in stored)]
        insert = (
            f"INSERT INTO {self.name} AS t ({', '.join(_quote(c) for c in columns)}) "  # noqa: S608 - built from this module's constants
            f"SELECT {', '.join(exprs)} FROM {self.stage_table} AS s "
            f"ON CONFLICT ({', '.join(self.key)}) "
        )
        if self.mutable:
            updates = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in columns if c not in self.key)
            guard = "excluded.updated_at > t.updated_at"
            insert += f"DO UPDATE SET {updates} WHERE {guard} "
        else:
            insert += "DO NOTHING "
        return (
            f"WITH up AS ({insert}RETURNING (xmax = 0) AS inserted) "  # noqa: S608 - built from this module's constants
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
        )

    def conflict_sql(self) -> str:
        """Local ids of staged rows that the server does not hold as they are (skipped for another row's sake).

        Run after the upsert, in its transaction: rows the server already had identically (a batch sent
        twice) are not returned; a row with the same key and other content (or newer there) is.
        """
        stored = [c for c in self.columns if c.expr]
        if self.name == "users":
            match, first = "t.source_db = %(db)s AND t.id = s.id", "s.local_rowid"
        else:
            match, first = "t.source_db = %(db)s AND t.local_id = s.local_id", "s.local_id"
            if self.name == "metrics":
                match += f' AND t."timestamp" = {_time("timestamp").expr}'
        server = ", ".join(f"t.{_quote(c.server)}" for c in stored)
        local = ", ".join(c.expr for c in stored)
        return (
            f"SELECT {first} FROM {self.stage_table} AS s WHERE NOT EXISTS (SELECT 1 FROM {self.name} AS t "  # noqa: S608 - built from this module's constants
            f"WHERE {match} AND ROW({server}) IS NOT DISTINCT FROM ROW({local})) ORDER BY 1"
        )


def _quote(column: str) -> str:
    return '"timestamp"' if column == "timestamp" else column


_METRIC_COLUMNS = (
    _ID,
    _time("timestamp"),
    _text("source"),
    *(_scaled(name) for name in ("cpu_usage", "memory_usage", "disk_usage", "load_1m", "load_5m", "load_15m")),
    *(_int(name) for name in ("disk_io_read", "disk_io_write", "network_rx", "network_tx")),
    _scaled("response_time"),
    _scaled("error_rate"),
    _bool("is_anomaly"),
    _scaled("anomaly_score"),
    _time("created_at"),
    _uuid("created_by"),
)

_LATEST_COLUMNS = (
    "source",
    "timestamp",
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_1m",
    "load_5m",
    "load_15m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
    "is_anomaly",
    "anomaly_score",
)
"""The columns of `metrics_latest` (server migration 6) besides source_db and updated_at."""
_STAGED = {c.server: c.expr for c in _METRIC_COLUMNS}
"""Each metrics column as an expression over the staged row `s` (server units)."""
_HOURLY_EXTRA_SOURCES = (
    ("sum_disk", "sum", "disk_usage"),
    ("max_disk", "max", "disk_usage"),
    ("sum_load_1m", "sum", "load_1m"),
    ("max_load_1m", "max", "load_1m"),
    ("sum_io_read", "sum", "disk_io_read"),
    ("max_io_read", "max", "disk_io_read"),
    ("sum_io_write", "sum", "disk_io_write"),
    ("max_io_write", "max", "disk_io_write"),
    ("sum_rx", "sum", "network_rx"),
    ("max_rx", "max", "network_rx"),
    ("sum_tx", "sum", "network_tx"),
    ("max_tx", "max", "network_tx"),
    ("max_score", "max", "anomaly_score"),
)
"""The rollup's columns of server migration 6: every chart metric summed and at its peak, the hour's top score."""
_HOURLY_EXTRA = tuple(name for name, _f, _c in _HOURLY_EXTRA_SOURCES)
_HOURLY_EXTRA_UPDATE = ", ".join(
    f"{name} = h.{name} + excluded.{name}" if func == "sum" else f"{name} = greatest(h.{name}, excluded.{name})"
    for name, func, _c in _HOURLY_EXTRA_SOURCES
)


def _hourly_extra_values(expr: Callable[[str], str]) -> str:
    """The aggregates that fill `_HOURLY_EXTRA`, each over `expr(metric column)`."""
    return ", ".join(f"{func}({expr(column)})" for _n, func, column in _HOURLY_EXTRA_SOURCES)


def _latest_sql(rows: str, exprs: Mapping[str, str], local_id: str, where: str = "") -> str:
    """Upsert each source's newest row of `rows` into metrics_latest; a row there only moves forward in time."""
    columns = ", ".join(_quote(c) for c in _LATEST_COLUMNS)
    values = ", ".join(exprs[c] for c in _LATEST_COLUMNS)
    updates = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in _LATEST_COLUMNS if c != "source")
    return (
        f"INSERT INTO metrics_latest AS l (source_db, {columns}) "  # noqa: S608 - built from this module's constants
        f"SELECT DISTINCT ON ({exprs['source']}) %(db)s, {values} FROM {rows} "
        + (f"WHERE {where} " if where else "")
        + f"ORDER BY {exprs['source']}, {exprs['timestamp']} DESC, {local_id} DESC "
        f"ON CONFLICT (source_db, source) DO UPDATE SET {updates}, updated_at = now() "
        'WHERE excluded."timestamp" >= l."timestamp"'
    )


# Inserts the staged metrics and folds exactly the rows it inserted into the hourly rollup, in one statement
# (so in the batch's transaction): a re-sent batch inserts nothing and adds nothing. The fast form skips
# the per-row conflict check: rows at or below the server's checkpoint (committed with the rows it
# covers) are already there, and no other row of this source_db can be (one sync per database at a time).
# Should one be there anyway (a checkpoint reset by hand), the unique violation sends the batch again in
# the safe form, with ON CONFLICT DO NOTHING.
_METRICS_TEMPLATE = (
    "WITH ins AS ("  # noqa: S608 - built from this module's constants
    f"INSERT INTO metrics (source_db, {', '.join(_quote(c.server) for c in _METRIC_COLUMNS)}) "
    f"SELECT %(db)s, {', '.join(c.expr for c in _METRIC_COLUMNS)} FROM scops_stage_metrics AS s "
    "{filter}"
    f"RETURNING local_id, {', '.join(_quote(c) for c in _LATEST_COLUMNS)}, response_time"
    f"), latest AS ({_latest_sql('ins', {c: _quote(c) for c in _LATEST_COLUMNS}, 'local_id')}"
    "), roll AS ("
    "INSERT INTO metrics_hourly AS h (source_db, source, hour, total_metrics, sum_cpu, max_cpu, sum_memory, "
    "max_memory, sum_response_time, anomaly_count, anomaly_score_sum, anomaly_score_rows, score_sum, score_rows, "
    f"{', '.join(_HOURLY_EXTRA)}) "
    "SELECT %(db)s, source, date_trunc('hour', \"timestamp\", 'UTC'), count(*), sum(cpu_usage), max(cpu_usage), "
    "sum(memory_usage), max(memory_usage), sum(response_time), count(*) FILTER (WHERE is_anomaly), "
    "coalesce(sum(anomaly_score) FILTER (WHERE is_anomaly), 0), count(anomaly_score) FILTER (WHERE is_anomaly), "
    f"coalesce(sum(anomaly_score), 0), count(anomaly_score), {_hourly_extra_values(lambda c: _quote(c))} "
    "FROM ins GROUP BY source, date_trunc('hour', \"timestamp\", 'UTC') "
    "ON CONFLICT (source_db, source, hour) DO UPDATE SET "
    "total_metrics = h.total_metrics + excluded.total_metrics, sum_cpu = h.sum_cpu + excluded.sum_cpu, "
    "max_cpu = greatest(h.max_cpu, excluded.max_cpu), sum_memory = h.sum_memory + excluded.sum_memory, "
    "max_memory = greatest(h.max_memory, excluded.max_memory), "
    "sum_response_time = h.sum_response_time + excluded.sum_response_time, "
    "anomaly_count = h.anomaly_count + excluded.anomaly_count, "
    "anomaly_score_sum = h.anomaly_score_sum + excluded.anomaly_score_sum, "
    "anomaly_score_rows = h.anomaly_score_rows + excluded.anomaly_score_rows, "
    "score_sum = h.score_sum + excluded.score_sum, score_rows = h.score_rows + excluded.score_rows, "
    + _HOURLY_EXTRA_UPDATE
    + ") SELECT count(*), 0 FROM ins"
)
_NEW_ROWS = (
    "s.local_id > coalesce((SELECT c.last_id FROM sync_checkpoints AS c "
    "WHERE c.source_db = %(db)s AND c.table_name = 'metrics'), 0)"
)
_HOUR = "date_trunc('hour', to_timestamp(s.\"timestamp\"::float8 / 1000), 'UTC')"
# The fast form's rollup reads the same staged rows the insert takes (summing the scaled integers, which is
# cheaper than summing numerics); its row count is the statement's.
METRICS_FAST = (
    "WITH roll AS ("  # noqa: S608 - built from this module's constants
    "INSERT INTO metrics_hourly AS h (source_db, source, hour, total_metrics, sum_cpu, max_cpu, sum_memory, "
    "max_memory, sum_response_time, anomaly_count, anomaly_score_sum, anomaly_score_rows, score_sum, score_rows, "
    f"{', '.join(_HOURLY_EXTRA)}) "
    f"SELECT %(db)s, s.source, {_HOUR}, count(*), sum(s.cpu_usage) * 0.01, max(s.cpu_usage) * 0.01, "
    "sum(s.memory_usage) * 0.01, max(s.memory_usage) * 0.01, sum(s.response_time) * 0.001, "
    "count(*) FILTER (WHERE s.is_anomaly <> 0), "
    "coalesce(sum(s.anomaly_score) FILTER (WHERE s.is_anomaly <> 0), 0) * 0.0001, "
    "count(s.anomaly_score) FILTER (WHERE s.is_anomaly <> 0), "
    "coalesce(sum(s.anomaly_score), 0) * 0.0001, count(s.anomaly_score), "
    f"{_hourly_extra_values(lambda c: _STAGED[c])} "
    f"FROM scops_stage_metrics AS s WHERE {_NEW_ROWS} GROUP BY s.source, {_HOUR} "
    + _METRICS_TEMPLATE[
        _METRICS_TEMPLATE.index("ON CONFLICT (source_db, source, hour)") : _METRICS_TEMPLATE.index(") SELECT count(*)")
    ]
    + f"), latest AS ({_latest_sql('scops_stage_metrics AS s', _STAGED, 's.local_id', _NEW_ROWS)}) "  # noqa: S608 - built from this module's constants
    f"INSERT INTO metrics (source_db, {', '.join(_quote(c.server) for c in _METRIC_COLUMNS)}) "
    f"SELECT %(db)s, {', '.join(c.expr for c in _METRIC_COLUMNS)} FROM scops_stage_metrics AS s "
    f"WHERE {_NEW_ROWS}"
)
METRICS_SAFE = _METRICS_TEMPLATE.replace("{filter}", "ON CONFLICT DO NOTHING ")

SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "users",
            (
                # The local rowid drives the streams (users are keyed by UUID); it is not stored on the server.
                Column("rowid", "int8", "local_rowid", ""),
                Column("id", "uuid", "id", "s.id"),
                _text("username"),
                _text("email"),
                _text("role"),
                _bool("is_active"),
                _time("last_login_at"),
                _time("created_at"),
                _time("updated_at"),
            ),
            mutable=True,
            key=("source_db", "id"),
            stream_key="rowid",
        ),
        TableSpec("metrics", _METRIC_COLUMNS, mutable=False),
        TableSpec(
            "ml_models",
            (
                _ID,
                _text("model_name"),
                _text("model_type"),
                _text("description"),
                _bool("is_active"),
                _text("source"),
                _time("created_at"),
                _time("updated_at"),
                _uuid("created_by"),
            ),
            mutable=True,
        ),
        TableSpec(
            "ml_model_versions",
            (
                _ID,
                _int("model_id"),
                _text("version"),
                _time("training_timestamp"),
                _time("training_data_start"),
                _time("training_data_end"),
                _int("training_data_size"),
                _json("model_config"),
                _json("thresholds"),
                _real("accuracy"),
                _real("precision_score"),
                _real("recall_score"),
                _real("f1_score"),
                _text("model_path"),
                _text("scaler_path"),
                _text("status"),
                _bool("is_deployed"),
                _text("deployment_notes"),
                _time("created_at"),
                _time("updated_at"),
                _uuid("created_by"),
            ),
            mutable=True,
        ),
        TableSpec(
            "api_keys",
            (
                _ID,
                _text("key_name"),
                _text("key_hash"),
                Column(
                    "permissions",
                    "text",
                    "permissions",
                    "ARRAY(SELECT jsonb_array_elements_text(s.permissions::jsonb))",
                ),
                _uuid("user_id"),
                _text("description"),
                _time("expires_at"),
                _time("last_used_at"),
                _int("usage_count"),
                _int("rate_limit_per_hour"),
                _bool("is_active"),
                _time("created_at"),
                _time("updated_at"),
                _uuid("created_by"),
            ),
            mutable=True,
        ),
        TableSpec(
            "api_key_usage",
            (
                _ID,
                _int("api_key_id"),
                _text("endpoint"),
                _text("method"),
                _int("status_code"),
                _int("response_time_ms"),
                _int("request_size_bytes"),
                _int("response_size_bytes"),
                Column("ip_address", "text", "ip_address", "s.ip_address::inet"),
                _text("user_agent"),
                _time("created_at"),
            ),
            mutable=False,
        ),
        TableSpec(
            "model_predictions",
            (
                _ID,
                _int("model_version_id"),
                _int("metrics_id"),
                _bool("predicted_anomaly"),
                _real("confidence_score"),
                _real("prediction_time_ms"),
                _json("model_features"),
                _bool("actual_anomaly"),
                _time("feedback_provided_at"),
                _uuid("feedback_provided_by"),
                _time("created_at"),
                _time("updated_at"),
            ),
            mutable=True,
        ),
        TableSpec(
            "anomaly_predictions",
            (
                _ID,
                _time("timestamp"),
                _text("source"),
                _bool("anomaly_detected"),
                _text("severity"),
                _real("confidence_score"),
                _text("model_name"),
                _text("model_version"),
                _bool("alert_sent"),
                _bool("acknowledged"),
                _uuid("acknowledged_by"),
                _time("acknowledged_at"),
                _text("resolution_notes"),
                _time("created_at"),
                _time("updated_at"),
                _time("end_timestamp"),
                _real("peak_score"),
                _int("sample_count"),
                _json("contributing_metrics"),
                _json("top_processes"),
                _text("verdict"),
                _uuid("verdict_by"),
                _time("verdict_at"),
                _uuid("resolved_by"),
                _time("resolved_at"),
                _int("model_version_id"),
            ),
            mutable=True,
        ),
    )
}
assert tuple(SPECS) == store.TABLES
