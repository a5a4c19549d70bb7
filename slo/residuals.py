"""Fidelity residuals: how far each result fell below what the backend's reported calibration predicted.

The residual is log(measured / predicted): relative, so a deep circuit that loses more fidelity to the
same extra error counts like a shallow one. Both detectors work on its mean per time bin, standardised by
a robust baseline of their own series (median, and the MAD scaled to a standard deviation), so a backend
whose model is always a bit off is not an anomaly, and a tenant is compared with itself.
"""

from __future__ import annotations

import polars as pl

MAD_TO_SD = 1.4826
MIN_SCALE = 1e-3


def residual_bins(jobs: pl.LazyFrame, by: list[str], every: str, min_jobs: int) -> pl.LazyFrame:
    """Per ``by`` and bin: mean residual, jobs, and the residual's z-score against the series' baseline."""
    residual = (pl.col("measured_fidelity") / pl.col("predicted_fidelity")).log()
    binned = (
        jobs.filter(pl.col("measured_fidelity") > 0, pl.col("predicted_fidelity") > 0,
                    pl.col("execute_start").is_not_null(), *[pl.col(c).is_not_null() for c in by])
        .group_by(*by, pl.col("execute_start").dt.truncate(every).alias("bin"))
        .agg(residual=residual.mean(), jobs=pl.len())
        .filter(pl.col("jobs") >= min_jobs)
    )
    centre = pl.col("residual").median().over(by)
    scale = ((pl.col("residual") - centre).abs().median().over(by) * MAD_TO_SD).clip(lower_bound=MIN_SCALE)
    return binned.with_columns(z=(pl.col("residual") - centre) / scale).sort(*by, "bin")
