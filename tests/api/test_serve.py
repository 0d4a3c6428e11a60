"""`scops-tui serve` end to end: a real server process on a free port, real HTTP, a real SQLite file."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scops_tui.api import keys, users
from scops_tui.api.server import ServeOptions, exposure_warning
from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms
from tests.api.conftest import ROWS, SOURCE, Reply, Server, make_database, query, start_server

RECORD = {
    "cpu_usage": 12.0,
    "memory_usage": 40.0,
    "disk_usage": 55.5,
    "load_1m": 0.5,
    "disk_io_read": 1000,
    "disk_io_write": 2000,
    "network_rx": 3000,
    "network_tx": 4000,
}


def assert_error(reply: Reply, status: int, fragment: str = "") -> None:
    assert reply.status == status, (reply.status, reply.body)
    body = reply.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert fragment in body["error"], body
    assert b"Traceback" not in reply.body


def test_health_is_open_and_says_how_fresh_the_data_is(served: Server) -> None:
    reply = served.get("/health")
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"status", "schema_version", "recorder_running", "newest_sample_age_s", "database_id"}
    assert body["status"] == "degraded"  # no recorder runs in this test
    assert body["recorder_running"] is False
    assert 0 <= body["newest_sample_age_s"] < 3600
    conn = store.open_reader(served.db)
    assert body["database_id"] == str(store.database_id(conn))
    assert body["schema_version"] == conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    conn.close()


def test_protected_endpoints_refuse_a_missing_unknown_or_malformed_key(served: Server) -> None:
    for method, path in (("GET", "/metrics"), ("GET", "/ml/metrics"), ("POST", "/ml/predict")):
        body = json.dumps(RECORD).encode() if method == "POST" else None
        missing = served.request(method, path, body=body)
        assert_error(missing, 401, "API key is required")
        assert missing.headers.get("www-authenticate") == "Bearer"
        assert_error(served.request(method, path, key="scops_not-a-key", body=body), 401, "unknown API key")
        assert_error(
            served.request(method, path, body=body, headers={"Authorization": "Basic dXNlcjpwdw=="}), 401, "Bearer"
        )
    assert query(served.db, "SELECT count(*) FROM api_key_usage") == [(0,)]


def test_permissions_admin_includes_write_includes_read(served: Server) -> None:
    read, write, admin = (served.make_key(p) for p in ("read", "write", "admin"))
    for header in ("bearer", "x-api-key"):
        assert served.get("/metrics", read, header).status == 200
        assert served.get("/ml/metrics", read, header).status == 200
    assert_error(served.post_json("/ml/predict", RECORD, read), 403, "write permission")
    assert served.post_json("/ml/predict", RECORD, write).status == 200
    assert served.post_json("/ml/predict", RECORD, admin).status == 200
    assert served.get("/metrics", admin).status == 200


def test_revoked_expired_and_disabled_users_keys_stop_working(served: Server) -> None:
    users.add_user(conn := store.open_database(served.db), "eve", role="operator")
    revoked, expired, eves = served.make_key(), served.make_key(), served.make_key("write", user="eve")
    for key in (revoked, expired, eves):
        assert served.get("/metrics", key).status == 200
    keys.revoke_key(conn, 1)
    conn.execute("UPDATE api_keys SET expires_at = ? WHERE id = 2", (now_ms() - 1,))
    users.set_active(conn, "eve", False)
    conn.close()
    assert_error(served.get("/metrics", revoked), 401, "revoked")
    assert_error(served.get("/metrics", expired), 401, "expired")
    assert_error(served.post_json("/ml/predict", RECORD, eves), 401, "user is disabled")


def test_rate_limit_per_key_per_hour(served: Server) -> None:
    limited, other = served.make_key(rate_limit=3), served.make_key(rate_limit=3)
    assert [served.get("/metrics", limited).status for _ in range(3)] == [200, 200, 200]
    refused = served.get("/metrics", limited)
    assert_error(refused, 429, "rate limit of 3 requests per hour")
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert served.get("/metrics", other).status == 200
    assert served.get("/health").status == 200  # open endpoints are not limited


def test_predict_scores_with_the_deployed_model_and_stores_the_result(served: Server) -> None:
    key = served.make_key("write")
    reply = served.post_json("/ml/predict", RECORD, key)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert set(body) == {"anomaly_score", "is_anomaly", "severity", "contributions", "model_version"}
    assert 0.0 <= body["anomaly_score"] <= 1.0
    assert body["severity"] in ("low", "medium", "high", "critical")
    assert body["model_version"] == "1"
    assert set(body["contributions"]) >= {"cpu_usage", "network_tx"}
    # A record far outside the source's history scores high; posted records never enter the history.
    spike = {**RECORD, "cpu_usage": 99.0, "disk_io_write": 900_000_000, "network_rx": 800_000_000}
    first, second = (served.post_json("/ml/predict", spike, key).json() for _ in range(2))
    assert first["anomaly_score"] > body["anomaly_score"] and first["is_anomaly"] is True
    assert first == second
    timed = served.post_json("/ml/predict", {**RECORD, "timestamp": "2026-01-01T00:00:00Z", "source": SOURCE}, key)
    assert timed.status == 200
    assert served.stop() == 0
    rows = query(
        served.db,
        "SELECT model_version_id, predicted_anomaly, confidence_score, model_features "
        "FROM model_predictions WHERE metrics_id IS NULL ORDER BY id",
    )
    assert len(rows) == 4
    assert rows[1][1] == 1 and rows[1][2] == first["anomaly_score"]
    assert json.loads(rows[0][3])["cpu_usage"] == 12.0


def test_predict_refuses_bad_bodies_with_the_right_code(served: Server) -> None:
    key = served.make_key("write")
    missing = dict(RECORD)
    del missing["network_rx"]
    assert_error(served.post_json("/ml/predict", missing, key), 422, "'network_rx'")
    assert_error(served.post_json("/ml/predict", {**RECORD, "cpu_usage": 101}, key), 422, "'cpu_usage'")
    assert_error(served.post_json("/ml/predict", {**RECORD, "disk_io_read": -1}, key), 422, "'disk_io_read'")
    assert_error(served.post_json("/ml/predict", {**RECORD, "load_1m": "high"}, key), 422, "'load_1m'")
    assert_error(served.post_json("/ml/predict", {**RECORD, "timestamp": "yesterday"}, key), 422, "'timestamp'")
    assert_error(served.post_json("/ml/predict", {**RECORD, "colour": 1}, key), 422, "'colour'")
    assert_error(served.post_json("/ml/predict", [RECORD], key), 422, "JSON object")
    bad_json = served.request("POST", "/ml/predict", key=key, body=b'{"cpu_usage": 1,')
    assert_error(bad_json, 400, "not valid JSON")
    assert_error(served.request("POST", "/ml/predict", key=key, body=b"\xff\xfe"), 400, "not valid JSON")
    huge = json.dumps({**RECORD, "pad": "x" * 70_000}).encode()
    assert_error(served.request("POST", "/ml/predict", key=key, body=huge), 413, "larger than 65536")
    assert_error(served.post_json("/ml/predict", {**RECORD, "source": "elsewhere"}, key), 404, "no deployed model")
    assert_error(served.get("/ml/predict", key), 405, "not allowed")
    assert_error(served.get("/no/such/endpoint", key), 404, "no endpoint")


def test_metrics_exposition_names_and_values(served: Server) -> None:
    key = served.make_key()
    served.get("/health")
    reply = served.get("/metrics", key)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = reply.body.decode()
    lines = text.splitlines()
    last_cpu = 10.0 + ((ROWS - 1) % 7)
    assert f'scops_cpu_usage_ratio{{source="{SOURCE}"}} {last_cpu / 100}' in lines
    assert f'scops_disk_usage_ratio{{source="{SOURCE}"}} 0.555' in lines
    assert f'scops_network_transmit_bytes_per_second{{source="{SOURCE}"}} 4000.0' in lines
    assert f'scops_load15{{source="{SOURCE}"}} 0.3' in lines
    assert f'scops_anomaly_episodes_open{{severity="high",source="{SOURCE}"}} 1.0' in lines
    assert f'scops_anomaly_episodes_opened_total{{severity="high",source="{SOURCE}"}} 1.0' in lines
    assert f'scops_anomaly_episodes_open{{severity="low",source="{SOURCE}"}} 0.0' in lines
    assert "scops_recorder_running 0.0" in lines
    assert 'scops_api_requests_total{code="200",endpoint="/health",method="GET"} 1.0' in lines
    assert any(line.startswith("scops_api_request_duration_seconds_bucket{") for line in lines)
    assert any(line.startswith(f'scops_newest_sample_age_seconds{{source="{SOURCE}"}}') for line in lines)
    for line in lines:
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line
        elif line and not line.startswith("#"):
            assert line.startswith("scops_"), line
    assert "_created" not in text


def test_metrics_pass_promtool(served: Server, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is absent (Debian's prometheus package provides it; .ci/run installs it)")
    key = served.make_key()
    served.post_json("/ml/predict", RECORD, key)
    body = served.get("/metrics", key).body
    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b"", checked


def test_ml_metrics_summary_latest_rows_episodes_and_model(served: Server) -> None:
    key = served.make_key()
    body = served.get("/ml/metrics?limit=5", key).json()
    assert body["source"] == SOURCE and body["window"]["samples"] == ROWS
    cpu = body["summary"]["cpu_usage"]
    assert cpu["min"] == 10.0 and cpu["max"] == 16.0 and cpu["min"] <= cpu["mean"] <= cpu["p95"] <= cpu["max"]
    assert len(body["latest"]) == 5 and body["latest"][0]["timestamp"] > body["latest"][1]["timestamp"]
    (episode,) = body["episodes"]
    assert episode["severity"] == "high" and episode["status"] == "open"
    assert body["model"]["version"] == "1" and body["model"]["is_deployed"] is True
    assert_error(served.get("/ml/metrics?limit=0", key), 422, "'limit'")
    assert_error(served.get("/ml/metrics?colour=red", key), 422, "'colour'")
    other = served.get("/ml/metrics?source=nowhere", key).json()
    assert other["window"]["samples"] == 0 and other["model"] is None


def test_openapi_describes_every_endpoint(served: Server) -> None:
    spec = served.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/health", "/metrics", "/ml/metrics", "/ml/predict"}
    assert "422" in spec["paths"]["/ml/predict"]["post"]["responses"]


def test_every_keyed_request_is_one_usage_row_and_sigterm_flushes_them(served: Server) -> None:
    read, write = served.make_key(), served.make_key("write")
    statuses = [
        served.get("/metrics", read).status,
        served.get("/ml/metrics", read).status,
        served.get("/health", read).status,
        served.post_json("/ml/predict", RECORD, read).status,
        served.post_json("/ml/predict", RECORD, write).status,
        served.request("POST", "/ml/predict", key=write, body=b"{").status,
    ]
    statuses += [served.get("/metrics", read, "x-api-key").status for _ in range(30)]
    served.get("/metrics")  # no key: no row
    served.get("/metrics", "scops_unknown")  # unknown key: no key row to log against
    assert statuses[:6] == [200, 200, 200, 403, 200, 400]
    assert served.stop(signal.SIGTERM) == 0
    rows = query(
        served.db,
        "SELECT api_key_id, endpoint, method, status_code, response_time_ms, request_size_bytes, "
        "response_size_bytes, ip_address, user_agent FROM api_key_usage ORDER BY id",
    )
    assert len(rows) == len(statuses)
    assert sorted(r[3] for r in rows) == sorted(statuses)
    assert all(r[7] == "127.0.0.1" and r[8].startswith("Python-urllib") for r in rows)
    assert all(r[4] >= 0 and r[6] > 0 for r in rows)
    assert ("/ml/predict", "POST", 1) in {(r[1], r[2], r[5]) for r in rows}
    counts = dict(query(served.db, "SELECT id, usage_count FROM api_keys"))
    assert counts == {1: 34, 2: 2}
    assert query(served.db, "SELECT count(*) FROM api_keys WHERE last_used_at IS NULL") == [(0,)]
    assert "usage rows written" in served.stderr.read_text()


def test_sigint_also_stops_cleanly(served: Server) -> None:
    key = served.make_key()
    served.get("/metrics", key)
    assert served.stop(signal.SIGINT) == 0
    assert query(served.db, "SELECT count(*) FROM api_key_usage") == [(1,)]


def test_the_raw_key_is_never_in_the_database_or_the_output(served: Server) -> None:
    read, write = served.make_key(), served.make_key("write")
    served.get("/metrics", read)
    served.post_json("/ml/predict", RECORD, write)
    served.post_json("/ml/predict", {"cpu_usage": "x"}, write)
    served.get("/metrics", "scops_wrong" + read[11:])
    assert served.stop() == 0
    stored = query(served.db, "SELECT * FROM api_keys") + query(served.db, "SELECT * FROM api_key_usage")
    text = repr(stored)
    # The server and every connection of this test are closed now, so reading the files cannot break a lock.
    raw = b"".join(p.read_bytes() for p in served.db.parent.glob(served.db.name + "*") if p.is_file())
    output = served.output()
    assert "Traceback" not in output
    for secret in (read, write):
        assert secret not in text and secret.encode() not in raw and secret not in output
        assert secret[6:30].encode() not in raw and secret[6:30] not in output


def test_serve_refuses_a_missing_database_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scops_tui", "--db", str(tmp_path / "none.db"), "serve", "--port", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"scops-tui: error: no database at {tmp_path / 'none.db'} (create one with `scops-tui db init`)"
    ]
    assert not (tmp_path / "none.db").exists()


def test_a_port_in_use_is_one_error_line(served: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scops_tui", "--db", str(served.db), "serve", "--port", str(served.port)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"scops-tui: error: could not listen on 127.0.0.1:{served.port}" in result.stderr


def test_clear_text_beyond_loopback_is_warned_about() -> None:
    assert exposure_warning(ServeOptions(host="127.0.0.1")) is None
    assert exposure_warning(ServeOptions(host="::1")) is None
    assert exposure_warning(ServeOptions(host="localhost")) is None
    warning = exposure_warning(ServeOptions(host="0.0.0.0"))
    assert warning is not None and "without TLS" in warning and "\n" not in warning
    assert exposure_warning(ServeOptions(host="0.0.0.0", certfile=Path("c"), keyfile=Path("k"))) is None


def test_tls(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is absent: no certificate can be made for the TLS test")
    cert, private = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(private),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        capture_output=True,
        check=True,
    )
    db = tmp_path / "tls.db"
    make_database(db)
    server = start_server(db, tmp_path, "--certfile", str(cert), "--keyfile", str(private))
    try:
        import ssl
        import urllib.request

        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/health", context=context, timeout=30) as reply:
            assert reply.status == 200
    finally:
        assert server.stop() == 0
    assert "https://127.0.0.1" in server.stderr.read_text()
