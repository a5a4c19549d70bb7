"""Billing reconciliation (SLI M6): what each job was billed against what its trace says it used.

Two references: the raw execution the trace shows, and what the broker's declared meter owes for that
execution (``contract.billing``). The first difference is the meter's rounding or sampling error, as the
broker declared it; the second should be zero job by job, and anything else is a billing fault.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from contract.alert_catalogue import BILLING
from contract.billing import BILLING_TOLERANCE_SECONDS, billing_delta, owed_seconds
from contract.durations import format_duration


def per_job(jobs: pl.LazyFrame, start: datetime, end: datetime) -> pl.LazyFrame:
    owed = owed_seconds()
    return (
        jobs.filter(pl.col("execute_end").is_not_null(), pl.col("finished_at") > start, pl.col("finished_at") <= end)
        .select(
            "provenance_id", "tenant", "backend", "finished_at", "billed_seconds",
            used_seconds="exec_seconds", owed_seconds=owed,
        )
        .with_columns(
            delta_seconds=pl.col("billed_seconds") - pl.col("owed_seconds"),
            sampling_error_seconds=pl.col("owed_seconds") - pl.col("used_seconds"),
        )
    )


def per_tenant(jobs: pl.LazyFrame, start: datetime, end: datetime,
               tolerance: float = BILLING_TOLERANCE_SECONDS) -> pl.DataFrame:
    delta = pl.col("delta_seconds")
    return (
        per_job(jobs, start, end)
        .group_by("tenant")
        .agg(
            jobs=pl.len(),
            billed_seconds=pl.col("billed_seconds").sum(),
            used_seconds=pl.col("used_seconds").sum(),
            owed_seconds=pl.col("owed_seconds").sum(),
            under_billed_seconds=(-delta).clip(lower_bound=0).sum(),
            over_billed_seconds=delta.clip(lower_bound=0).sum(),
            misbilled_jobs=(delta.abs() > tolerance).sum(),
        )
        .with_columns(billed_over_used=pl.col("billed_seconds") / pl.col("used_seconds"))
        .sort("tenant")
        .collect()
    )


def misbilled_runs(jobs: pl.LazyFrame, tolerance: float, gap: timedelta) -> pl.LazyFrame:
    """Per tenant, runs of misbilled jobs (consecutive ones no more than ``gap`` apart): when each began and ended,
    how far off it was, and when it became material: the first moment the last ``BILLING.judged_seconds`` held
    ``BILLING.misbilled_jobs`` misbilled jobs off by ``BILLING.owed_share`` of what the tenant was owed billing for
    then. Judged by the tenant's own volume, not a fixed floor, so a tenant of modest volume is found within the
    hour. Runs that never became material are left out."""
    window = format_duration(BILLING.judged_seconds)
    bad = pl.col("delta").abs() > tolerance

    def recent(value: pl.Expr) -> pl.Expr:
        return value.rolling_sum_by("finished_at", window_size=window).over("tenant")

    judged = (
        jobs.filter(pl.col("execute_end").is_not_null(), pl.col("tenant").is_not_null(),
                    pl.col("finished_at").is_not_null())
        .with_columns(delta=billing_delta(), owed=owed_seconds().fill_null(0.0))
        .sort("tenant", "finished_at")
        .with_columns(off=recent(pl.when(bad).then(pl.col("delta").abs()).otherwise(0.0)),
                      owed_recently=recent(pl.col("owed")), misbilled_recently=recent(bad.cast(pl.Int64)))
        .with_columns(material=(pl.col("misbilled_recently") >= BILLING.misbilled_jobs)
                      & (pl.col("off") >= BILLING.owed_share * pl.col("owed_recently")))
        .filter(bad)
    )
    run = ((pl.col("finished_at") - pl.col("finished_at").shift(1)) > gap).fill_null(True).cum_sum().over("tenant")
    return (
        judged.with_columns(run=run)
        .group_by("tenant", "run")
        .agg(start=pl.col("finished_at").min(), end=pl.col("finished_at").max(), jobs=pl.len(),
             first_job=pl.col("provenance_id").first(), delta=pl.col("delta").sum(),
             detected_at=pl.col("finished_at").filter("material").min())
        .filter(pl.col("detected_at").is_not_null())
        .drop("run")
    )
