"""Calibration drift detection: a one-sided CUSUM on each backend's fidelity residuals.

Binned residual z-scores feed S_t = max(0, S_{t-1} - z_t - k); a drift is signalled when S exceeds h.
Vectorised: S is the running sum of (-z - k) minus its running minimum (floored at zero), which is the
same recursion. The onset is the last bin at which S was zero before the signal (CUSUM's own estimate of
the change point). Shifts that a noisy neighbour explains are not drift; the caller removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from contract.durations import parse_duration
from slo.residuals import residual_bins


@dataclass(frozen=True)
class DriftParameters:
    every: str = "5m"
    k: float = 1.25
    h: float = 10.0
    min_jobs: int = 5


def cusum(bins: pl.LazyFrame, by: str, k: float) -> pl.LazyFrame:
    step = (-pl.col("z") - k).cum_sum().over(by)
    return bins.with_columns(step=step).with_columns(
        s=pl.col("step") - pl.min_horizontal(pl.col("step").cum_min().over(by), pl.lit(0.0))
    )


def detect(jobs: pl.LazyFrame, params: DriftParameters = DriftParameters()) -> pl.DataFrame:
    """Per backend and signal: onset, detection time (end of the bin that crossed h), end, and the evidence."""
    bins = cusum(residual_bins(jobs, ["backend"], params.every, params.min_jobs), "backend", params.k)
    width = timedelta(seconds=parse_duration(params.every))
    flagged = bins.with_columns(
        alarm=pl.col("s") > params.h,
        zero_at=pl.when(pl.col("s") == 0).then(pl.col("bin")).forward_fill().over("backend"),
    ).with_columns(run=(pl.col("alarm") != pl.col("alarm").shift(1).over("backend")).fill_null(True).cum_sum().over("backend"))
    groups = jobs.select("backend", "control_group").unique().drop_nulls()
    return (
        flagged.filter("alarm")
        .group_by("backend", "run")
        .agg(
            onset=pl.col("zero_at").first() + width,
            detected_at=pl.col("bin").first() + width,
            end=pl.col("bin").filter(pl.col("z") < -params.k).max() + width,
            peak_cusum=pl.col("s").max(),
            lowest_z=pl.col("z").min(),
            mean_residual=pl.col("residual").mean(),
            bins=pl.len(),
        )
        .drop("run")
        .join(groups, on="backend", how="left")
        .with_columns(pl.col("onset").fill_null(pl.col("detected_at")))
        .with_columns(detection_delay_minutes=(pl.col("detected_at") - pl.col("onset")).dt.total_minutes())
        .sort("detected_at", "backend")
        .collect()
    )


def unexplained(drifts: pl.DataFrame, incidents: pl.DataFrame) -> pl.DataFrame:
    """The drifts no noisy-neighbour incident explains: a shift on a backend while a neighbour hurt it is not drift."""
    explained = (
        drifts.lazy().with_row_index("drift")
        .join(incidents.lazy().select("backend", i_start="start", i_end="end"), on="backend")
        .filter(pl.col("i_start") <= pl.col("detected_at"), pl.col("i_end") >= pl.col("onset"))
        .select("drift").unique()
    )
    return drifts.lazy().with_row_index("drift").join(explained, on="drift", how="anti").drop("drift").collect()
