"""Fidelity residuals: how much worse each result came out than the calibration in force predicted, in two units.

- ``excess``: relative excess error. A result's log-fidelity is, to first order, minus its circuit's
  accumulated error, so ``-log(measured / predicted) / -log(predicted)`` is the relative error the result saw
  beyond what the calibration reported: 0.1 means errors 10% above the calibration's, whatever the circuit's
  depth or device. Drift (error rates growing) is measured in it.
- ``loss``: the fidelity lost, ``-log(measured / predicted)``. Crosstalk from a neighbour depolarises a result by
  a weight that does not depend on the circuit's own depth, so noisy neighbours are measured in it.

Each is compared with the same circuit's history on the same backend (its median over the run), so what the
fidelity model always gets wrong for a circuit is not an anomaly, and weighted by that circuit's own
job-to-job noise there (shot noise: the spread of consecutive results under one calibration), so noisy
results count for less. Nothing here is fitted to a device or a scenario.
"""

from __future__ import annotations

import polars as pl

MAD_TO_SD = 1.4826
MIN_DEPTH = 1e-3
"""Circuits predicted above 99.9% carry no information on error growth; their depth is clipped here."""
MIN_NOISE = 1e-4
MIN_CIRCUIT_JOBS = 10
"""A circuit with fewer results on a backend is compared with its family's, then the backend's, median."""


def _usual(column: str) -> pl.Expr:
    """The column's median for the same circuit on the same backend, else its family's, else the backend's."""
    def median_over(*by: str) -> pl.Expr:
        return pl.when(pl.len().over(by) >= MIN_CIRCUIT_JOBS).then(pl.col(column).median().over(by))

    return pl.coalesce(median_over("backend", "circuit_hash"), median_over("backend", "circuit_family"),
                       pl.col(column).median().over("backend"))


def _weight(column: str) -> pl.Expr:
    """The inverse variance of consecutive results of one circuit under one calibration on one backend."""
    step = pl.col(column).diff().over("backend", "circuit_hash", "epoch", order_by="execute_start")
    noise = step.abs().median().over("backend", "circuit_hash") * MAD_TO_SD / 2**0.5
    return 1.0 / noise.fill_null(pl.col(column).std().over("backend")).fill_null(MIN_NOISE) \
        .clip(lower_bound=MIN_NOISE) ** 2


def residuals(jobs: pl.LazyFrame) -> pl.LazyFrame:
    """Per executed job with both fidelities: ``excess`` and ``loss`` against its circuit's usual on its backend
    (positive is worse), each with its ``*_weight``; ``epoch`` is the calibration it ran under (-1 unknown)."""
    lost = -(pl.col("measured_fidelity") / pl.col("predicted_fidelity")).log()
    depth = (-pl.col("predicted_fidelity").log()).clip(lower_bound=MIN_DEPTH)
    return (
        jobs.filter(pl.col("measured_fidelity") > 0, pl.col("predicted_fidelity") > 0,
                    pl.col("execute_start").is_not_null(), pl.col("backend").is_not_null())
        .select("provenance_id", "tenant", "backend", "control_group", "circuit_hash", "circuit_family",
                "execute_start", "execute_end", epoch=pl.col("calibration_id").fill_null(-1),
                raw_excess=lost / depth, raw_loss=lost)
        .with_columns(excess=pl.col("raw_excess") - _usual("raw_excess"), loss=pl.col("raw_loss") - _usual("raw_loss"),
                      excess_weight=_weight("raw_excess"), loss_weight=_weight("raw_loss"))
        .drop("raw_excess", "raw_loss")
    )
