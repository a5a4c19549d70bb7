"""Noisy-neighbour attribution (SLI M9), after Google's CPI² adapted to shared control electronics.

CPI² flags a victim task whose cycles-per-instruction rise above its own norm, then names the antagonist
whose CPU use correlates with the victim's CPI. Here the victim is a tenant on a backend whose fidelity
falls below what the calibration predicts (its binned residual z-score under ``-z_threshold``), and each
other tenant's activity is its backend time in the same control group per bin. Over the episode and a
margin either side, the suspect is the tenant whose activity correlates best with the shortfall of the
victim's backend (every job on it, so a victim with few jobs of its own still has a series to test); it
is named when that correlation is strong and its activity is several times higher while the backend falls
short than while it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from contract.durations import parse_duration
from slo.residuals import residual_bins


@dataclass(frozen=True)
class NeighbourParameters:
    every: str = "10m"
    z_threshold: float = 3.0
    min_bins: int = 1
    margin_hours: float = 6.0
    min_correlation: float = 0.5
    min_activity_ratio: float = 2.0
    min_jobs: int = 3


def activity(jobs: pl.LazyFrame, every: str) -> pl.LazyFrame:
    """Backend seconds per tenant, control group and bin (by execution start)."""
    return (
        jobs.filter(pl.col("exec_seconds").is_not_null(), pl.col("tenant").is_not_null(), pl.col("control_group").is_not_null())
        .group_by("tenant", "control_group", pl.col("execute_start").dt.truncate(every).alias("bin"))
        .agg(busy=pl.col("exec_seconds").sum())
    )


def _episodes(bins: pl.LazyFrame, params: NeighbourParameters, width: timedelta) -> pl.LazyFrame:
    low = bins.filter(pl.col("z") < -params.z_threshold).sort("tenant", "backend", "bin")
    gap = (pl.col("bin") - pl.col("bin").shift(1).over("tenant", "backend")) > width * 2
    return (
        low.with_columns(run=gap.fill_null(True).cum_sum().over("tenant", "backend"))
        .group_by("tenant", "backend", "control_group", "run")
        .agg(start=pl.col("bin").min(), end=pl.col("bin").max() + width, bins=pl.len(),
             mean_z=pl.col("z").mean(), mean_residual=pl.col("residual").mean(), jobs=pl.col("jobs").sum())
        .filter(pl.col("bins") >= params.min_bins)
        .drop("run")
        .rename({"tenant": "victim"})
        .with_row_index("episode")
    )


def attribute(jobs: pl.LazyFrame, params: NeighbourParameters = NeighbourParameters()) -> pl.DataFrame:
    """Incidents: victim, backend, control group, window, suspect, evidence and confidence."""
    width = timedelta(seconds=parse_duration(params.every))
    margin = timedelta(hours=params.margin_hours)
    groups = jobs.select("backend", "control_group").unique().drop_nulls()
    bins = residual_bins(jobs, ["tenant", "backend"], params.every, params.min_jobs).join(groups, on="backend")
    episodes = _episodes(bins, params, width).collect()
    if episodes.is_empty():
        return _empty()
    around = episodes.lazy().select("episode", "victim", "backend", "control_group", "start", "end")
    backend_bins = residual_bins(jobs, ["backend"], params.every, params.min_jobs)
    series = (
        around.join(backend_bins, on="backend")
        .filter(pl.col("bin") >= pl.col("start") - margin, pl.col("bin") < pl.col("end") + margin)
        .select("episode", "control_group", "victim", "bin", "start", "end", shortfall=-pl.col("z"))
    )
    busy = activity(jobs, params.every)
    candidates = (
        series.join(busy.select("tenant", "control_group").unique(), on="control_group")
        .filter(pl.col("tenant") != pl.col("victim"))
        .join(busy, on=["tenant", "control_group", "bin"], how="left")
        .with_columns(pl.col("busy").fill_null(0.0), inside=pl.col("shortfall") > params.z_threshold)
        .group_by("episode", "tenant")
        .agg(
            correlation=pl.corr("shortfall", "busy"),
            busy_inside=pl.col("busy").filter("inside").mean(),
            busy_outside=pl.col("busy").filter(~pl.col("inside")).mean(),
            suspect_seconds=pl.col("busy").filter("inside").sum(),
        )
        .with_columns(
            pl.col("correlation").fill_nan(None).fill_null(0.0),
            activity_ratio=pl.col("busy_inside") / pl.col("busy_outside").fill_null(0.0).clip(lower_bound=1.0),
        )
        .sort("episode", "correlation", "tenant", descending=[False, True, False])
        .group_by("episode", maintain_order=True)
        .first()
        .rename({"tenant": "suspect"})
    )
    inside = (pl.col("bin") >= pl.col("start")) & (pl.col("bin") < pl.col("end"))
    backend_shortfall = series.filter(inside).group_by("episode").agg(backend_shortfall=pl.col("shortfall").max())
    return (
        episodes.lazy()
        .join(candidates, on="episode", how="left")
        .join(backend_shortfall, on="episode", how="left")
        .filter(
            pl.col("correlation") >= params.min_correlation,
            pl.col("activity_ratio") >= params.min_activity_ratio,
            pl.col("backend_shortfall") > params.z_threshold,
        )
        .select(
            "victim", "backend", "control_group", "start", "end", "suspect",
            confidence=pl.col("correlation").clip(0.0, 1.0),
            correlation="correlation", activity_ratio="activity_ratio", suspect_seconds="suspect_seconds",
            fidelity_change=pl.col("mean_residual").exp() - 1.0, mean_z="mean_z", jobs="jobs", bins="bins",
        )
        .sort("start", "victim", "backend")
        .collect()
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "victim": pl.String, "backend": pl.String, "control_group": pl.String,
        "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"), "suspect": pl.String,
        "confidence": pl.Float64, "correlation": pl.Float64, "activity_ratio": pl.Float64,
        "suspect_seconds": pl.Float64, "fidelity_change": pl.Float64, "mean_z": pl.Float64,
        "jobs": pl.UInt32, "bins": pl.UInt32,
    })
