"""Pyrra's own example SLOs (tests/fixtures/pyrra, see SOURCE: ratio, latency, latencyNative and bool_gauge
indicators, with grouping) are accepted, the rules generated for them pass ``promtool check rules``, and their
burn alerts use Pyrra's windows, factors, ``for`` durations, severities and exhaustion labels: the expected
values are those of Pyrra's own tests (slo/rules_test.go at the fixtures' commit), not computed here.

Bad input tried: a target over 100, a window that is not a duration, two indicators at once.
"""

from datetime import timedelta

import pytest
import yaml

from alerts.generate import plan
from alerts.sloth_plugins import Generation, slo_rules
from contract.alert_catalogue import default_burn_windows
from slo.catalogue import SliId
from slo.sli import Tables, sli_table
from slo.spec_files import load_all, load_specs
from slo.specs import Grouping, SpecError

from .conftest import ROOT, promtool_checked_rules
from .test_slo import EMPTY, T0, _jobs

FIXTURES = ROOT / "tests" / "fixtures" / "pyrra"
KINDS = {
    "caddy-response-latency.yaml": ["latency"], "nginx.yaml": ["ratio", "latency"],
    "prometheus-probe-success.yaml": ["bool_gauge"], "pyrra-connect-errors.yaml": ["ratio"],
    "pyrra-connect-latency.yaml": ["latency_native"], "thanos-grpc.yaml": ["ratio"],
    "slo-apiserver-read-resource-latency.yaml": ["latency"],
}
# (short, long, factor, for, severity, exhaustion) per alert, from Pyrra's slo/rules_test.go
PYRRA_28D = [("5m", "1h", "14", "2m", "critical", "2d"), ("30m", "6h", "7", "15m", "critical", "4d"),
             ("2h", "1d", "2", "1h", "warning", "2w"), ("6h", "4d", "1", "3h", "warning", "4w")]
PYRRA_7D = [("1m", "15m", "14", "1m", "critical", "12h"), ("8m", "1h30m", "7", "4m", "critical", "1d"),
            ("30m", "6h", "2", "15m", "warning", "3d12h"), ("1h30m", "1d", "1", "45m", "warning", "1w")]


def _burn_alerts(path):
    spec = load_specs(path)[0]
    rules = slo_rules(spec.rules, Generation(default_burn_windows(), {}, "test"))
    return spec, [r for r in rules.alerts.rules if r["alert"] == "ErrorBudgetBurn"], rules


def _as_pyrra(alert: dict) -> tuple:
    factor = alert["expr"].split("> (")[1].split(" *")[0]
    labels = alert["labels"]
    return labels["short"], labels["long"], factor, alert["for"], labels["severity"], labels["exhaustion"]


def test_every_fixture_and_indicator_kind_is_accepted():
    assert {k for kinds in KINDS.values() for k in kinds} == {"ratio", "latency", "latency_native", "bool_gauge"}
    for name, kinds in KINDS.items():
        specs = load_specs(FIXTURES / name)
        assert len(specs) == len(kinds) and all(s.rules is not None for s in specs), name
        raw = [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]
        assert [next(iter(d["spec"]["indicator"])) for d in raw] == [k.replace("latency_native", "latencyNative")
                                                                     for k in kinds]


@pytest.mark.parametrize("name, expected", [("caddy-response-latency.yaml", PYRRA_28D), ("thanos-grpc.yaml", PYRRA_7D)])
def test_burn_alerts_use_pyrras_windows_factors_and_durations(name, expected):
    spec, alerts, rules = _burn_alerts(FIXTURES / name)
    assert [_as_pyrra(a) for a in alerts] == expected
    first = alerts[0]["expr"]
    assert f"slo:sli_error:ratio_rate{expected[0][0]}{{" in first and f"slo:sli_error:ratio_rate{expected[0][1]}{{" in first
    budget = f"{(100 - spec.rules.objective_percent) / 100:.4g}"
    assert f"> (14 * {budget})" in first
    (absent,) = [r for r in rules.alerts.rules if r["alert"] == "SLOMetricAbsent"]
    assert absent["labels"]["severity"] == "critical" and absent["expr"].startswith("absent(")


