"""A real Prometheus server scrapes `scops-tui serve` with an API key as its bearer token."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import SOURCE, Server, free_port

PROMETHEUS = shutil.which("prometheus")


def prometheus_query(port: int, expression: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        return list(json.loads(response.read())["data"]["result"])


@pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus server is not installed (.ci/run installs Debian's)")
def test_a_real_prometheus_scrapes_metrics_with_a_bearer_key(served: Server, tmp_path: Path) -> None:
    key = served.make_key("read")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: scops\n"
        f"    authorization:\n      type: Bearer\n      credentials: {key}\n"
        f'    static_configs:\n      - targets: ["127.0.0.1:{served.port}"]\n'
    )
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        up: list[dict[str, Any]] = []
        cpu: list[dict[str, Any]] = []
        for _ in range(600):  # Prometheus starts, then scrapes every second; at most a minute
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited: {log.read_text()[-2000:]}")
            try:
                up = prometheus_query(port, 'up{job="scops"}')
                cpu = prometheus_query(port, "scops_cpu_usage_ratio")
            except OSError:
                pass
            if up and cpu:
                break
            time.sleep(0.1)
        assert [sample["value"][1] for sample in up] == ["1"], log.read_text()[-2000:]
        assert cpu and cpu[0]["metric"]["source"] == SOURCE
        assert 0.0 <= float(cpu[0]["value"][1]) <= 1.0
    finally:
        process.terminate()
        process.wait(timeout=60)
    served.stop()
    assert key not in log.read_text() and key not in served.output()
