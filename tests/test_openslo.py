"""OpenSLO v1 as its specification writes it: the specification repository's examples
(../shared/compat/openslo-spec-examples) and the README's own examples (tests/fixtures/openslo, see SOURCE)
are each accepted, or refused naming exactly the feature qtenancy does not support; a Prometheus ratio SLO
becomes recording and alerting rules that promtool accepts, its burn-rate AlertCondition the alert it describes.

Bad input tried: an indicatorRef naming no SLI, a policy's targetRef naming no target (the README's own
example has one), both target and targetPercent, an unknown kind, a Prometheus source without a query.
"""


import pytest
import yaml

from alerts.generate import plan
from alerts.sloth_plugins import Generation, slo_rules
from contract.alert_catalogue import default_burn_windows
from slo.spec_files import load_all, load_specs
from slo.specs import SpecError

from .conftest import ROOT, promtool_checked_rules

SPEC_EXAMPLES = ROOT.parent / "shared" / "compat" / "openslo-spec-examples"
README = ROOT / "tests" / "fixtures" / "openslo"
OSLO = ROOT / "tests" / "fixtures" / "oslo"

SOURCE_ANY = r"spec\.indicator\.spec\.ratioMetric\.total\.metricSource\.type: metric source type 'Any' is not supported"
REFUSED = {
    "budgeting-method__occurences-slo.yaml":
        r"spec\.indicator\.spec\.thresholdMetric\.metricSource\.type: metric source type 'Any' is not supported",
    "budgeting-method__ratio-timeslices.yaml": SOURCE_ANY,
    "budgeting-method__timeslices-slo.yaml": r"spec\.timeWindow\[0\]: a calendar-aligned window of 1m is not supported",
    "treat-low-traffic-as-equally-important__timeslices-slo.yaml": SOURCE_ANY,
    "readme-slo-inline-indicator.yaml":
        r"spec\.indicator\.spec\.ratioMetric\.total\.metricSource\.type: metric source type 'Datadog' is not supported",
}
ACCEPTED_OBJECTS = ["readme-datasource.yaml", "readme-alert-policy-ref.yaml", "readme-alert-policy-inline.yaml",
                    "readme-notification-targets.yaml", "readme-ratio-metric.yaml"]

PROMETHEUS_SLO = """\
- apiVersion: openslo/v1
  kind: DataSource
  metadata: {name: prometheus-datasource}
  spec: {type: Prometheus, connectionDetails: {url: "http://127.0.0.1:9090"}}
- apiVersion: openslo/v1
  kind: Service
  metadata: {name: localhost}
  spec: {description: the README's localhost server}
- apiVersion: openslo/v1
  kind: SLO
  metadata:
    name: localhost
    labels: {team: [identity, rbac], tier: 1}
  spec:
    service: localhost
    indicatorRef: localhost-availability
    budgetingMethod: Occurrences
    timeWindow: [{duration: 28d, isRolling: true}]
    objectives: [{targetPercent: 99.5}]
    alertPolicies: [{alertPolicyRef: AlertPolicy}]
"""
TARGET = """\
- apiVersion: openslo/v1
  kind: AlertNotificationTarget
  metadata: {name: on-call-devops-mail-notification}
  spec: {target: email}
"""


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_examples_outside_what_is_supported_are_refused_naming_the_feature(name):
    path = SPEC_EXAMPLES / name if (SPEC_EXAMPLES / name).exists() else README / name
    with pytest.raises(SpecError, match=REFUSED[name]):
        load_specs(path)


def test_every_specification_example_is_judged():
    assert {p.name for p in SPEC_EXAMPLES.glob("*.yaml")} <= set(REFUSED)


@pytest.mark.parametrize("name", ACCEPTED_OBJECTS)
def test_readme_objects_are_read(name):
    assert load_specs(README / name) == []


def test_prometheus_ratio_with_a_readme_alert_policy_becomes_rules(tmp_path):
    slo = tmp_path / "slo.yaml"
    slo.write_text(PROMETHEUS_SLO)
    files = [slo, README / "readme-ratio-metric.yaml", README / "readme-alert-policy-ref.yaml"]
    with pytest.raises(SpecError, match=r"slo\.yaml: document 1, item 3: AlertPolicy AlertPolicy: targetRef: "
                                        r"no AlertNotificationTarget named 'on-call-devops-mail-notification'"):
        load_all(files)
    slo.write_text(PROMETHEUS_SLO + TARGET)
    (spec,) = load_all(files)
    assert (spec.objective, spec.window.seconds, spec.labels) == (0.995, 28 * 86400, {"team": "identity,rbac", "tier": "1"})
    (outcome,) = plan([spec])
    assert outcome.describe().startswith("rules only")
    rules = slo_rules(spec.rules, Generation(default_burn_windows(), {}, "test"))
    assert "slo:sli_error:ratio_rate1h" in [r["record"] for r in rules.sli.rules]
    assert "increase((localhost_server_requests{code=\"total\"" in rules.sli.rules[0]["expr"]
    (alert,) = rules.alerts.rules
    assert alert["alert"] == "CpuUsageBreach" and alert["for"] == "5m"
    assert alert["expr"].startswith("max(slo:sli_error:ratio_rate1h{sloth_id=\"localhost-localhost\"") and \
        "<= (2 * 0.005)" in alert["expr"]
    assert alert["labels"] == {"notification_targets": "on-call-devops-mail-notification",
                               "openslo_alert_policy": "AlertPolicy", "severity": "page"}
    promtool_checked_rules(files, tmp_path / "out")


