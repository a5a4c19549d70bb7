"""Scheduler fairness (SLI M7): each tenant's share of backend time against its quota.

Shares count the backend seconds the traces show (execution spans) in the window. Jain's index is taken
over share/quota of the tenants that had work, so 1.0 means every such tenant got time in proportion to
its quota. A starvation episode is a stretch in which a tenant had a job waiting longer than the bound:
the waits past the bound, merged where they overlap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl


def shares(jobs: pl.LazyFrame, quotas: dict[str, float], start: datetime, end: datetime) -> pl.DataFrame:
    quota = pl.LazyFrame({"tenant": list(quotas), "quota": list(quotas.values())}, schema={"tenant": pl.String, "quota": pl.Float64})
    used = (
        jobs.filter(pl.col("execute_start") > start, pl.col("execute_start") <= end, pl.col("tenant").is_not_null())
        .group_by("tenant")
        .agg(
            backend_seconds=pl.col("exec_seconds").sum(),
            jobs=pl.len(),
            longest_wait_seconds=pl.col("queue_wait_seconds").max(),
            median_wait_seconds=pl.col("queue_wait_seconds").median(),
        )
    )
    return (
        used.join(quota, on="tenant", how="full", coalesce=True)
        .with_columns(pl.col("backend_seconds", "jobs").fill_null(0))
        .with_columns(share=pl.col("backend_seconds") / pl.col("backend_seconds").sum())
        .with_columns(share_minus_quota=pl.col("share") - pl.col("quota"), share_over_quota=pl.col("share") / pl.col("quota"))
        .sort("tenant")
        .collect()
    )


def jain_index(table: pl.DataFrame) -> float | None:
    """Jain's fairness index of share/quota over tenants with a quota and some work."""
    x = table.filter(pl.col("jobs") > 0, pl.col("quota") > 0)["share_over_quota"]
    if x.len() == 0:
        return None
    return float(x.sum() ** 2 / (x.len() * (x**2).sum()))


def starvation_episodes(jobs: pl.LazyFrame, bound_seconds: float, start: datetime, end: datetime) -> pl.DataFrame:
    """Per tenant: merged intervals during which some job of theirs had waited longer than ``bound_seconds``."""
    bound = timedelta(seconds=bound_seconds)
    waiting_until = pl.coalesce("execute_start", pl.col("finished_at"), pl.lit(end))
    return (
        jobs.filter(pl.col("queue_start").is_not_null(), pl.col("tenant").is_not_null())
        .select("tenant", "provenance_id", from_=pl.col("queue_start") + bound, to=pl.min_horizontal(waiting_until, pl.lit(end)))
        .filter(pl.col("to") > pl.col("from_"), pl.col("to") > start)
        .sort("tenant", "from_")
        .with_columns(
            episode=(pl.col("from_") > pl.col("to").cum_max().shift(1).over("tenant")).fill_null(True).cum_sum().over("tenant")
        )
        .group_by("tenant", "episode")
        .agg(start=pl.col("from_").min(), end=pl.col("to").max(), jobs=pl.len(), first_job=pl.col("provenance_id").first())
        .with_columns(minutes=(pl.col("end") - pl.col("start")).dt.total_seconds() / 60)
        .drop("episode")
        .sort("start", "tenant")
        .collect()
    )
