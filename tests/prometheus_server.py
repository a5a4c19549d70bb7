"""A real Prometheus server on loopback over a TSDB directory, for tests that query backfilled data."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

from qtenancy.stack import free_port


class PrometheusServer:
    def __init__(self, binary: str, data: Path, config: Path | None = None):
        self.port = free_port()
        self._data = data
        self._config = config or data.parent / "prometheus.yml"
        if config is None:
            self._config.write_text("global:\n  scrape_interval: 1m\n")
        self._args = [
            binary,
            f"--config.file={self._config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self._process: subprocess.Popen | None = None
        self.log = data.parent / "prometheus.log"

    def __enter__(self) -> PrometheusServer:
        self._process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready in 60 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(timeout=30)

    def api(self, path: str, **params) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str, at: datetime) -> dict[tuple, float]:
        """Instant query: {sorted label items: value}."""
        data = self.api("query", query=promql, time=f"{at.timestamp():.3f}")
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}

    def scalar(self, promql: str, at: datetime) -> float:
        result = self.query(promql, at)
        assert len(result) == 1, (promql, result)
        return next(iter(result.values()))