def test_inline_indicator_without_policies_gets_the_burn_alerts_and_its_own_period(tmp_path):
    path = tmp_path / "inline.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "api"},
        "spec": {"service": "shop", "budgetingMethod": "Occurrences", "timeWindow": [{"duration": "1w", "isRolling": True}],
                 "objectives": [{"target": 0.99}, {"target": 0.95}],
                 "indicator": {"metadata": {"name": "api-errors"}, "spec": {"ratioMetric": {
                     "counter": True,
                     "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": 'sum(rate(http_total{code=~"5.."}[{{.window}}]))'}}},
                     "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(http_total[{{.window}}]))"}}},
                 }}}},
    }))
    specs = load_specs(path)
    assert [s.name for s in specs] == ["api-0", "api-1"]
    rules = slo_rules(specs[0].rules, Generation(default_burn_windows(), {}, "test"))
    assert rules.sli.rules[0]["expr"] == '(sum(rate(http_total{code=~"5.."}[1m])))\n/\n(sum(rate(http_total[1m])))\n', \
        "a week's windows are the month's scaled to a week (5 minutes become one)"
    assert [r["alert"] for r in rules.alerts.rules] == ["Api0ErrorBudgetBurn", "Api0ErrorBudgetBurn"]
    assert next(r for r in rules.meta.rules if r["record"] == "slo:time_period:days")["expr"] == "vector(7)"


def test_a_short_period_gets_windows_scaled_to_it_not_a_months_windows(tmp_path):
    """A one-day SLO with the month's windows would page on a burn of 0.48 (spending less than its budget) and
    record the 1d window twice; its windows scale with it instead, so the factors stay the SRE Workbook's."""
    path = tmp_path / "day.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "api"},
        "spec": {"service": "shop", "budgetingMethod": "Occurrences", "timeWindow": [{"duration": "1d", "isRolling": True}],
                 "objectives": [{"target": 0.99}],
                 "indicator": {"metadata": {"name": "errors"}, "spec": {"ratioMetric": {
                     "counter": True,
                     "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": 'sum(rate(http_total{code=~"5.."}[{{.window}}]))'}}},
                     "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(http_total[{{.window}}]))"}}},
                 }}}},
    }))
    (spec,) = load_specs(path)
    windows = spec.rules.burn_windows(default_burn_windows())
    assert [(w.short_seconds, w.long_seconds) for w in windows.pairs] == [(60, 120), (60, 720), (240, 2880), (720, 8640)]
    assert [round(w.factor(windows.period_seconds), 6) for w in windows.pairs] == [14.4, 6.0, 3.0, 1.0]
    records = [r["record"] for g in yaml.safe_load(promtool_checked_rules([path], tmp_path / "out").read_text())["groups"]
               for r in g["rules"] if "record" in r]
    assert len(records) == len(set(records))


@pytest.mark.parametrize("document, refusal", [
    ({"kind": "SLO", "metadata": {"name": "x"}, "spec": {"service": "s", "budgetingMethod": "Occurrences",
                                                          "indicatorRef": "nowhere", "objectives": [{"target": 0.9}]}},
     r"spec\.indicatorRef: no SLI named 'nowhere'"),
    ({"kind": "SLO", "metadata": {"name": "x"}, "spec": {"service": "s", "budgetingMethod": "Occurrences",
                                                          "indicatorRef": "i", "objectives": [{"target": 0.9, "targetPercent": 90}]}},
     r"spec\.objectives\.0: Value error, an objective needs exactly one of target or targetPercent"),
    ({"kind": "Budget", "metadata": {"name": "x"}, "spec": {}}, r"kind: 'Budget' is not an OpenSLO v1 kind"),
    ({"kind": "SLI", "metadata": {"name": "i"}, "spec": {"thresholdMetric": {"metricSource": {"spec": {}}}}},
     r"spec\.thresholdMetric\.metricSource: Value error, a metric source needs a type, or a metricSourceRef"),
])
def test_bad_openslo_is_refused_with_file_document_field_and_reason(tmp_path, document, refusal):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "openslo/v1", **document}))
    with pytest.raises(SpecError, match=rf"bad\.yaml: document 1: {refusal}"):
        load_specs(path)


