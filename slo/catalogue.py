"""The SLI catalogue (M1–M6 and M8 of the design) as polars expressions over the correlated tables.

Each SLI names its table, the instant that places an event in time, which rows are events at all, and
which of those are good; its parameters (a threshold, a tolerance) come from the SLO spec. Every SLI is
a ratio of good events to valid events, so budgets and burn rates treat them all alike. M7 (fairness)
compares shares with quotas and lives in ``slo.fairness``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import polars as pl

from contract.alert_catalogue import BILLING, BILLING_DELTA, CALIBRATION_FAILING
from contract.semconv import CalibrationVerdict, Outcome


class SliId(StrEnum):
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"
    M5 = "M5"
    M6 = "M6"
    M8 = "M8"


class Table(StrEnum):
    JOBS = "jobs"
    CALIBRATIONS = "calibrations"
    REPEATS = "repeats"


@dataclass(frozen=True)
class SliParameters:
    queue_wait_seconds: float = 300.0
    latency_factor: float = 2.0
    meter_granularity_seconds: float = BILLING.meter_granularity_seconds
    billing_tolerance_seconds: float = 1e-3
    completeness_grace_seconds: float = 3600.0
    reproducibility_alpha: float = 0.01
    as_of: datetime | None = None


@dataclass(frozen=True)
class Sli:
    id: SliId
    name: str
    table: Table
    time: str
    valid: Callable[[SliParameters], pl.Expr]
    good: Callable[[SliParameters], pl.Expr]
    description: str
    no_burn_alerts: str = ""
    """Why burn-rate alerts would mislead for this SLI (empty: they work); both paths honour it."""


def metered_seconds(start: pl.Expr, end: pl.Expr, granularity: float) -> pl.Expr:
    """What an honest sampling meter bills for [start, end): one granularity per sampling instant inside it."""
    def ticks(t: pl.Expr) -> pl.Expr:
        return (t.dt.epoch("us") / (granularity * 1e6)).ceil()

    return (ticks(end) - ticks(start)) * granularity


def billing_delta(granularity: float) -> pl.Expr:
    """Billed seconds minus what an honest sampling meter owes for the execution the trace shows."""
    return pl.col("billed_seconds") - metered_seconds(pl.col("execute_start"), pl.col("execute_end"), granularity)


def _closed_not_rejected(_: SliParameters) -> pl.Expr:
    return pl.col("finished_at").is_not_null() & (pl.col("outcome") != Outcome.REJECTED.value)


CATALOGUE: dict[SliId, Sli] = {
    SliId.M1: Sli(
        SliId.M1, "job success rate", Table.JOBS, "finished_at",
        _closed_not_rejected,
        lambda p: pl.col("usable").fill_null(False),
        "closed jobs the broker admitted; good: the job returned a usable result",
    ),
    SliId.M2: Sli(
        SliId.M2, "queue wait", Table.JOBS, "execute_start",
        lambda p: pl.col("queue_wait_seconds").is_not_null(),
        lambda p: pl.col("queue_wait_seconds") <= p.queue_wait_seconds,
        "jobs that started; good: waited no longer than the threshold",
    ),
    SliId.M3: Sli(
        SliId.M3, "reproducibility", Table.REPEATS, "finished_at",
        lambda p: pl.lit(True),
        lambda p: pl.col("p_value") >= p.reproducibility_alpha,
        "groups of repeated runs of one circuit; good: their spread is what shot noise explains",
        "SLI M3 has no real-time signal in the telemetry contract: repeats are judged as groups, after the fact",
    ),
    SliId.M4: Sli(
        SliId.M4, "calibration pass rate", Table.CALIBRATIONS, "ended_at",
        lambda p: pl.col("verdict").is_not_null(),
        lambda p: pl.col("verdict") == CalibrationVerdict.PASS.value,
        "calibration runs; good: within spec",
        "calibration runs come hours apart, so one failure is all of an hour's events and burn-rate windows "
        f"would page on every transient; {CALIBRATION_FAILING.name} watches persistence",
    ),
    SliId.M5: Sli(
        SliId.M5, "telemetry completeness", Table.JOBS, "submitted_at",
        lambda p: pl.col("has_root")
        | (pl.col("submitted_at") <= pl.lit(p.as_of) - pl.duration(seconds=p.completeness_grace_seconds)),
        lambda p: pl.col("complete"),
        "jobs (closed, or older than the grace period); good: every lifecycle stage arrived",
    ),
    SliId.M6: Sli(
        SliId.M6, "billing accuracy", Table.JOBS, "finished_at",
        lambda p: pl.col("execute_start").is_not_null() & pl.col("execute_end").is_not_null()
        & pl.col("billed_seconds").is_not_null(),
        lambda p: billing_delta(p.meter_granularity_seconds).abs() <= p.billing_tolerance_seconds,
        "executed jobs; good: billed what the meter owes for the execution the trace shows",
        f"SLI M6 has no real-time signal in the telemetry contract; {BILLING_DELTA.name} watches billing",
    ),
    SliId.M8: Sli(
        SliId.M8, "submit-to-result latency", Table.JOBS, "finished_at",
        lambda p: _closed_not_rejected(p) & pl.col("expected_runtime_seconds").is_not_null()
        & pl.col("execute_start").is_not_null(),
        lambda p: (pl.col("finished_at") - pl.col("execute_start")).dt.total_microseconds()
        <= p.latency_factor * pl.col("expected_runtime_seconds") * 1e6,
        "closed admitted jobs that reached a backend; good: from the start of execution to the result (execution, "
        "post-processing, storage, metering, notification: what the platform controls once the job leaves the "
        "queue) took at most the factor times the expected runtime. Queue waits are the queue-wait SLI's (M2) and "
        "follow the tenant's share; a job that never ran is a failure of job success (M1)",
        "SLI M8 has no real-time signal in the telemetry contract: the expected runtime is on the trace only",
    ),
}
