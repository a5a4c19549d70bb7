"""End to end on a real Prometheus: the game day's and the calm week's metrics backfilled with promtool,
with the generated recording rules; every alert expression evaluated over the week.

Each injected fault raises its alert inside its window; the calm week raises none after its first twelve hours
(the emulated platform starts cold, every backend freshly calibrated and every scheduler share at zero, and the
burn-rate windows start empty: in those hours a 3d/6h ticket burns on a few hours of data and interactive queue
waits settle); and the 30-day job success SLI that the rules compute agrees with the polars SLI of the SLO
engine within 0.1 percentage points.
"""

from datetime import datetime, timedelta

import yaml

from alerts.operational import ALERTS
from collector.correlate import read_calibrations, read_jobs
from slo.sli import Tables, sli_table
from slo.spec_files import load_all
from slo.specs import parse_duration

from .backfill import firings
from .conftest import ROOT, SCENARIOS, backfilled_tsdb, run_of, system_tool
from .prometheus_server import PrometheusServer


def _alerts(rules) -> list[tuple[str, str, float]]:
    found = [(a.name, a.expr, parse_duration(a.hold)) for a in ALERTS if a.severity != "info"]
    for group in yaml.safe_load((rules / "rules" / "slo-rules.yaml").read_text())["groups"]:
        found += [(r["alert"], r["expr"], 0.0) for r in group["rules"] if "alert" in r]
    return found


EXPECTED = {
    "F1": ("QtenancyCalibrationFailing", "backend"),
    "F2": ("QtenancySchedulerStarvation", "tenant"),
    "F3": ("QtenancyTelemetryGap", "backend"),
    "F4": ("QtenancyFidelityBelowPrediction", "backend"),
    "F5": ("QtenancyBillingDelta", "tenant"),
    "hybrid-timeout": ("JobSuccessTenantErrorBudgetBurn", "tenant"),
    "backend-outage": ("QtenancyBackendDown", "backend"),
}


def test_each_injected_fault_raises_its_alert_inside_its_window(game_day, game_day_prometheus, rules):
    alerts = _alerts(rules)
    victims_backend = {"F4": "manila"}
    for fault in game_day.ground_truth["faults"]:
        name, label = EXPECTED[fault["id"]]
        start, end = datetime.fromisoformat(fault["start"]), datetime.fromisoformat(fault["end"])
        fired = {}
        for expr, hold in [(e, h) for n, e, h in alerts if n == name]:
            for series, at in firings(game_day_prometheus, expr, hold, start, end).items():
                fired[series] = min(at, fired.get(series, at))
        target = victims_backend.get(fault["id"]) or fault.get(label) or fault["victims"][0]
        times = [t for series, t in fired.items() if dict(series).get(label) == target]
        assert times and start <= min(times) <= end, (fault["id"], name, target, fired)


def test_rules_job_success_sli_agrees_with_the_polars_sli(game_day, game_day_prometheus, game_day_store):
    end = game_day.scenario.start + timedelta(seconds=game_day.scenario.horizon)
    prometheus_sli = 1 - game_day_prometheus.scalar(
        'slo:sli_error:ratio_rate30d{sloth_slo="job-success-platform"}', end)
    (spec,) = [s for s in load_all([ROOT / "slo" / "specs"]) if s.name == "job-success-platform"]
    polars_sli = sli_table(spec, Tables(read_jobs(game_day_store), read_calibrations(game_day_store)), end)["sli"][0]
    assert abs(prometheus_sli - polars_sli) < 0.001, (prometheus_sli, polars_sli)


def test_calm_week_raises_no_alert(rules, tmp_path_factory):
    calm = run_of(SCENARIOS / "calm-week.yaml")
    start = calm.scenario.start
    end = start + timedelta(seconds=calm.scenario.horizon)
    warm = start + timedelta(hours=12)
    with PrometheusServer(system_tool("prometheus"), backfilled_tsdb(calm, rules, tmp_path_factory)) as server:
        fired = [(name, firings(server, expr, hold, warm, end)) for name, expr, hold in _alerts(rules)]
    assert not [f for f in fired if f[1]], [f for f in fired if f[1]]
