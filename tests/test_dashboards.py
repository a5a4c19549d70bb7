"""Generated Grafana dashboards: structurally valid (schema below, panels on the 24-column grid without
overlap), every query parsed by a real Prometheus, every metric name produced by the emulator's contract or
the generated recording rules, and the same bytes on every run.

Bad input tried: an expression with a syntax error, to show the parser check can fail.
"""

import json
import re
import subprocess
import sys
from itertools import combinations
from urllib.error import HTTPError

import jsonschema
import pytest
import yaml

from contract.semconv import METRICS, MetricType

from .conftest import ROOT, system_tool
from .prometheus_server import PrometheusServer

SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "panels", "templating", "time", "schemaVersion", "tags"],
    "properties": {
        "uid": {"type": "string", "pattern": "^qtenancy-[a-z]+$"},
        "panels": {"type": "array", "minItems": 4, "items": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
            "properties": {
                "type": {"enum": ["stat", "timeseries", "table"]},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
                    "w": {"type": "integer", "minimum": 1, "maximum": 24},
                    "x": {"type": "integer", "minimum": 0, "maximum": 23},
                    "h": {"type": "integer", "minimum": 1}}},
                "targets": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["expr", "refId"], "properties": {"expr": {"type": "string", "minLength": 1}}}},
            }}},
        "templating": {"type": "object", "required": ["list"]},
    },
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("dashboards")
    subprocess.run([sys.executable, "-m", "qtenancy", "dashboards", "generate", "-o", str(out)], check=True,
                   capture_output=True, cwd=ROOT)
    rules = tmp_path_factory.mktemp("rules")
    subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(ROOT / "slo" / "specs"), "-o", str(rules)],
                   check=True, capture_output=True, cwd=ROOT)
    return out, rules


def _dashboards(out) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def _queries(board: dict) -> list[str]:
    found = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return found + [a["expr"] for a in board["annotations"]["list"] if "expr" in a]


def test_dashboards_are_valid_and_laid_out_on_the_grid(generated):
    boards = _dashboards(generated[0])
    assert set(boards) == {"qtenancy-executive", "qtenancy-oncall", "qtenancy-debug"}
    for name, board in boards.items():
        jsonschema.validate(board, SCHEMA)
        variables = {v["name"] for v in board["templating"]["list"]}
        assert {"tenant", "backend", "namespace"} <= variables, name
        cells = [p["gridPos"] for p in board["panels"]]
        assert all(c["x"] + c["w"] <= 24 for c in cells)
        for a, b in combinations(cells, 2):
            apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            assert apart, (name, a, b)
        assert all(p["fieldConfig"]["defaults"].get("unit") for p in board["panels"] if p["type"] != "table"), name
    assert "${provenance_id}" in json.dumps(boards["qtenancy-debug"]["panels"][0]["links"])
    assert len(boards["qtenancy-oncall"]["annotations"]["list"]) == 2


def test_every_query_parses_in_a_real_prometheus(generated, tmp_path):
    def concrete(expr: str) -> str:
        return re.sub(r"\$\{?[a-z_]+\}?", ".*", expr)

    queries = [concrete(q) for board in _dashboards(generated[0]).values() for q in _queries(board)]
    with PrometheusServer(system_tool("prometheus"), tmp_path / "tsdb") as prometheus:
        for expr in queries:
            assert prometheus.api("query", query=expr) is not None, expr
        with pytest.raises(HTTPError) as refused:
            prometheus.api("query", query="sum by (tenant (rate(qtenancy_jobs_total[5m]))")
        assert refused.value.code == 400


def test_no_dangling_metric_names(generated):
    out, rules = generated
    known = {"ALERTS"}
    for metric in METRICS:
        base = metric.name
        known.add(base)
        if metric.type in (MetricType.HISTOGRAM, MetricType.SUMMARY):
            known |= {f"{base}_sum", f"{base}_count", f"{base}_bucket"}
    for group in yaml.safe_load((rules / "rules" / "slo-rules.yaml").read_text())["groups"]:
        known |= {r["record"] for r in group["rules"] if "record" in r}
    for name, board in _dashboards(out).items():
        for expr in _queries(board):
            for token in re.findall(r"(?<![\w:])(qtenancy_[a-z0-9_]+|slo:[a-z0-9_:]+|ALERTS)\b(?!\s*\()", expr):
                assert token in known, (name, token, expr)
        for variable in board["templating"]["list"]:
            if variable.get("query"):
                metric = re.search(r"label_values\((\w+),", variable["query"]).group(1)
                assert metric in known, metric


def test_generation_is_byte_identical(generated, tmp_path):
    subprocess.run([sys.executable, "-m", "qtenancy", "dashboards", "generate", "-o", str(tmp_path)], check=True,
                   capture_output=True, cwd=ROOT)
    for path in generated[0].glob("*.json"):
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name
