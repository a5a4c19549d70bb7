"""Reproducibility (SLI M3): do repeated runs of one circuit differ by more than shot noise explains?

Runs repeat when they share circuit, backend, calibration and shots. The Hellinger fidelity of N shots
has sampling variance F(1-F)/N (delta method: B = sum sqrt(p q) has variance (1-B^2)/4N, and F = B^2),
so under shot noise alone sum((f_i - mean)^2) / (mean(1-mean)/N) follows chi-square with n-1 degrees of
freedom. A group is irreproducible when that is improbable (p below alpha), not merely when its raw
spread is large: a 100-shot run is noisy, and that is expected.
"""

from __future__ import annotations

import numpy as np
import polars as pl

REPEAT_KEY = ("circuit_hash", "backend", "calibration_id", "shots")


def repeats(jobs: pl.LazyFrame) -> pl.DataFrame:
    groups = (
        jobs.filter(pl.col("measured_fidelity").is_not_null(), *[pl.col(k).is_not_null() for k in REPEAT_KEY])
        .group_by(*REPEAT_KEY)
        .agg(
            tenant=pl.col("tenant").first(),
            namespace=pl.col("namespace").first(),
            finished_at=pl.col("finished_at").max(),
            runs=pl.len(),
            mean_fidelity=pl.col("measured_fidelity").mean(),
            spread=pl.col("measured_fidelity").std(),
        )
        .filter(pl.col("runs") >= 2)
        # squared deviations from the spread: summing them within each group held every run in memory
        .with_columns(sum_squares=pl.col("spread") ** 2 * (pl.col("runs") - 1))
        .with_columns(shot_noise_sd=(pl.col("mean_fidelity") * (1 - pl.col("mean_fidelity")) / pl.col("shots")).sqrt())
        .with_columns(statistic=pl.col("sum_squares") / pl.col("shot_noise_sd") ** 2)
        .sort(*REPEAT_KEY)
        .collect()
    )
    from scipy.special import chdtrc

    # chdtrc is the chi-squared survival function, without the second it takes to load all of scipy.stats
    p = chdtrc(groups["runs"].to_numpy() - 1, groups["statistic"].to_numpy())
    return groups.with_columns(p_value=pl.Series(np.where(np.isfinite(p), p, 0.0)))
