"""End to end on a real Prometheus: the game day's and the calm week's metrics backfilled with promtool,
with the generated recording rules; every alert expression evaluated over the week.

Each injected fault raises its alert inside its window; the calm week raises none after Monday morning;
the 30-day job success SLI that the rules compute agrees with the polars SLI of the SLO engine within 0.2
percentage points (Sloth's period SLI averages the 5-minute ratios, each window alike; the engine counts
events); and the burn-rate page and ticket episodes Prometheus evaluates from the generated rules are the
ones the analytical path finds on the same run: same SLO, same severity, same group, starting within one
evaluation interval (the analytical path evaluated on the same one-minute grid), or later by no more than
the two scrapes a counter's rate needs.
"""

from datetime import datetime, timedelta

import pytest
import yaml

from alerts.native_sli import NotGeneratable, rule_source
from alerts.operational import ALERTS
from collector.correlate import read_calibrations, read_jobs
from contract.alert_catalogue import default_burn_windows
from slo.burn_rate import burn_rates, episodes
from slo.sli import Tables, events, sli_table
from slo.spec_files import load_all
from slo.specs import parse_duration

from .backfill import firings
from .conftest import ROOT


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


def test_every_tenant_has_sli_budget_and_burn_series_even_without_a_bad_job(game_day, game_day_prometheus):
    """A tenant that had no failure in a window reads 0 errors there (so a whole budget and no burn), not
    "no data": the rules' error side falls back to zero for a group that has events."""
    at = game_day.scenario.start + timedelta(hours=6)
    tenants = {t.id for t in game_day.scenario.tenants}
    selector = '{sloth_slo="job-success-tenant"}'
    errors = game_day_prometheus.query(f"slo:sli_error:ratio_rate5m{selector}", at)
    by_tenant = {dict(labels)["tenant"]: value for labels, value in errors.items()}
    assert set(by_tenant) == tenants
    assert 0.0 in by_tenant.values(), "some tenant had no bad job in those five minutes, and has its series at 0"
    for window in ("1h", "6h", "3d", "30d"):   # every burn window, and the period the budget is spent over
        series = game_day_prometheus.query(f"slo:sli_error:ratio_rate{window}{selector}", at)
        assert {dict(labels)["tenant"] for labels in series} == tenants, window


def test_rules_job_success_sli_agrees_with_the_polars_sli(game_day, game_day_prometheus, game_day_store):
    end = game_day.scenario.start + timedelta(seconds=game_day.scenario.horizon)
    prometheus_sli = 1 - game_day_prometheus.scalar(
        'slo:sli_error:ratio_rate30d{sloth_slo="job-success-platform"}', end)
    (spec,) = [s for s in load_all([ROOT / "slo" / "specs"]) if s.name == "job-success-platform"]
    polars_sli = sli_table(spec, Tables(read_jobs(game_day_store), read_calibrations(game_day_store)), end)["sli"][0]
    assert abs(prometheus_sli - polars_sli) < 0.002, (prometheus_sli, polars_sli)


def _span(run) -> tuple[datetime, datetime]:
    return run.scenario.start, run.scenario.start + timedelta(seconds=run.scenario.horizon)


def test_calm_week_raises_no_alert(calm_week, calm_prometheus, rules):
    """None after its first twelve hours: in those, Monday morning's rising load queues interactive work past
    its target for a quarter of an hour (a ticket an operator would want), before the fair share settles."""
    start, end = _span(calm_week)
    warm = start + timedelta(hours=12)
    fired = [(name, firings(calm_prometheus, expr, hold, warm, end)) for name, expr, hold in _alerts(rules)]
    assert not [f for f in fired if f[1]], [f for f in fired if f[1]]


EVALUATION = timedelta(minutes=1)
SCRAPES = 2 * EVALUATION
"""A counter's rate needs two scrapes (a minute apart in the backfill) before Prometheus sees a change that
the jobs table dates to the second: a zero-budget alert, which fires on the first bad event, shows it whole."""


def _prometheus_episodes(server, rules, start, end) -> dict[tuple[str, str, str], datetime]:
    """(alert, severity, group) -> when the rules' burn alert first fired."""
    found = {}
    for group in yaml.safe_load((rules / "rules" / "slo-rules.yaml").read_text())["groups"]:
        for rule in (r for r in group["rules"] if "alert" in r):
            for series, at in firings(server, rule["expr"], 0.0, start, end).items():
                labels = dict(series)
                key = (rule["alert"], rule["labels"]["sloth_severity"], labels.get("tenant", labels.get("backend", "platform")))
                found[key] = min(at, found.get(key, at))
    return found


def _analytical_episodes(store, start, end) -> dict[tuple[str, str, str], datetime]:
    """The same, as the SLO engine finds it from the jobs table (on the rules' one-minute evaluation grid)."""
    tables = Tables(read_jobs(store), read_calibrations(store))
    found = {}
    for spec in load_all([ROOT / "slo" / "specs"]):
        try:
            rule_source(spec)
        except NotGeneratable:
            continue
        rates = burn_rates(events(spec, tables, end), spec.objective, start, end, default_burn_windows(),
                           step_seconds=int(EVALUATION.total_seconds()), min_events=spec.min_events)
        for severity in ("page", "ticket"):
            for row in episodes(rates, severity).iter_rows(named=True):
                key = (spec.alert_name, severity, row["group"])
                found[key] = min(row["start"], found.get(key, row["start"]))
    return found


@pytest.mark.parametrize("which", ["game day", "calm week"])
def test_both_paths_page_and_ticket_for_the_same_slo_group_and_minute(which, request, rules, tmp_path_factory):
    if which == "game day":
        run, server, store = (request.getfixturevalue(f) for f in ("game_day", "game_day_prometheus", "game_day_store"))
    else:
        run, server = request.getfixturevalue("calm_week"), request.getfixturevalue("calm_prometheus")
        store = request.getfixturevalue("calm_store")
    start, end = _span(run)
    real_time, analytical = _prometheus_episodes(server, rules, start, end), _analytical_episodes(store, start, end)
    assert set(real_time) == set(analytical), (sorted(real_time), sorted(analytical))
    late = {key: (real_time[key], analytical[key]) for key in real_time
            if not timedelta(0) <= real_time[key] - analytical[key] <= EVALUATION + SCRAPES
            and abs(real_time[key] - analytical[key]) > EVALUATION}
    assert not late, late
    if which == "game day":
        assert {severity for _, severity, _ in real_time} == {"page", "ticket"}
