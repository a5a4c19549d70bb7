"""Generated Grafana dashboards: valid against Grafana's own dashboard JSON schema (tests/fixtures/grafana/), at
the last version of Grafana's schema migrator, importable anywhere (every data source a variable filled from
``__inputs``), every variable used, on the 24-column grid, every metric name produced by the contract or the
recording rules, and every Prometheus query answered with data by a real Prometheus over the backfilled game day.

Bad input tried: an expression with a syntax error, a panel with a legacy string data source and a stray
grafanalib key, and a variable no query uses, to show each check can fail.
"""

import copy
import json
import re
import subprocess
import sys
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from urllib.error import HTTPError

import jsonschema
import polars as pl
import pytest
import yaml

from contract.alert_catalogue import OPERATIONAL, SLO_BURN_RUNBOOK
from contract.semconv import METRICS, Attr, MetricType
from contract.tables import LOGS, SPANS, scan
from dashboards.builder import SCHEMA_VERSION
from dashboards.oncall import firing_with_runbooks

from .conftest import ROOT

GRAFANA = Path(__file__).parent / "fixtures" / "grafana"
ALERT_SERIES = "ALERTS"
NOT_BACKFILLED = re.compile(r"ALERTS|slo:(error_budget|current_burn_rate|period_error_budget_remaining):")
"""Series the backfilled TSDB does not hold: ALERTS (written only while Prometheus evaluates alerting rules live)
and Sloth's budget records, which chain on each other (tests/backfill.py backfills the SLI records only);
test_stack.py runs these queries on a live Prometheus."""


def grafana_schema() -> dict:
    """Grafana's generated dashboard schema, with the two fields its CUE types as any (``_``) put back to any:
    the generator narrowed them to objects, yet Grafana itself writes ``"options": "name"`` for a byName matcher."""
    schema = json.loads((GRAFANA / "dashboard.jsonschema.json").read_text())
    definitions = schema["definitions"]
    definitions["MatcherConfig"]["properties"]["options"] = {}
    definitions["DynamicConfigValue"]["properties"]["value"] = {}
    return schema


def schema_problems(board: dict) -> list[str]:
    """What Grafana's schema refuses in the board as Grafana stores it (the import envelope ``__*`` stripped)."""
    stored = {k: v for k, v in board.items() if not k.startswith("__")}
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:120]}"
            for e in jsonschema.Draft7Validator(grafana_schema()).iter_errors(stored)]


