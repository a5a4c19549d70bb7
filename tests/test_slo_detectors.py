"""Fairness, billing, reproducibility, drift, noisy-neighbour and outage analysis: hand-made cases, and the
shipped game day scored against the emulator's ground truth (the calm week must raise nothing).

Odd input tried for outages: a backend reported down twice before it came back, one still down at the instant
of the analysis, a status change after that instant, a blip shorter than the alert's hold, a backend back up and
down again at one instant, and a store with no status records at all.
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from collector.correlate import read_jobs
from contract.tables import BACKEND_STATUS_SCHEMA
from slo.billing import per_tenant
from slo.drift import detect, unexplained
from slo.fairness import jain_index, shares, starvation_episodes
from slo.noisy_neighbour import attribute
from slo.platform_signals import outage_signals
from slo.reproducibility import repeats

T0 = datetime(2026, 5, 1, tzinfo=UTC)
US = pl.Datetime("us", "UTC")


def _frame(rows: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(rows, infer_schema_length=None).lazy().with_columns(
        pl.col(c).cast(US) for c in ("execute_start", "execute_end", "queue_start", "finished_at") if c in rows[0]
    )


def test_shares_against_quotas_and_jains_index():
    rows = [{"tenant": t, "execute_start": T0 + timedelta(minutes=i + 1), "exec_seconds": s, "queue_wait_seconds": w}
            for i, (t, s, w) in enumerate([("a", 60.0, 5.0), ("a", 20.0, 50.0), ("b", 20.0, 1.0)])]
    table = shares(_frame(rows), {"a": 0.5, "b": 0.25, "c": 0.25}, T0, T0 + timedelta(hours=1))
    by = {r["tenant"]: r for r in table.iter_rows(named=True)}
    assert by["a"]["share"] == pytest.approx(0.8) and by["b"]["share"] == pytest.approx(0.2)
    assert by["a"]["share_minus_quota"] == pytest.approx(0.3) and by["c"]["jobs"] == 0
    assert by["a"]["longest_wait_seconds"] == 50.0
    x = np.array([0.8 / 0.5, 0.2 / 0.25])
    assert jain_index(table) == pytest.approx(x.sum() ** 2 / (2 * (x**2).sum())), "c had no work and does not count"


def test_starvation_episodes_merge_overlapping_waits():
    rows = [
        {"tenant": "a", "provenance_id": "1", "queue_start": T0, "execute_start": T0 + timedelta(minutes=90), "finished_at": None},
        {"tenant": "a", "provenance_id": "2", "queue_start": T0 + timedelta(minutes=10), "execute_start": T0 + timedelta(minutes=130), "finished_at": None},
        {"tenant": "a", "provenance_id": "3", "queue_start": T0 + timedelta(hours=5), "execute_start": T0 + timedelta(hours=5, minutes=5), "finished_at": None},
    ]
    found = starvation_episodes(_frame(rows), 3600, T0, T0 + timedelta(hours=6))
    assert found.select("tenant", "start", "end", "jobs").rows() == [
        ("a", T0 + timedelta(hours=1), T0 + timedelta(minutes=130), 2)
    ]


def test_billing_under_and_over_against_what_the_meter_owes():
    start = T0 + timedelta(seconds=3)
    rows = [
        {"provenance_id": "1", "tenant": "a", "backend": "b", "finished_at": T0 + timedelta(minutes=1), "billed_seconds": 5.0,
         "execute_start": start, "execute_end": start + timedelta(seconds=4), "exec_seconds": 4.0},
        {"provenance_id": "2", "tenant": "a", "backend": "b", "finished_at": T0 + timedelta(minutes=2), "billed_seconds": 7.5,
         "execute_start": start, "execute_end": start + timedelta(seconds=12), "exec_seconds": 12.0},
        {"provenance_id": "3", "tenant": "a", "backend": "b", "finished_at": T0 + timedelta(minutes=3), "billed_seconds": 10.0,
         "execute_start": start, "execute_end": start + timedelta(seconds=1), "exec_seconds": 1.0},
    ]
    sampled = {"meter": "sampled", "meter_granularity_seconds": 5.0, "meter_minimum_seconds": None,
               "meter_reserved_jobs": None, "reserved": False}
    row = per_tenant(_frame([{**r, **sampled} for r in rows]), T0, T0 + timedelta(hours=1)).row(0, named=True)
    assert (row["owed_seconds"], row["billed_seconds"], row["used_seconds"]) == (15.0, 22.5, 17.0), "5 + 10 + 0 owed"
    assert row["under_billed_seconds"] == 2.5 and row["over_billed_seconds"] == 10.0 and row["misbilled_jobs"] == 2


def _repeated(fidelities: list[float], shots: int) -> pl.LazyFrame:
    return pl.DataFrame({
        "circuit_hash": "c", "backend": "b", "calibration_id": 1, "shots": shots, "tenant": "a", "namespace": "n",
        "finished_at": [T0] * len(fidelities), "measured_fidelity": fidelities,
    }).lazy().with_columns(pl.col("finished_at").cast(US))


def test_reproducibility_accounts_for_shot_noise():
    rng = np.random.default_rng(5)
    p = np.array([0.45, 0.45, 0.05, 0.05])
    ideal = np.array([0.5, 0.5, 0.0, 0.0])

    def fidelity(counts, n):
        return float((np.sqrt(counts / n) * np.sqrt(ideal)).sum() ** 2)

    noisy_but_fine = [fidelity(rng.multinomial(100, p), 100) for _ in range(30)]
    table = repeats(_repeated(noisy_but_fine, 100))
    assert np.std(noisy_but_fine) > 0.02, "100-shot runs really are spread out"
    assert table["p_value"][0] > 0.01, "and shot noise explains it"
    drifting = [fidelity(rng.multinomial(10_000, p * (1 - d) + d / 4), 10_000) for d in np.linspace(0, 0.1, 30)]
    assert np.std(drifting) < np.std(noisy_but_fine)
    assert repeats(_repeated(drifting, 10_000))["p_value"][0] < 1e-6, "a smaller spread at 10,000 shots is not shot noise"


def test_game_day_drift_is_found_on_the_right_backend_within_two_hours(game_day, game_day_store):
    jobs = read_jobs(game_day_store)
    drifts = unexplained(detect(jobs), attribute(jobs))
    f1 = next(f for f in game_day.ground_truth["faults"] if f["id"] == "F1")
    start = datetime.fromisoformat(f1["start"])
    assert drifts["backend"].to_list() == [f1["backend"]]
    delay = drifts["detected_at"][0] - start
    assert timedelta(0) < delay <= timedelta(hours=2), delay


def test_game_day_noisy_neighbour_names_the_antagonist(game_day, game_day_store):
    incidents = attribute(read_jobs(game_day_store))
    f4 = next(f for f in game_day.ground_truth["faults"] if f["id"] == "F4")
    start, end = datetime.fromisoformat(f4["start"]), datetime.fromisoformat(f4["end"])
    correct = incidents.filter(
        pl.col("suspect") == f4["antagonist"], pl.col("victim").is_in(f4["victims"]),
        pl.col("start") < end, pl.col("end") > start,
    )
    precision = correct.height / incidents.height
    recall = correct["victim"].n_unique() / len(f4["victims"])
    assert precision >= 0.9 and recall >= 0.9, (precision, recall, incidents)
    assert (incidents["control_group"] == f4["control_group"]).all()
    assert (correct["suspect_workload"] == f"noisy-neighbour-{f4['backend']}").all(), "the flood, not startup's demos"
    assert (correct["suspect_backends"].list.contains(f4["backend"])).all()
    assert correct["detected_at"].min() - start <= timedelta(minutes=20)
    assert (correct["effect"] > 5 * correct["usual_effect"].clip(lower_bound=0.01)).all()


def _co_running(effect_of: dict[str, float], hours: float = 8, seed: int = 3) -> pl.LazyFrame:
    """A hand-made control group: victims run back to back on backend v while three tenants take turns on backend
    n; each victim result loses the share of fidelity its co-runner costs (per tenant and hour, 0.5% unless
    given), plus shot noise. Nothing here comes from the emulator."""
    rng = np.random.default_rng(seed)
    rows, t, n = [], 0.0, 0
    tenants = ["quiet", "steady", "busy"]
    while t < hours * 3600:
        other = tenants[n % 3]
        rows.append({"provenance_id": f"n{n}", "tenant": other, "workload": "w", "backend": "n", "control_group": "g",
                     "execute_start": T0 + timedelta(seconds=t), "execute_end": T0 + timedelta(seconds=t + 6),
                     "measured_fidelity": None, "predicted_fidelity": None, "circuit_hash": "x", "circuit_family": "ghz",
                     "calibration_id": 1})
        for k in range(3):
            start = t + 2 * k
            hour = int(start // 3600)
            loss = effect_of.get(other, {}).get(hour, 0.005)
            measured = 0.8 * (1 - loss) * np.exp(rng.normal(0, 0.002))
            rows.append({"provenance_id": f"v{n}-{k}", "tenant": "victim", "workload": "w", "backend": "v",
                         "control_group": "g", "execute_start": T0 + timedelta(seconds=start),
                         "execute_end": T0 + timedelta(seconds=start + 2), "measured_fidelity": measured,
                         "predicted_fidelity": 0.8, "circuit_hash": "c", "circuit_family": "ghz", "calibration_id": 1})
        t, n = t + 6, n + 1
    return _frame(rows)


def test_a_neighbour_is_judged_against_what_co_running_usually_costs():
    """Every tenant's co-running costs 0.5% of fidelity; the busy one starts costing 5% in hours 4 and 5."""
    flood = {"busy": {4: 0.05, 5: 0.05}}
    found = attribute(_co_running(flood))
    assert found["suspect"].unique().to_list() == ["busy"] and found["victim"].unique().to_list() == ["victim"]
    assert T0 + timedelta(hours=3) <= found["start"].min() <= T0 + timedelta(hours=4, minutes=10)
    assert found["detected_at"].min() <= T0 + timedelta(hours=5), "within one trailing window of its start"
    assert found["suspect_backends"].to_list() == [["n"]]
    assert attribute(_co_running({})).is_empty(), "the same ordinary crosstalk all day is nobody's fault"


