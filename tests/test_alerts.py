"""Generated rules and Alertmanager configuration, checked by the real tools: promtool check rules, amtool
check-config, and promtool test rules with a firing and a silent case for every alert.

Bad input tried: a --label without '=', a spec whose queue-wait threshold is not a histogram bucket, alone and
beside specs that do give rules (and an M6 spec, which gives none by design).
"""

import os
import subprocess
import sys

import pytest
import yaml

from alerts.operational import ALERTS

from .conftest import ROOT, system_tool

RUNBOOK_BASE = "https://runbooks.example/qtenancy"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("rules")
    done = subprocess.run(
        [sys.executable, "-m", "qtenancy", "alerts", "generate", str(ROOT / "slo" / "specs"), "-o", str(out),
         "--runbook-base", RUNBOOK_BASE], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "no rules: billing-accuracy: SLI M6 has no real-time signal" in done.stderr
    return out


def test_promtool_and_amtool_accept_the_generated_files(generated):
    done = subprocess.run([system_tool("promtool"), "check", "rules", str(generated / "rules" / "slo-rules.yaml"),
                           str(generated / "rules" / "operational-rules.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 68 rules found" in done.stdout and "SUCCESS: 10 rules found" in done.stdout
    done = subprocess.run([system_tool("amtool"), "check-config", str(generated / "alertmanager.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 inhibit rules" in done.stdout


def test_generation_is_deterministic_and_every_runbook_ships(generated, tmp_path):
    again = tmp_path / "again"
    subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(ROOT / "slo" / "specs"), "-o", str(again),
                    "--runbook-base", RUNBOOK_BASE], check=True, capture_output=True, cwd=ROOT)
    for name in ("rules/slo-rules.yaml", "rules/operational-rules.yaml", "alertmanager.yml"):
        assert (generated / name).read_bytes() == (again / name).read_bytes(), name
    for name in ("rules/slo-rules.yaml", "rules/operational-rules.yaml"):
        for group in yaml.safe_load((generated / name).read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    url = rule["annotations"]["runbook_url"]
                    assert url.startswith(RUNBOOK_BASE)
                    assert (ROOT / "docs" / "runbooks" / url.removeprefix(RUNBOOK_BASE + "/")).exists(), url


def _expand(template: str, labels: dict) -> str:
    for key, value in labels.items():
        template = template.replace(f"{{{{$labels.{key}}}}}", value)
    return template


def _series(name: str, labels: dict, values: str) -> dict:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def _histogram(tenant: str, counts: dict) -> list[dict]:
    bounds = ["1.0", "5.0", "10.0", "30.0", "60.0", "300.0", "600.0", "1800.0", "3600.0", "7200.0", "+Inf"]
    series = [_series("qtenancy_job_queue_wait_seconds_bucket", {"tenant": tenant, "priority": "interactive", "le": b},
                      counts.get(b, counts["default"])) for b in bounds]
    return series + [_series("qtenancy_tenant_queue_wait_target_seconds", {"tenant": tenant}, "30x40")]


def _summary(name: str, labels: dict, mean: float) -> list[dict]:
    return [_series(f"{name}_sum", labels, f"0+{mean * 10:g}x80"), _series(f"{name}_count", labels, "0+10x80")]


TB = {"tenant": "a", "backend": "manila"}
CASES = {
    "QtenancyCalibrationFailing": (
        "6h", {"backend": "perth"},
        [_series("qtenancy_calibration_runs_total", {"backend": "perth", "verdict": "fail"}, "0+0.1x100")],
        [_series("qtenancy_calibration_runs_total", {"backend": "perth", "verdict": "fail"}, "0+0x100")]),
    "QtenancyBackendOutOfRotation": (
        "50m", {"backend": "perth"},
        [_series("qtenancy_backend_in_rotation", {"backend": "perth"}, "1 1 0x60")],
        [_series("qtenancy_backend_in_rotation", {"backend": "perth"}, "1x60")]),
    "QtenancyBackendDown": (
        "30m", {"backend": "perth"},
        [_series("qtenancy_backend_up", {"backend": "perth"}, "1 0x40")],
        [_series("qtenancy_backend_up", {"backend": "perth"}, "1x40")]),
    "QtenancyBackendCalibrating": (
        "10m", {"backend": "perth"},
        [_series("qtenancy_backend_calibrating", {"backend": "perth"}, "1x20")],
        [_series("qtenancy_backend_calibrating", {"backend": "perth"}, "0x20")]),
    "QtenancyQueueBacklog": (
        "30m", {"backend": "quito"},
        [_series("qtenancy_queue_length", {"backend": "quito", "tenant": "a"}, "600x40")],
        [_series("qtenancy_queue_length", {"backend": "quito", "tenant": "a"}, "100x40")]),
    "QtenancyQueueWaitHigh": (
        "40m", {"tenant": "a"},
        _histogram("a", {"1.0": "0x40", "5.0": "0x40", "10.0": "0x40", "30.0": "0x40", "60.0": "0x40", "default": "0+10x40"}),
        _histogram("a", {"1.0": "0x40", "default": "0+10x40"})),
    "QtenancySchedulerStarvation": (
        "20m", {"tenant": "quantum-ml"},
        [_series("qtenancy_queue_oldest_job_age_seconds", {"tenant": "quantum-ml"}, "4000x30")],
        [_series("qtenancy_queue_oldest_job_age_seconds", {"tenant": "quantum-ml"}, "100x30")]),
    "QtenancyTelemetryGap": (
        "30m", {"backend": "nairobi"},
        [_series("qtenancy_telemetry_spans_dropped_total", {"backend": "nairobi"}, "0+5x40")],
        [_series("qtenancy_telemetry_spans_dropped_total", {"backend": "nairobi"}, "0x40")]),
    "QtenancyBillingDelta": (
        "4h", {"tenant": "fintech"},
        [_series("qtenancy_billed_seconds_total", {"backend": "b", "tenant": "fintech"}, "0+30x300"),
         _series("qtenancy_backend_busy_seconds_total", {"backend": "b", "tenant": "fintech"}, "0+60x300")],
        [_series("qtenancy_billed_seconds_total", {"backend": "b", "tenant": "fintech"}, "0+61x300"),
         _series("qtenancy_backend_busy_seconds_total", {"backend": "b", "tenant": "fintech"}, "0+60x300")]),
    "QtenancyFidelityBelowPrediction": (
        "1h", TB,
        _summary("qtenancy_job_fidelity_ratio", TB, 0.8) + _summary("qtenancy_job_expected_fidelity_ratio", TB, 0.9),
        _summary("qtenancy_job_fidelity_ratio", TB, 0.9) + _summary("qtenancy_job_expected_fidelity_ratio", TB, 0.89)),
}


def _job_series(errors_per_minute: float) -> list[dict]:
    base = {"tenant": "a", "namespace": "n", "backend": "b"}
    return [
        _series("qtenancy_jobs_total", {**base, "outcome": "succeeded", "usable": "true"}, f"0+{100 - errors_per_minute:g}x600"),
        _series("qtenancy_jobs_total", {**base, "outcome": "failed", "usable": "false"}, f"0+{errors_per_minute:g}x600"),
    ]


def _waits(over_threshold_per_minute: int) -> list[dict]:
    labels = {"tenant": "uni-lab", "priority": "interactive"}
    return [
        _series("qtenancy_job_queue_wait_seconds_count", labels, "0+100x600"),
        _series("qtenancy_job_queue_wait_seconds_bucket", {**labels, "le": "30.0"}, f"0+{100 - over_threshold_per_minute}x600"),
    ]


def _spans(dropped_per_minute: int) -> list[dict]:
    return [_series("qtenancy_telemetry_spans_exported_total", {"backend": "nairobi"}, "0+100x600"),
            _series("qtenancy_telemetry_spans_dropped_total", {"backend": "nairobi"}, f"0+{dropped_per_minute}x600")]


DESCRIPTIONS = {
    "job-success-tenant": "Admitted jobs that returned a usable result, for each tenant.",
    "queue-wait-interactive": "Interactive jobs that waited at most 30 s for a backend.",
    "telemetry-completeness": "Jobs whose every lifecycle stage arrived, linked by provenance ID.",
}
SLO_BURNS = (
    ("JobSuccessTenantErrorBudgetBurn", "job-success-tenant", {"tenant": "a", "qtenancy_sli": "M1"}, ["ticket"],
     _job_series(10), _job_series(1)),
    ("QueueWaitInteractiveErrorBudgetBurn", "queue-wait-interactive", {"tenant": "uni-lab", "qtenancy_sli": "M2"},
     ["page", "ticket"], _waits(50), _waits(1)),
    ("TelemetryCompletenessErrorBudgetBurn", "telemetry-completeness", {"backend": "nairobi", "qtenancy_sli": "M5"},
     ["page", "ticket"], _spans(1), _spans(0)),
)


def test_promtool_unit_tests_fire_and_stay_silent_for_every_alert(generated, tmp_path):
    assert set(CASES) == {a.name for a in ALERTS}, "every operational alert has its firing and silent case"
    slo_alerts = {r["alert"] for g in yaml.safe_load((generated / "rules" / "slo-rules.yaml").read_text())["groups"]
                  for r in g["rules"] if "alert" in r}
    assert slo_alerts == {"JobSuccessPlatformErrorBudgetBurn"} | {b[0] for b in SLO_BURNS}
    by_name = {a.name: a for a in ALERTS}
    tests = []
    for name, (at, labels, firing, silent) in CASES.items():
        alert = by_name[name]
        expected_labels = {**labels, "severity": alert.severity, **({"scope": "backend"} if alert.backend_scoped else {})}
        annotations = {"summary": _expand(alert.summary, labels), "description": alert.description,
                       "runbook_url": f"{RUNBOOK_BASE}/{alert.runbook}.md"}
        tests.append({"interval": "5m" if name == "QtenancyCalibrationFailing" else "1m", "input_series": firing,
                      "alert_rule_test": [{"eval_time": at, "alertname": name,
                                           "exp_alerts": [{"exp_labels": expected_labels, "exp_annotations": annotations}]}]})
        tests.append({"interval": "5m" if name == "QtenancyCalibrationFailing" else "1m", "input_series": silent,
                      "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": []}]})
    slo = {"sloth_id": "qtenancy-job-success-platform", "sloth_service": "qtenancy", "sloth_slo": "job-success-platform",
           "qtenancy_sli": "M1"}
    burn = "JobSuccessPlatformErrorBudgetBurn"
    both = [
        {"exp_labels": {**slo, "severity": severity, "sloth_severity": severity},
         "exp_annotations": {
             "summary": "qtenancy job-success-platform SLO error budget burn rate is over expected.",
             "title": f"({severity}) qtenancy job-success-platform SLO error budget burn rate is too fast.",
             "runbook_url": f"{RUNBOOK_BASE}/slo-burn.md",
             "description": "Admitted jobs that returned a usable result, platform-wide.",
         }}
        for severity in ("page", "ticket")
    ]
    tests.append({"interval": "1m", "input_series": _job_series(10),
                  "alert_rule_test": [{"eval_time": "7h", "alertname": burn, "exp_alerts": both}]})
    tests.append({"interval": "1m", "input_series": _job_series(0.05),
                  "alert_rule_test": [{"eval_time": "7h", "alertname": burn, "exp_alerts": []}]})
    for name, slo_name, group, severities, firing, silent in SLO_BURNS:
        labels = {"sloth_id": f"qtenancy-{slo_name}", "sloth_service": "qtenancy", "sloth_slo": slo_name, **group}
        expected = [
            {"exp_labels": {**labels, "severity": severity, "sloth_severity": severity},
             "exp_annotations": {
                 "summary": f"qtenancy {slo_name} SLO error budget burn rate is over expected.",
                 "title": f"({severity}) qtenancy {slo_name} SLO error budget burn rate is too fast.",
                 "runbook_url": f"{RUNBOOK_BASE}/slo-burn.md", "description": DESCRIPTIONS[slo_name],
             }}
            for severity in severities
        ]
        tests.append({"interval": "1m", "input_series": firing,
                      "alert_rule_test": [{"eval_time": "7h", "alertname": name, "exp_alerts": expected}]})
        tests.append({"interval": "1m", "input_series": silent,
                      "alert_rule_test": [{"eval_time": "7h", "alertname": name, "exp_alerts": []}]})
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(yaml.safe_dump({
        "rule_files": [str(generated / "rules" / "slo-rules.yaml"), str(generated / "rules" / "operational-rules.yaml")],
        "evaluation_interval": "1m",
        "tests": tests,
    }, sort_keys=False))
    done = subprocess.run([system_tool("promtool"), "test", "rules", str(spec)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "SUCCESS" in done.stdout


def test_bad_generation_input_is_refused(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: qtenancy/v1\nslos:\n  - {name: wait, sli: M2, objective: 95, threshold: 45s}\n")
    done = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(bad), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2, "a request that gives no rule at all is an error, not an empty rule file"
    assert "no spec gives a rule: wait: threshold 45s is not a bucket of qtenancy_job_queue_wait_seconds" in done.stderr
    assert not (tmp_path / "o").exists()
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("version: qtenancy/v1\nslos:\n  - {name: success, sli: M1, objective: 99}\n"
                     "  - {name: bills, sli: M6, objective: 100}\n"
                     "  - {name: wait, sli: M2, objective: 95, threshold: 45s, filter: {backend: [perth]}}\n")
    done = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(mixed), "-o", str(tmp_path / "m")],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2, "one spec that cannot become rules fails the generation, as in Sloth"
    message = " ".join(done.stderr.split())
    assert "these specs give no rule, so none were written: wait: " in message and "bills" not in message
    assert not (tmp_path / "m").exists()
    label = subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(bad), "-o", str(tmp_path / "o"),
                            "--label", "oops"], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert label.returncode == 2 and "--label" in label.stderr
