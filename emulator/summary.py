"""Per-tenant summary of a run: the first thing an operator reads after an emulation."""

from __future__ import annotations

import polars as pl

from emulator.scenario import Scenario


def tenant_summary(jobs: pl.DataFrame, scenario: Scenario) -> pl.DataFrame:
    """Jobs, success rate over finished jobs, median queue wait, and backend-time share vs quota."""
    quotas = pl.DataFrame(
        {"tenant": [t.id for t in scenario.tenants], "quota_share": [t.quota_share for t in scenario.tenants]}
    )
    return (
        jobs.lazy()
        .filter(pl.col("tenant").is_not_null())
        .group_by("tenant")
        .agg(
            jobs=pl.len(),
            finished=pl.col("outcome").is_not_null().sum(),
            usable=pl.col("usable").sum(),
            rejected=(pl.col("outcome") == "rejected").sum(),
            median_queue_wait_seconds=pl.col("queue_wait_seconds").median(),
            backend_seconds=pl.col("exec_seconds").sum(),
        )
        .join(quotas.lazy(), on="tenant", how="right")
        .select(
            "tenant",
            pl.col("jobs").fill_null(0),
            pl.col("finished").fill_null(0),
            success_rate=pl.col("usable") / pl.col("finished"),
            rejected=pl.col("rejected").fill_null(0),
            median_queue_wait_seconds="median_queue_wait_seconds",
            backend_share=pl.col("backend_seconds").fill_null(0.0) / pl.col("backend_seconds").sum(),
            quota_share="quota_share",
        )
        .sort("tenant")
        .collect()
    )