def test_a_drift_is_growth_under_one_calibration_not_a_calibration_that_reads_differently():
    """Hand-made results of one circuit on one backend: each calibration reads the backend a little differently
    (the level jumps between calibrations); a defect then adds 3% more error every 10 minutes in hour 14."""
    rng = np.random.default_rng(4)
    rows = []
    for minute in range(0, 24 * 60, 2):
        epoch = minute // 360
        offset = [0.0, 0.03, -0.03, 0.02][epoch]
        ramp = 0.03 * max(0, minute - 14 * 60) / 10 if minute < 18 * 60 else 0.0
        excess = offset + ramp + rng.normal(0, 0.005)
        depth = -np.log(0.7)
        rows.append({"provenance_id": f"j{minute}", "tenant": "t", "workload": "w", "backend": "b", "control_group": "g",
                     "execute_start": T0 + timedelta(minutes=minute), "execute_end": T0 + timedelta(minutes=minute, seconds=5),
                     "measured_fidelity": 0.7 * np.exp(-excess * depth), "predicted_fidelity": 0.7, "circuit_hash": "c",
                     "circuit_family": "qft", "calibration_id": epoch})
    drifts = detect(_frame(rows))
    assert drifts.height == 1 and drifts["backend"][0] == "b"
    assert T0 + timedelta(hours=14) < drifts["detected_at"][0] <= T0 + timedelta(hours=15, minutes=20), \
        "15% more error takes 50 minutes at this pace, the trailing half-hour window 15 more"
    steady = [r | {"measured_fidelity": 0.7 * np.exp(-([0.0, 0.03, -0.03, 0.02][r["calibration_id"]]) * -np.log(0.7))}
              for r in rows]
    assert detect(_frame(steady)).is_empty(), "calibrations that read the backend differently are not drift"