@pytest.fixture(scope="module")
def boards(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("dashboards")
    subprocess.run([sys.executable, "-m", "qtenancy", "dashboards", "generate", "-o", str(out)], check=True,
                   capture_output=True, cwd=ROOT)
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def _targets(board: dict) -> list[dict]:
    return [t | {"panel": p["title"]} for p in board["panels"] for t in p["targets"]]


def _promql(board: dict) -> list[str]:
    found = [t["expr"] for t in _targets(board) if t["datasource"]["type"] == "prometheus"]
    return found + [a["expr"] for a in board["annotations"]["list"] if "expr" in a]


def unused_variables(board: dict) -> list[str]:
    everything = json.dumps({k: v for k, v in board.items() if k != "templating"})
    everything += json.dumps([v.get("query", "") for v in board["templating"]["list"]])
    return [v["name"] for v in board["templating"]["list"]
            if not re.search(rf"\$(\{{{v['name']}[}}:]|{v['name']}\b)", everything)]


def test_dashboards_pass_grafanas_own_schema_at_its_latest_version(boards):
    assert set(boards) == {"qtenancy-executive", "qtenancy-oncall", "qtenancy-debug"}
    for name, board in boards.items():
        assert schema_problems(board) == [], name
        assert board["schemaVersion"] == SCHEMA_VERSION == 43, name  # LATEST_VERSION of Grafana's migrator
        transformations = [t["id"] for p in board["panels"] for t in p.get("transformations", [])]
        assert "formatTime" not in transformations  # what migration 43 rewrites; 42 rewrites hideFrom.viz overrides
        assert "hideFrom" not in json.dumps(board)


def test_the_schema_refuses_the_old_model(boards):
    board = copy.deepcopy(boards["qtenancy-oncall"])
    board["panels"][0]["datasource"] = "Prometheus"
    board["panels"][1]["span"] = 6
    assert [p.split(":")[0] for p in schema_problems(board)] == ["panels.0", "panels.1"]
    panel = {"$ref": "#/definitions/Panel", "definitions": grafana_schema()["definitions"]}
    assert sorted(e.message for e in jsonschema.Draft7Validator(panel).iter_errors(board["panels"][1])) == [
        "Additional properties are not allowed ('span' was unexpected)"]
    assert [e.message for e in jsonschema.Draft7Validator(panel).iter_errors(board["panels"][0])] == [
        "'Prometheus' is not of type 'object'"]


def test_every_data_source_is_a_variable_filled_on_import(boards):
    for name, board in boards.items():
        sources = {v["name"]: v for v in board["templating"]["list"] if v["type"] == "datasource"}
        inputs = {i["name"]: i for i in board["__inputs"]}
        assert {v["current"]["value"] for v in sources.values()} == {f"${{{n}}}" for n in inputs}, name
        used = {json.dumps(p["datasource"]) for p in board["panels"]} | {json.dumps(t["datasource"]) for t in _targets(board)}
        assert used == {json.dumps({"type": v["query"], "uid": f"${{{n}}}"}) for n, v in sources.items()}, name
        assert "Prometheus\"" not in json.dumps(board["panels"]), name
    assert {i["pluginId"] for i in boards["qtenancy-debug"]["__inputs"]} == {"prometheus", "tempo", "loki"}


def test_every_variable_is_used_and_the_check_can_fail(boards):
    for name, board in boards.items():
        assert unused_variables(board) == [], name
    board = copy.deepcopy(boards["qtenancy-executive"])
    board["templating"]["list"].append({"name": "cluster", "type": "query", "query": "label_values(up, cluster)"})
    assert unused_variables(board) == ["cluster"]


def test_boards_link_to_each_other_and_are_laid_out_on_the_grid(boards):
    for name, board in boards.items():
        assert [(link["type"], link["tags"], link["includeVars"]) for link in board["links"]] == [
            ("dashboards", ["qtenancy"], True)]
        assert board["tags"] == ["qtenancy"]
        cells = [p["gridPos"] for p in board["panels"]]
        assert all(c["x"] + c["w"] <= 24 for c in cells)
        for a, b in combinations(cells, 2):
            apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            assert apart, (name, a, b)
        assert all(p["fieldConfig"]["defaults"].get("unit") for p in board["panels"]), name


def test_the_debug_board_follows_one_job(boards):
    debug = boards["qtenancy-debug"]
    panels = {p["title"]: p for p in debug["panels"]}
    trace, logs = panels["Trace of job ${provenance_id}"], panels["Logs of job ${provenance_id}"]
    assert trace["type"] == "traces" and trace["targets"][0]["query"] == '{ trace:id = "${provenance_id}" }'
    assert logs["type"] == "logs" and logs["targets"][0]["expr"].endswith('qtenancy_provenance_id = `${provenance_id}`')
    urls = [link["url"] for link in trace["links"]]
    assert all(u.startswith("/explore?schemaVersion=1&orgId=1&panes=") and "${provenance_id}" in u for u in urls)
    assert '"datasource":"${tempo}"' in urls[0].replace("%22", '"') and '"datasource":"${loki}"' in urls[1].replace("%22", '"')
    queue = panels["Queue wait by tenant (exemplars link to traces)"]
    assert all(t["exemplar"] for t in queue["targets"])


def test_the_oncall_board_draws_targets_and_links_runbooks(boards):
    panels = {p["title"]: p for p in boards["qtenancy-oncall"]["panels"]}
    queue = panels["Queue wait p95 by tenant, against each tenant's target"]
    assert [t["legendFormat"] for t in queue["targets"]] == ["{{tenant}}", "target {{tenant}}"]
    assert queue["targets"][1]["expr"] == 'qtenancy_tenant_queue_wait_target_seconds{tenant=~"$tenant"}'
    alerts = panels["Firing alerts"]
    (column,) = alerts["fieldConfig"]["overrides"]
    assert column["matcher"] == {"id": "byName", "options": "runbook"}
    assert column["properties"][0]["value"][0]["url"].endswith("/docs/runbooks/${__value.raw}.md")
    burn = panels["Burn rates (1h window)"]
    assert [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 6.0, 14.4]
    executive = {p["title"]: p for p in boards["qtenancy-executive"]["panels"]}
    thirty = [p for title, p in executive.items() if "30 days" in title]
    assert len(thirty) == 2 and all("ratio_rate30d" in t["expr"] for p in thirty for t in p["targets"])
    assert boards["qtenancy-executive"]["time"] == {"from": "now-30d", "to": "now"}


def _concrete(expr: str, tenant: str = ".*") -> str:
    return expr.replace("$tenant", tenant).replace("$backend", ".*").replace("$namespace", ".*")


def test_every_query_returns_data_on_the_backfilled_game_day(boards, game_day, game_day_prometheus):
    start = game_day.scenario.start
    end = start + timedelta(seconds=game_day.scenario.horizon)
    tenant = game_day.jobs["tenant"].sort()[0]

    def series(expr: str) -> list[dict]:
        return game_day_prometheus.api("query_range", query=expr, start=start.timestamp(), end=end.timestamp(),
                                       step=600)["result"]

    checked = 0
    for name, board in boards.items():
        for expr in _promql(board):
            if NOT_BACKFILLED.search(expr):
                assert series(_concrete(expr)) == [], expr
                continue
            assert series(_concrete(expr)), (name, expr)
            if "$tenant" in expr:
                found = series(_concrete(expr, tenant))
                assert found and {s["metric"].get("tenant", tenant) for s in found} == {tenant}, (name, expr)
            checked += 1
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                selector, label = re.match(r"label_values\((.+), (\w+)\)$", variable["query"]).groups()
                values = game_day_prometheus.api(f"label/{label}/values", **{"match[]": _concrete(selector)})
                assert values, (name, variable["name"])
    assert checked >= 25
    with pytest.raises(HTTPError) as refused:
        game_day_prometheus.api("query", query="sum by (tenant (rate(qtenancy_jobs_total[5m]))")
    assert refused.value.code == 400


def test_the_runbook_column_names_a_runbook_for_every_alert(game_day_prometheus):
    """The table's label_replace chain on a real Prometheus, for every alert the catalogue and the SLOs raise."""
    names = [a.name for a in OPERATIONAL] + ["JobSuccessPlatformErrorBudgetBurn"]
    for name in names:
        fake = f'label_replace(vector(1), "alertname", "{name}", "", "")'
        (row,) = game_day_prometheus.api("query", query=firing_with_runbooks().replace('ALERTS{alertstate="firing"}', fake))["result"]
        runbook = row["metric"]["runbook"]
        assert (ROOT / "docs" / "runbooks" / f"{runbook}.md").is_file(), name
    assert runbook == SLO_BURN_RUNBOOK


def test_the_provenance_filter_finds_a_real_job(boards, game_day, game_day_store):
    """Tempo and Loki do not run here: the filters are checked against the stored spans and logs they would read."""
    provenance_id = game_day.jobs["provenance_id"].sort()[0]
    debug = {p["title"]: p for p in boards["qtenancy-debug"]["panels"]}
    trace_query = debug["Trace of job ${provenance_id}"]["targets"][0]["query"].replace("${provenance_id}", provenance_id)
    wanted = re.search(r'trace:id = "([0-9a-f]{32})"', trace_query)[1]
    spans = scan(game_day_store, SPANS).filter(pl.col("trace_id") == wanted).collect()
    assert "qtenancy.job" in spans["name"].to_list()
    log_query = debug["Logs of job ${provenance_id}"]["targets"][0]["expr"].replace("${provenance_id}", provenance_id)
    attribute, value = re.search(r"\| (\w+) = `([0-9a-f]{32})`", log_query).groups()
    assert attribute == Attr.PROVENANCE_ID.value.replace(".", "_")  # as Loki's OTLP endpoint names it
    logs = scan(game_day_store, LOGS).filter(pl.col(Attr.PROVENANCE_ID.value) == value)
    assert logs.select(pl.len()).collect().item() > 0


def test_no_dangling_metric_names(boards, rules):
    known = {ALERT_SERIES}
    for metric in METRICS:
        base = metric.name
        known.add(base)
        if metric.type in (MetricType.HISTOGRAM, MetricType.SUMMARY):
            known |= {f"{base}_sum", f"{base}_count", f"{base}_bucket"}
    for group in yaml.safe_load((rules / "rules" / "slo-rules.yaml").read_text())["groups"]:
        known |= {r["record"] for r in group["rules"] if "record" in r}
    for name, board in boards.items():
        for expr in _promql(board) + [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]:
            for token in re.findall(r"(?<![\w:])(qtenancy_[a-z0-9_]+|slo:[a-z0-9_:]+|ALERTS)\b(?!\s*\()", expr):
                assert token in known, (name, token, expr)


def test_generation_is_byte_identical(boards, tmp_path):
    subprocess.run([sys.executable, "-m", "qtenancy", "dashboards", "generate", "-o", str(tmp_path)], check=True,
                   capture_output=True, cwd=ROOT)
    for name, board in boards.items():
        assert json.loads((tmp_path / f"{name}.json").read_text()) == board
        assert (ROOT / "deploy" / "generated" / "dashboards" / f"{name}.json").read_bytes() == (tmp_path / f"{name}.json").read_bytes()
