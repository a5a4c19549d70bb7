"""Billing reconciliation (SLI M6): what each job was billed against what its trace says it used.

Two references: the raw execution the trace shows, and what the broker's declared meter owes for that
execution (``contract.billing``). The first difference is the meter's rounding or sampling error, as the
broker declared it; the second should be zero job by job, and anything else is a billing fault.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from contract.billing import BILLING_TOLERANCE_SECONDS, owed_seconds


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
