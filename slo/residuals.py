"""Fidelity residuals as relative excess error: how much worse each result came out than its calibration predicted.

A result's log-fidelity is, to first order, minus its circuit's accumulated error, so
``-log(measured / predicted) / -log(predicted)`` is the relative error the result saw beyond what the calibration
in force reported: 0.1 means errors 10% above the calibration's, whatever the circuit's depth or device. Drift
(error rates growing) and crosstalk (a neighbour's drive depolarising a result) both show in it.

Each result is compared with the same circuit's history on the same backend (its median over the run), so what
the fidelity model always gets wrong for a circuit is not an anomaly, and weighted by that circuit's own
job-to-job noise there (shot noise: the spread of its results under one calibration), so noisy results count for
less. Nothing here is fitted to a device or a scenario. Baselines are aggregated and joined back rather than
computed per row, so months of results stay cheap.
"""

from __future__ import annotations

import polars as pl

MIN_DEPTH = 1e-3
"""Circuits predicted above 99.9% carry no information on error growth; their depth is clipped here."""
MIN_NOISE = 1e-4
MIN_CIRCUIT_JOBS = 10
"""A circuit with fewer results on a backend is compared with its family's, then the backend's, median."""
MIN_EPOCH_JOBS = 3
MAD_TO_SD = 1.4826


def residuals(jobs: pl.LazyFrame) -> pl.LazyFrame:
    """Per executed job with both fidelities: ``excess`` against its circuit's usual on its backend (positive is
    worse) and its ``weight``; ``epoch`` is the calibration it ran under (-1 when the broker does not say). Rows
    are numbered (``result``) rather than carrying their provenance IDs: months of results are held in memory
    at once, and a 32-character ID was the largest part of a row."""
    lost = -(pl.col("measured_fidelity") / pl.col("predicted_fidelity")).log()
    depth = (-pl.col("predicted_fidelity").log()).clip(lower_bound=MIN_DEPTH)
    results = (
        jobs.filter(pl.col("measured_fidelity") > 0, pl.col("predicted_fidelity") > 0,
                    pl.col("execute_start").is_not_null(), pl.col("backend").is_not_null())
        .select("tenant", "backend", "control_group", "circuit_hash", "circuit_family",
                "execute_start", "execute_end", epoch=pl.col("calibration_id").fill_null(-1), relative=lost / depth)
        .with_row_index("result")
    )

    def usual(*by: str) -> pl.LazyFrame:
        name = f"usual_{by[-1]}"
        return results.group_by(*by).agg(pl.when(pl.len() >= MIN_CIRCUIT_JOBS).then(pl.col("relative").median())
                                          .alias(name))

    spread = (
        results.group_by("backend", "circuit_hash", "epoch")
        .agg(sd=pl.when(pl.len() >= MIN_EPOCH_JOBS).then(pl.col("relative").std()))
        .group_by("backend", "circuit_hash").agg(noise=pl.col("sd").median())
    )
    typical = spread.group_by("backend").agg(typical_noise=pl.col("noise").median())
    by_backend = results.group_by("backend").agg(usual_backend=pl.col("relative").median())
    return (
        results
        .join(usual("backend", "circuit_hash"), on=["backend", "circuit_hash"], how="left")
        .join(usual("backend", "circuit_family"), on=["backend", "circuit_family"], how="left", nulls_equal=True)
        .join(by_backend, on="backend", how="left")
        .join(spread, on=["backend", "circuit_hash"], how="left")
        .join(typical, on="backend", how="left")
        .with_columns(
            excess=pl.col("relative") - pl.coalesce("usual_circuit_hash", "usual_circuit_family", "usual_backend"),
            weight=1.0 / pl.coalesce("noise", "typical_noise", pl.lit(MIN_NOISE)).clip(lower_bound=MIN_NOISE) ** 2,
        )
        .drop("relative", "usual_circuit_hash", "usual_circuit_family", "usual_backend", "noise", "typical_noise")
    )
