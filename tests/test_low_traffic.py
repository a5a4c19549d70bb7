"""The low-traffic guard: a burn alert needs ``min_events`` events in its long window, so one bad job among a
handful does not page, while the same share of bad jobs on a busy group does. The analytical path and the
generated rules (run by the real promtool) apply the same guard; 0 turns it off; a spec that says nothing
gets the catalogue's default.

Bad input tried: a negative ``min_events`` and a non-integer one (refused, naming the file and field).
"""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import yaml

from contract.alert_catalogue import LOW_TRAFFIC_MIN_EVENTS
from slo.burn_rate import burn_rates, episodes
from slo.spec_files import load_specs

from .conftest import ROOT, system_tool

START = datetime(2026, 11, 2, tzinfo=UTC)
HOURS = 7


def _spec(path, min_events: int | None) -> None:
    slo = {"name": "job-success-tenant", "sli": "M1", "objective": 99, "group_by": "tenant",
           "description": "Admitted jobs that returned a usable result, for each tenant."}
    if min_events is not None:
        slo["min_events"] = min_events
    path.write_text(yaml.safe_dump({"version": "qtenancy/v1", "slos": [slo]}))


def _events(per_hour: dict[str, int], bad_share: float) -> pl.LazyFrame:
    """Evenly spaced jobs per tenant over ``HOURS``, every n-th one bad so that ``bad_share`` of them are."""
    frames = []
    for group, rate in per_hour.items():
        n = rate * HOURS
        every = round(1 / bad_share)
        frames.append(pl.DataFrame({
            "time": [START + timedelta(seconds=(i + 1) * 3600 / rate) for i in range(n)],
            "group": [group] * n,
            "good": [i % every != every - 1 for i in range(n)],
        }))
    return pl.concat(frames).lazy()


@pytest.mark.parametrize(("min_events", "paged"), [(LOW_TRAFFIC_MIN_EVENTS, {"busy"}), (0, {"busy", "quiet"})])
def test_the_analytical_guard_silences_a_quiet_group_and_not_a_busy_one(min_events, paged):
    """A third of the jobs fail in both groups: 30 times the budget of a 99% objective. The quiet tenant runs
    one job an hour, fewer than 20 in any long window of 7 hours; the busy one 600."""
    events = _events({"quiet": 1, "busy": 600}, 1 / 3)
    rates = burn_rates(events, 0.99, START, START + timedelta(hours=HOURS), min_events=min_events)
    assert set(episodes(rates, "page")["group"]) == paged
    assert rates.filter(pl.col("group") == "quiet")["burn_1h"].max() > 14.4, "the quiet tenant does burn"


def test_the_spec_sets_the_guard_and_refuses_bad_values(tmp_path):
    default, five, off = tmp_path / "default.yaml", tmp_path / "five.yaml", tmp_path / "off.yaml"
    _spec(default, None)
    _spec(five, 5)
    _spec(off, 0)
    assert [load_specs(p)[0].min_events for p in (default, five, off)] == [LOW_TRAFFIC_MIN_EVENTS, 5, 0]
    for bad, reason in ((-1, "greater than or equal to 0"), ("many", "valid integer")):
        path = tmp_path / f"bad-{bad}.yaml"
        _spec(path, bad)
        with pytest.raises(ValueError) as refused:
            load_specs(path)
        message = " ".join(str(refused.value).split())
        assert str(path) in message and "min_events" in message and reason in message, message


def _generate(spec, out) -> dict:
    subprocess.run([sys.executable, "-m", "qtenancy", "alerts", "generate", str(spec), "-o", str(out)],
                   check=True, capture_output=True, cwd=ROOT)
    return yaml.safe_load((out / "rules" / "slo-rules.yaml").read_text())


def _jobs(tenant: str, per_minute: float) -> list[dict]:
    labels = f'tenant="{tenant}", namespace="n", backend="b"'
    return [
        {"series": f'qtenancy_jobs_total{{{labels}, outcome="succeeded", usable="true"}}',
         "values": f"0+{per_minute * 2 / 3:g}x{HOURS * 60}"},
        {"series": f'qtenancy_jobs_total{{{labels}, outcome="failed", usable="false"}}',
         "values": f"0+{per_minute / 3:g}x{HOURS * 60}"},
    ]


@pytest.mark.parametrize(("min_events", "paged"), [(None, ["busy"]), (0, ["busy", "quiet"])])
def test_the_generated_rules_guard_alike_on_promtool(tmp_path, min_events, paged):
    """The same two tenants as series: promtool evaluates the generated page alert at 7 h."""
    spec = tmp_path / "spec.yaml"
    _spec(spec, min_events)
    rules = _generate(spec, tmp_path / "out")
    [alert] = [r for g in rules["groups"] for r in g["rules"]
               if r.get("alert") == "JobSuccessTenantErrorBudgetBurn" and r["labels"]["sloth_severity"] == "page"]
    guard = f">= {LOW_TRAFFIC_MIN_EVENTS})"
    assert (guard in alert["expr"]) == (min_events is None), alert["expr"]
    expected = [{"exp_labels": {"sloth_id": "qtenancy-job-success-tenant", "sloth_service": "qtenancy",
                                "sloth_slo": "job-success-tenant", "tenant": tenant, "qtenancy_sli": "M1",
                                "severity": "page", "sloth_severity": "page"}} for tenant in paged]
    test = tmp_path / "test.yaml"
    test.write_text(yaml.safe_dump({
        "rule_files": [str(tmp_path / "page.yaml")], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": _jobs("quiet", 1 / 60) + _jobs("busy", 10),
                   "alert_rule_test": [{"eval_time": f"{HOURS}h", "alertname": "JobSuccessTenantErrorBudgetBurn",
                                        "exp_alerts": expected}]}],
    }))
    records = [g for g in rules["groups"] if all("record" in r for r in g["rules"])]
    unannotated = {key: value for key, value in alert.items() if key != "annotations"}
    (tmp_path / "page.yaml").write_text(yaml.safe_dump({"groups": records + [{"name": "page", "rules": [unannotated]}]}))
    done = subprocess.run([system_tool("promtool"), "test", "rules", str(test)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
