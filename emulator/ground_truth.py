"""What was injected, and whom it hurt: the answer key that detectors are scored against."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from contract.ground_truth import GroundTruth, fault_ids
from contract.semconv import FailureReason, Outcome
from emulator.scenario import (
    BackendOutage,
    BillingDiscrepancy,
    CalibrationDrift,
    NoisyNeighbour,
    PreprocessTimeout,
    Scenario,
    SchedulerStarvation,
    TelemetryLoss,
)

VICTIM_CROSSTALK = 0.02
"""A job whose output was depolarized by at least this much by the antagonist counts as hurt."""


def _window(scenario: Scenario, start: float, end: float) -> dict:
    return {
        "start": (scenario.start + timedelta(seconds=start)).isoformat(),
        "end": (scenario.start + timedelta(seconds=min(end, scenario.horizon))).isoformat(),
        "start_offset_seconds": start,
        "end_offset_seconds": min(end, scenario.horizon),
    }


def _started_in(start: float, end: float, scenario: Scenario) -> pl.Expr:
    t0 = scenario.start
    return pl.col("execute_start").is_between(t0 + timedelta(seconds=start), t0 + timedelta(seconds=end), closed="left")


def _submitted_in(start: float, end: float, scenario: Scenario) -> pl.Expr:
    t0 = scenario.start
    return pl.col("submitted_at").is_between(t0 + timedelta(seconds=start), t0 + timedelta(seconds=end), closed="left")


def _tenants(jobs: pl.DataFrame, where: pl.Expr) -> tuple[list[str], int]:
    hit = jobs.lazy().filter(where).select("tenant").collect()
    return sorted(hit["tenant"].drop_nulls().unique().to_list()), hit.height


def ground_truth(scenario: Scenario, seed: int, jobs: pl.DataFrame, calibrations: pl.DataFrame) -> dict:
    """The answer key of a run, validated as the typed ``GroundTruth`` and returned as its JSON form."""
    groups = {b.name: b.control_group for b in scenario.backends}
    injected = [f for f in scenario.faults if f.start < scenario.horizon]
    faults = []
    for f, fault_id in zip(injected, fault_ids([f.kind for f in injected]), strict=True):
        entry = {"id": fault_id, "kind": f.kind, **_window(scenario, f.start, f.end)}
        match f:
            case CalibrationDrift():
                victims, count = _tenants(jobs, (pl.col("backend") == f.backend) & _started_in(f.start, f.end, scenario))
                failed = calibrations.filter(
                    (pl.col("backend") == f.backend)
                    & pl.col("ended_at").is_between(
                        scenario.start + timedelta(seconds=f.start), scenario.start + timedelta(seconds=f.end)
                    )
                    & (pl.col("verdict") == "fail")
                ).height
                entry |= {
                    "backend": f.backend,
                    "control_group": groups[f.backend],
                    "victims": victims,
                    "jobs_affected": count,
                    "calibrations_failed": failed,
                }
            case SchedulerStarvation():
                _, count = _tenants(jobs, (pl.col("tenant") == f.tenant) & _submitted_in(f.start, f.end, scenario))
                entry |= {"tenant": f.tenant, "victims": [f.tenant], "jobs_affected": count}
            case TelemetryLoss():
                touched = (pl.col("telemetry_lost_stages").list.len() > 0) | (pl.col("telemetry_delay_seconds") > 0)
                where = _submitted_in(f.start, f.end, scenario) & touched
                if f.tenant:
                    where &= pl.col("tenant") == f.tenant
                if f.backend:
                    where &= pl.col("backend") == f.backend
                victims, count = _tenants(jobs, where)
                lost = jobs.filter(where).select("provenance_id", "telemetry_lost_stages", "telemetry_delay_seconds")
                lost = lost.sort("provenance_id")
                spans = lost["telemetry_lost_stages"].list.len().sum()
                entry |= {
                    "backend": f.backend,
                    "control_group": groups.get(f.backend) if f.backend else None,
                    "tenant": f.tenant,
                    "victims": victims,
                    "jobs_affected": count,
                    "spans_dropped": int(spans),
                    "delay_seconds": f.delay,
                    "jobs": lost.rename(
                        {"telemetry_lost_stages": "stages_dropped", "telemetry_delay_seconds": "delay_seconds"}
                    ).to_dicts(),
                }
            case NoisyNeighbour():
                victims, count = _tenants(
                    jobs,
                    (pl.col("aggressor") == f.tenant)
                    & (pl.col("tenant") != f.tenant)
                    & (pl.col("crosstalk") >= VICTIM_CROSSTALK)
                    & _started_in(f.start, f.end, scenario),
                )
                entry |= {
                    "backend": f.backend,
                    "control_group": groups[f.backend],
                    "antagonist": f.tenant,
                    "victims": victims,
                    "jobs_affected": count,
                }
            case BillingDiscrepancy():
                _, count = _tenants(jobs, (pl.col("tenant") == f.tenant) & (pl.col("billing_factor") != 1.0))
                entry |= {"tenant": f.tenant, "factor": f.factor, "victims": [f.tenant], "jobs_affected": count}
            case PreprocessTimeout():
                _, count = _tenants(
                    jobs,
                    (pl.col("tenant") == f.tenant) & (pl.col("reason") == FailureReason.PREPROCESS_TIMEOUT.value),
                )
                entry |= {"tenant": f.tenant, "victims": [f.tenant], "jobs_affected": count}
            case BackendOutage():
                failed = (
                    (pl.col("backend") == f.backend)
                    & (pl.col("outcome") == Outcome.FAILED.value)
                    & (pl.col("reason") == FailureReason.BACKEND_DOWN.value)
                )
                moved = (pl.col("reroutes") > 0) & pl.col("queue_start").is_between(
                    scenario.start + timedelta(seconds=f.start - 3600), scenario.start + timedelta(seconds=f.end)
                )
                victims, count = _tenants(jobs, failed | moved)
                entry |= {
                    "backend": f.backend,
                    "control_group": groups[f.backend],
                    "victims": victims,
                    "jobs_affected": count,
                }
        faults.append(entry)
    return GroundTruth(scenario=scenario.name, seed=seed, start=scenario.start.isoformat(),
                       horizon_seconds=scenario.horizon, faults=faults).model_dump(mode="json")