def test_fourteen_day_windows_and_pyrra_labels():
    spec, alerts, rules = _burn_alerts(FIXTURES / "slo-apiserver-read-resource-latency.yaml")
    assert _as_pyrra(alerts[0])[:3] == ("3m", "30m", "14"), "Pyrra's rules_test.go: burnrate3m and burnrate30m x14"
    assert alerts[0]["labels"]["slo"] == "apiserver-read-resource-latency"
    _, _, grouped = _burn_alerts(FIXTURES / "pyrra-connect-errors.yaml")
    sli = grouped.sli.rules[0]
    assert sli["expr"].startswith('(sum by (method, service) (rate(connect_server_requests_total{job="pyrra",code=~"')
    assert sli["labels"]["job"] == "pyrra" and "service" not in sli["labels"], "grouped labels are the series' own"


def test_generated_rules_pass_promtool(tmp_path):
    groups = yaml.safe_load(promtool_checked_rules([FIXTURES], tmp_path / "out").read_text())["groups"]
    assert sum(r.get("alert") == "ErrorBudgetBurn" for g in groups for r in g["rules"]) == 4 * 8


def test_a_window_too_short_for_pyrras_rounding_still_gives_valid_rules(tmp_path):
    """Pyrra's shortest windows are the SLO window over 8,064, rounded to the minute: under about three days they
    round to nothing, and a zero range is no PromQL. They take one minute instead."""
    path = tmp_path / "two-days.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "pyrra.dev/v1alpha1", "kind": "ServiceLevelObjective", "metadata": {"name": "api-errors"},
        "spec": {"target": "95", "window": "2d", "indicator": {"ratio": {
            "errors": {"metric": 'http_requests_total{code=~"5.."}'}, "total": {"metric": "http_requests_total"}}}},
    }))
    (spec,) = load_specs(path)
    windows = spec.rules.burn_windows(default_burn_windows())
    assert min(w.short_seconds for w in windows.pairs) == 60 and [w.fixed_factor for w in windows.pairs] == [14, 7, 2, 1]
    promtool_checked_rules([path], tmp_path / "out")


def test_a_pyrra_slo_naming_a_qtenancy_sli_is_computed_too(tmp_path):
    path = tmp_path / "pyrra.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "pyrra.dev/v1alpha1", "kind": "ServiceLevelObjective",
        "metadata": {"name": "job-success", "namespace": "qpu", "labels": {"qtenancy_sli": "M1"}},
        "spec": {"target": "90", "window": "4w", "indicator": {"ratio": {
            "errors": {"metric": 'qtenancy_jobs_total{usable="false"}'}, "total": {"metric": "qtenancy_jobs_total"},
            "grouping": ["tenant"]}}},
    }))
    (spec,) = load_specs(path)
    assert (spec.sli, spec.group_by, spec.objective, spec.window.seconds) == (SliId.M1, Grouping.TENANT, 0.9, 28 * 86400)
    assert plan([spec])[0].describe() == "rules and analytical SLI M1"
    own = spec.rules.burn_windows(default_burn_windows())
    assert [(w.short_seconds, w.long_seconds, w.factor(own.period_seconds)) for w in own.pairs] == [
        (300, 3600, 14), (1800, 6 * 3600, 7), (2 * 3600, 86400, 2), (6 * 3600, 4 * 86400, 1)], \
        "the analytical path burns over Pyrra's windows too"
    assert spec.alert_name == "ErrorBudgetBurn", "and names its episodes as Pyrra's alert"
    rows = [{"tenant": "a", "finished_at": T0 + timedelta(minutes=i), "usable": i != 3}
            for i in range(10)]
    row = sli_table(spec, Tables(_jobs(rows), EMPTY), T0 + timedelta(hours=1)).row(0, named=True)
    assert (row["group"], row["total"], row["good"]) == ("a", 10, 9)


@pytest.mark.parametrize("change, refusal", [
    ({"target": "100.5"}, r"spec\.target: Input should be less than 100"),
    ({"window": "a fortnight"}, r"spec\.window: Value error, 'a fortnight' is not a duration"),
    ({"indicator": {"ratio": {"errors": {"metric": "e"}, "total": {"metric": "t"}}, "bool_gauge": {"metric": "up"}}},
     r"spec\.indicator: Value error, an indicator needs exactly one of ratio, latency, latencyNative or bool_gauge"),
])
def test_bad_pyrra_is_refused_with_file_document_field_and_reason(tmp_path, change, refusal):
    document = yaml.safe_load((FIXTURES / "thanos-grpc.yaml").read_text())
    document["spec"].update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SpecError, match=rf"bad\.yaml: document 1: {refusal}"):
        load_all([path])