def test_prometheus_source_without_a_query_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    source = {"metricSource": {"type": "Prometheus", "spec": {"promql_typo": "x"}}}
    path.write_text(yaml.safe_dump_all([
        {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "x"},
         "spec": {"service": "s", "budgetingMethod": "Occurrences", "objectives": [{"target": 0.9}],
                  "indicator": {"metadata": {"name": "i"}, "spec": {"ratioMetric": {"good": source, "total": source}}}}},
    ]))
    with pytest.raises(SpecError, match=r"bad\.yaml: document 1: spec\.indicator\.spec\.ratioMetric\.good\.metricSource"
                                        r"\.spec\.query: a Prometheus query is required"):
        load_specs(path)


def test_oslo_timeslices_slo_becomes_rules_over_time_slices(tmp_path):
    """OpenSLO's own tool's example: a list-form file, a Prometheus ratio budgeted in 1m Timeslices (good when
    the ratio is over 0.95, ``op: gt``), list-valued labels, and Services beside it."""
    (spec,) = load_specs(OSLO / "v1.yaml")
    assert (spec.name, spec.objective, spec.window.label, spec.sli) == ("web-availability", 0.995, "week", None)
    assert spec.labels == {"env": "prod", "team": "team-a,team-b"}
    rules = slo_rules(spec.rules, Generation(default_burn_windows(), {}, "test"))
    first = rules.sli.rules[0]["expr"]
    assert first.startswith("(avg_over_time((((increase((sum(http_requests{") and first.endswith("<= bool 0.95)[1m:1m]))"), "a week's shortest window is a minute"
    assert "[1m:15s]" in first, "a counter is sampled four times a slice"
    promtool_checked_rules([OSLO / "v1.yaml"], tmp_path / "out")


def test_ratio_timeslices_and_time_slices_of_a_jobs_table_sli(tmp_path):
    def slo(method: str, source: dict) -> dict:
        return {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "x"},
                "spec": {"service": "s", "budgetingMethod": method,
                         "objectives": [{"target": 0.99, "timeSliceWindow": 5}],
                         "indicator": {"metadata": {"name": "i"}, "spec": {"ratioMetric": {
                             "rawType": "success", "raw": {"metricSource": source}}}}}}
    path = tmp_path / "slices.yaml"
    path.write_text(yaml.safe_dump(slo("RatioTimeslices", {"type": "prometheus", "spec": {"query": "avg(up)"}})))
    (spec,) = load_specs(path)
    rules = slo_rules(spec.rules, Generation(default_burn_windows(), {}, "test"))
    assert rules.sli.rules[0]["expr"] == "(1 - avg_over_time((avg(up))[5m:5m]))"
    path.write_text(yaml.safe_dump(slo("Timeslices", {"type": "qtenancy", "spec": {"sli": "M1"}})))
    with pytest.raises(SpecError, match=r"spec\.budgetingMethod: Timeslices budgeting of an SLI computed from the jobs "
                                        r"table is not supported"):
        load_specs(path)


def test_prometheus_threshold_metric_per_sample_and_per_slice(tmp_path):
    """The specification's thresholdMetric example (search latency under 500 ms), its source made Prometheus."""
    def slo(method: str, objective: dict) -> dict:
        return {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "search-slo"},
                "spec": {"service": "web-shop", "budgetingMethod": method, "objectives": [objective],
                         "timeWindow": [{"duration": "2w", "isRolling": True}],
                         "indicator": {"metadata": {"name": "search-latency"}, "spec": {"thresholdMetric": {
                             "metricSource": {"type": "Prometheus", "spec": {"query": "search_latency_ms"}}}}}}}
    path = tmp_path / "threshold.yaml"
    path.write_text(yaml.safe_dump_all([
        slo("Occurrences", {"op": "lt", "value": 500, "target": 0.99}),
        {**slo("Timeslices", {"op": "lt", "value": 500, "target": 0.99, "timeSliceTarget": 0.9, "timeSliceWindow": "2m"}),
         "metadata": {"name": "search-slices"}},
    ]))
    per_sample, per_slice = load_specs(path)
    generation = Generation(default_burn_windows(), {}, "test")
    assert slo_rules(per_sample.rules, generation).sli.rules[0]["expr"] == \
        "(1 - (avg_over_time(((search_latency_ms) < bool 500.0)[2m:])))", "a fortnight's shortest window: 5m x 14/30"
    assert slo_rules(per_slice.rules, generation).sli.rules[0]["expr"] == \
        "(avg_over_time(((avg_over_time(((search_latency_ms) < bool 500.0)[2m:30s])) < bool 0.9)[2m:2m]))"
    promtool_checked_rules([path], tmp_path / "out")
    path.write_text(yaml.safe_dump(slo("Occurrences", {"target": 0.99})))
    with pytest.raises(SpecError, match=r"spec\.objectives\[0\]: an objective of a thresholdMetric SLI needs op and value"):
        load_specs(path)
