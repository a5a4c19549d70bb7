"""The emulator's behaviour, asserted on runs of small scenarios and of the shipped game day."""

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta

import polars as pl

from contract.billing import Meter, MeterKind
from emulator.job_trace import stage_spans
from emulator.run import emulate
from emulator.run_output import write_run
from emulator.scenario import load_scenario, parse_offset

from .conftest import ROOT, SCENARIOS, TEST_SCENARIOS, run_of


def _at(run, offset: str):
    return run.scenario.start + timedelta(seconds=parse_offset(offset))


def test_cli_emulates_the_calm_week_and_prints_the_summary(tmp_path):
    out = tmp_path / "calm"
    done = subprocess.run(
        [sys.executable, "-m", "qtenancy", "emulate", "--scenario", str(SCENARIOS / "calm-week.yaml"),
         "--days", "2", "--seed", "1", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    for column in ("tenant", "jobs", "success", "median queue wait", "backend time share", "quota"):
        assert column in done.stdout
    for tenant in ("qchem", "uni-lab", "fintech", "physics", "startup", "quantum-ml"):
        assert tenant in done.stdout
    jobs = pl.read_parquet(out / "jobs.parquet")
    assert jobs.height > 30_000
    scenario = load_scenario(SCENARIOS / "calm-week.yaml")
    assert scenario.start + timedelta(days=1.9) < jobs["submitted_at"].max() < scenario.start + timedelta(days=2)
    assert json.loads((out / "ground_truth.json").read_text())["faults"] == []


def test_cli_rejects_a_bad_scenario_with_its_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbackends: []\ntenants: []\n")
    done = subprocess.run(
        [sys.executable, "-m", "qtenancy", "emulate", "--scenario", str(bad)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2
    assert "bad.yaml: invalid scenario" in done.stderr
    assert "backends: List should have at least 1 item" in done.stderr


def _digest(run, tmp_path, name) -> dict[str, str]:
    paths = write_run(run, tmp_path / name, audit_key=b"one key for both runs")
    return {key: hashlib.sha256(path.read_bytes()).hexdigest() for key, path in paths.items()}


def test_same_seed_same_bytes_different_seed_different_run(tmp_path):
    path = SCENARIOS / "game-day.yaml"
    scenario = load_scenario(path).with_days(0.5)
    first, again, other = emulate(scenario, 7), emulate(scenario, 7), emulate(scenario, 8)
    assert _digest(first, tmp_path, "a") == _digest(again, tmp_path, "b")
    assert first.jobs.height > 10_000
    assert not first.jobs.equals(other.jobs)
    assert first.jobs["provenance_id"][0] != other.jobs["provenance_id"][0]
    assert first.jobs["measured_fidelity"].mean() != other.jobs["measured_fidelity"].mean()


def test_fair_share_follows_quotas_when_saturated():
    run = run_of(TEST_SCENARIOS / "saturated.yaml")
    jobs = run.jobs
    assert jobs["queue_wait_seconds"].max() > 3600, "the scenario must really be saturated"
    share = jobs.group_by("tenant").agg(pl.col("exec_seconds").sum()).with_columns(
        share=pl.col("exec_seconds") / pl.col("exec_seconds").sum()
    )
    quotas = {t.id: t.quota_share for t in run.scenario.tenants}
    for row in share.iter_rows(named=True):
        assert abs(row["share"] - quotas[row["tenant"]]) < 0.05, row


def test_reservation_is_exclusive_and_preempts():
    run = run_of(TEST_SCENARIOS / "neighbours.yaml")
    jobs = run.jobs
    start, end = _at(run, "4h"), _at(run, "6h")
    on_quito = jobs.filter(pl.col("backend") == "quito", pl.col("execute_start").is_between(start, end, closed="left"))
    assert on_quito.height > 30
    assert on_quito["tenant"].unique().to_list() == ["owner"]
    assert on_quito["reserved"].all()
    preempted = jobs.filter(pl.col("outcome") == "preempted")
    assert preempted.height == 1
    job = preempted.row(0, named=True)
    assert job["tenant"] == "other" and job["backend"] == "quito"
    assert job["execute_end"] == start and job["reason"] == "reservation_preemption"
    assert job["detail"] == "preempted by owner's reservation of quito"
    assert not job["usable"] and job["billed_shots"] == 0
    before = jobs.filter(pl.col("backend") == "quito", pl.col("execute_start") < start)
    assert "other" in before["tenant"].to_list(), "others use the backend outside the window"


def test_aggressor_hurts_only_its_control_group():
    run = run_of(TEST_SCENARIOS / "neighbours.yaml")
    jobs = run.jobs.filter(pl.col("tenant") == "victim", pl.col("outcome") == "succeeded")
    start, end = _at(run, "2h"), _at(run, "4h")
    during = pl.col("execute_start").is_between(start + timedelta(minutes=10), end, closed="left")
    outside = pl.col("execute_start") < start
    fidelity = {
        (backend, label): jobs.filter(pl.col("backend") == backend, when)["measured_fidelity"].mean()
        for backend in ("belem", "manila")
        for label, when in (("during", during), ("outside", outside))
    }
    assert fidelity[("belem", "outside")] - fidelity[("belem", "during")] > 0.05, fidelity
    assert abs(fidelity[("manila", "outside")] - fidelity[("manila", "during")]) < 0.01, fidelity
    hit = jobs.filter(pl.col("backend") == "belem", during)
    assert (hit["aggressor"] == "aggressor").mean() > 0.95
    assert (jobs.filter(pl.col("backend") == "manila")["aggressor"] != "aggressor").all()


def test_drift_lowers_fidelity_and_recalibration_restores_it():
    run = run_of(TEST_SCENARIOS / "drift.yaml")
    calibrations = run.calibrations.sort("ended_at")
    jobs = run.jobs.filter(pl.col("outcome") == "succeeded")
    checked = 0
    for ended in calibrations["ended_at"].to_list()[1:]:
        before = jobs.filter(pl.col("execute_start").is_between(ended - timedelta(hours=1), ended - timedelta(minutes=10)))
        after = jobs.filter(pl.col("execute_start").is_between(ended, ended + timedelta(hours=1)))
        if before.is_empty() or after.is_empty():
            continue
        assert before["drift_bucket"].mean() > after["drift_bucket"].mean() + 10
        assert after["measured_fidelity"].mean() - before["measured_fidelity"].mean() > 0.05
        checked += 1
    assert checked >= 2


def test_metering_samples_so_short_jobs_are_misbilled():
    sampled = Meter(kind=MeterKind.SAMPLED, granularity_seconds=5.0)
    assert sampled.owed_seconds(1.0, 3.0, False) == 0.0
    assert sampled.owed_seconds(4.0, 6.0, False) == 5.0
    assert sampled.owed_seconds(0.5, 1000.5, False) == 1000.0


def test_game_day_ground_truth(game_day):
    truth = game_day.ground_truth
    by_id = {f["id"]: f for f in truth["faults"]}
    assert set(by_id) == {"F1", "F2", "F3", "F4", "F5", "hybrid-timeout", "backend-outage"}
    assert by_id["F1"]["backend"] == "perth" and by_id["F1"]["calibrations_failed"] >= 1
    assert by_id["F2"]["victims"] == ["quantum-ml"]
    assert by_id["F4"]["antagonist"] == "startup" and by_id["F4"]["control_group"] == "rack-a"
    assert "startup" not in by_id["F4"]["victims"] and len(by_id["F4"]["victims"]) >= 3
    assert by_id["F5"]["victims"] == ["fintech"] and by_id["F5"]["jobs_affected"] > 1000
    assert by_id["backend-outage"]["jobs_affected"] > 0
    assert by_id["F1"]["start"] == "2026-11-03T10:00:00+00:00"


def test_calibration_drift_fails_calibration_and_takes_backend_out(game_day):
    start, end = _at(game_day, "1d10h"), _at(game_day, "1d18h")
    perth = game_day.calibrations.filter(pl.col("backend") == "perth")
    inside = perth.filter(pl.col("ended_at").is_between(start, end))
    assert (inside["verdict"] == "fail").sum() >= 1
    assert not inside["in_rotation"].all(), "after repeated failures perth leaves rotation"
    after = perth.filter(pl.col("ended_at") > end).sort("ended_at")
    assert after["verdict"][0] == "pass" and after["in_rotation"][0]
    outside = game_day.calibrations.filter(~pl.col("ended_at").is_between(start, end) | (pl.col("backend") != "perth"))
    assert (outside["verdict"] == "pass").mean() > 0.9


def test_starvation_holds_the_tenant_back(game_day):
    jobs = game_day.jobs.filter(pl.col("tenant") == "quantum-ml")
    start, end = _at(game_day, "2d12h"), _at(game_day, "2d17h")
    during = jobs.filter(pl.col("queue_start").is_between(start, end, closed="left"))
    assert during["execute_start"].min() >= end
    normal = jobs.filter(pl.col("queue_start") < start)["queue_wait_seconds"].median()
    assert normal < 30


def test_telemetry_loss_only_in_its_window(game_day):
    jobs = game_day.jobs.with_columns(lost=pl.col("telemetry_lost_stages").list.len())
    start, end = _at(game_day, "3d6h"), _at(game_day, "3d12h")
    window = pl.col("submitted_at").is_between(start, end, closed="left") & (pl.col("backend") == "nairobi")
    assert jobs.filter(~window)["lost"].sum() == 0
    hit = jobs.filter(window)
    assert 0.2 < hit["lost"].sum() / (hit.height * 10) < 0.4


def test_no_job_runs_before_it_is_queued_and_every_stage_ends_after_it_starts(game_day):
    """A job routed at its authorization time while its submission was still being handled could start on a
    backend that freed within those 4 ms: its queue span ended before it began, the collector rightly refused
    that span, and over OTLP the game day paged 17 times for telemetry it had never lost."""
    jobs = game_day.jobs
    assert jobs.filter(pl.col("queue_start") < pl.col("authorize_end")).height == 0
    assert jobs.filter(pl.col("execute_start") < pl.col("queue_start")).height == 0
    backwards = stage_spans(jobs.lazy()).filter(pl.col("end_ns") < pl.col("start_ns")).collect()
    assert backwards.height == 0, backwards.head()


def test_billing_discrepancy_halves_the_bill(game_day):
    fintech = game_day.jobs.filter(pl.col("tenant") == "fintech", pl.col("outcome") == "succeeded")
    start, end = _at(game_day, "5d"), _at(game_day, "5d12h")
    closed = pl.col("finished_at").is_between(start, end, closed="left")
    assert (fintech.filter(closed)["billing_factor"] == 0.5).mean() > 0.99
    assert (fintech.filter(~closed)["billing_factor"] == 1.0).all()


def test_post_processing_timeout_is_an_outcome_without_a_usable_result():
    scenario = load_scenario(TEST_SCENARIOS / "drift.yaml").with_days(0.1)
    slow = scenario.execution.model_copy(
        update={"post_process": scenario.execution.post_process.model_copy(update={"median": 2.0, "timeout": 3.0})}
    )
    jobs = emulate(scenario.model_copy(update={"execution": slow}), 3).jobs
    timed_out = jobs.filter(pl.col("reason") == "postprocess_timeout")
    assert 0.1 < timed_out.height / jobs.height < 0.5
    assert (timed_out["outcome"] == "timed_out").all() and not timed_out["usable"].any()
    lag = (timed_out["post_process_end"] - timed_out["execute_end"]).dt.total_seconds()
    assert (lag == 3.0).all()
    assert timed_out["billed_seconds"].sum() > 0, "the backend time was used and is billed"
