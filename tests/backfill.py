"""A run's metrics and the generated recording rules backfilled into a real Prometheus TSDB.

promtool backfills the run's OpenMetrics file (in day-long blocks: two-hour blocks take promtool six times
longer), then the recording rules in two passes (the period rules read the window rules' output, and promtool
evaluates each rule against what Prometheus already holds).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from emulator.metrics import MetricsReplay
from emulator.openmetrics_file import write_openmetrics
from emulator.run import EmulationRun

from .prometheus_server import PrometheusServer


def _passes(rules: Path, into: Path) -> list[Path]:
    first, second = {"groups": []}, {"groups": []}
    for group in yaml.safe_load(rules.read_text())["groups"]:
        records = [r for r in group["rules"] if "record" in r]
        windows = [r for r in records if r["record"].startswith("slo:sli_error:") and "sum_over_time" not in r["expr"]]
        later = [r for r in records if r not in windows and r["record"].startswith("slo:sli_error:")]
        if windows:
            first["groups"].append({"name": group["name"], "rules": windows})
        if later:
            second["groups"].append({"name": f"{group['name']}-period", "rules": later})
    paths = [into / "pass1.yaml", into / "pass2.yaml"]
    for path, document in zip(paths, (first, second)):
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return paths


def backfill(run: EmulationRun, rules: Path, work: Path, prometheus: str, promtool: str) -> Path:
    """The TSDB directory holding the run's metrics and its SLI recording rules."""
    work.mkdir(parents=True, exist_ok=True)
    om = work / "metrics.om"
    write_openmetrics(MetricsReplay(run), om)
    tsdb = work / "tsdb"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h", str(om),
                    str(tsdb)], check=True, capture_output=True, timeout=900)
    om.unlink()
    start = run.scenario.start
    end = start + timedelta(seconds=run.scenario.horizon)
    for n, rule_file in enumerate(_passes(rules, work), start=1):
        blocks = work / f"rules{n}"
        with PrometheusServer(prometheus, tsdb) as server:
            subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "rules", "--start", _iso(start), "--end", _iso(end),
                 "--url", f"http://127.0.0.1:{server.port}", "--output-dir", str(blocks), "--eval-interval", "60s",
                 str(rule_file)],
                check=True, capture_output=True, timeout=900,
            )
        for block in blocks.iterdir():
            shutil.move(str(block), tsdb / block.name)
    return tsdb


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def firings(server: PrometheusServer, expr: str, hold_seconds: float, start: datetime, end: datetime) -> dict[tuple, datetime]:
    """Per series of an alert expression: the first instant it had held true for ``hold_seconds`` (its ``for``)."""
    found = {}
    for series in server.api("query_range", query=expr, start=start.timestamp(), end=end.timestamp(), step=60)["result"]:
        run_start = previous = None
        for stamp, _ in series["values"]:
            t = float(stamp)
            if previous is None or t - previous > 60:
                run_start = t
            if t - run_start >= hold_seconds:
                found[tuple(sorted(series["metric"].items()))] = datetime.fromtimestamp(t, start.tzinfo)
                break
            previous = t
    return found