def test_calm_week_raises_no_incident_and_no_drift(calm_store):
    jobs = read_jobs(calm_store)
    incidents = attribute(jobs)
    assert incidents.is_empty(), incidents
    assert detect(jobs).is_empty()


def test_cli_report_and_validate(game_day_store, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from .conftest import ROOT, SCENARIOS

    data = tmp_path / "data"
    data.mkdir()
    (data / "store").symlink_to(game_day_store)
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "qtenancy", "slo", "report", "--data-dir", str(data), "--format", "json",
         "--quotas", str(SCENARIOS / "game-day.yaml")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    billing = {r["group"]: r for r in report["slos"] if r["slo"] == "billing-accuracy"}
    assert billing["fintech"]["sli"] < 1.0 and billing["physics"]["sli"] == 1.0, "F5 shows on fintech alone"
    assert [d["backend"] for d in report["drift"]] == ["perth"]
    assert {i["suspect"] for i in report["noisy_neighbours"]} == {"startup"}
    assert 0 < report["jain_index"] <= 1
    tenant = subprocess.run([sys.executable, "-m", "qtenancy", "slo", "report", "--data-dir", str(data), "--tenant", "qchem",
                             "--format", "markdown", "--window", "7d"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert tenant.returncode == 0 and "| job-success-tenant | qchem |" in tenant.stdout
    assert "| job-success-tenant | physics |" not in tenant.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: qtenancy/v1\nslos:\n  - {name: x, sli: M1, objective: 150}\n")
    refused = subprocess.run([sys.executable, "-m", "qtenancy", "slo", "validate", str(bad)], capture_output=True, text=True,
                             cwd=ROOT, env=env)
    assert refused.returncode == 2 and "slos.0.objective: Input should be less than or equal to 100" in refused.stderr
    ok = subprocess.run([sys.executable, "-m", "qtenancy", "slo", "validate", str(ROOT / "slo" / "specs")],
                        capture_output=True, text=True, cwd=ROOT, env=env)
    assert ok.returncode == 0 and "job-success-platform: rules and analytical SLI M1" in ok.stdout


def test_an_outage_is_what_the_backend_reported_whether_or_not_a_job_failed():
    def change(backend, hours, up):
        at = T0 + timedelta(hours=hours)
        return {"status_key": f"{backend}@{at}", "backend": backend, "at": at, "up": up}

    status = pl.DataFrame([change("lima", 0, True), change("lima", 1, False), change("lima", 1.2, False),
                           change("lima", 3, True), change("kolkata", 5, False), change("kolkata", 7, True),
                           change("perth", 2, False), change("perth", 2 + 1 / 60, True),
                           change("oslo", 4, False), change("oslo", 3, False), change("oslo", 4, True),
                           change("oslo", 4.5, True)],
                          schema=BACKEND_STATUS_SCHEMA).lazy()
    found = outage_signals(status, T0 + timedelta(hours=6)).collect().sort("start", "evidence")
    assert found["backends"].to_list() == [["lima"], ["oslo"], ["oslo"], ["kolkata"]], \
        "perth's one-minute blip is no outage; oslo back up and down again at 4 h is two"
    assert found["start"].to_list() == [T0 + timedelta(hours=h) for h in (1, 3, 4, 5)]
    assert found["detected_at"].to_list() == [s + timedelta(minutes=2) for s in found["start"]], \
        "raised once down for the alert's 2 min hold, as Prometheus would"
    assert found["end"].to_list() == [T0 + timedelta(hours=h) for h in (3, 4, 4.5, 6)], \
        "kolkata came back after the analysis instant: down until then"
    assert found["evidence"].to_list() == ["lima reported down for 120 min", "oslo reported down for 60 min",
                                           "oslo reported down for 30 min", "kolkata reported down for 60 min, and still is"]
    assert set(found["alert"]) == {"QtenancyBackendDown"} and set(found["signal"]) == {"backend_down"}
    assert outage_signals(None, T0).collect().is_empty()
    assert outage_signals(pl.DataFrame(schema=BACKEND_STATUS_SCHEMA).lazy(), T0).collect().is_empty()


def test_signals_and_their_example_jobs_do_not_depend_on_the_order_jobs_are_stored_in(game_day_store):
    """Odd input tried: the same correlated jobs in the opposite row order, as another compaction could leave
    them. Every signal, its example job included, must come out the same, so a postmortem is the same bytes."""
    from dataclasses import replace

    from contract.billing import BillingTerms
    from slo.analysis import detect as detect_all
    from slo.analysis import store_tables
    from slo.report import data_end
    from slo.shipped import shipped_specs
    from slo.spec_files import load_all

    specs = load_all([shipped_specs()])
    tables = store_tables(game_day_store, BillingTerms())
    as_of = data_end(tables)
    stored = detect_all(specs, tables, as_of).signals
    reversed_jobs = replace(tables, jobs=tables.jobs.collect().reverse().lazy())
    again = detect_all(specs, reversed_jobs, as_of).signals
    assert stored.height > 0 and stored["first_job"].null_count() < stored.height
    assert again.equals(stored), pl.concat([stored, again]).unique(keep="none")
