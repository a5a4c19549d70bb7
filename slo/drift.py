"""Calibration drift: error rates that grow faster than a backend's own history says they do between calibrations.

Each result's excess error (``slo.residuals``) is compared with the first results of the same circuit under
the same calibration: a calibration re-tunes the backend and the prediction starts again from what it
measured, so each calibration is its own baseline, and comparing a circuit only with itself means a change
in the mix of circuits is not a change of the backend. Those changes are averaged per backend over a
trailing window and chained across calibrations (each calibration's change added to the previous ones'), so
a defect that keeps growing through a recalibration keeps counting.

Drift is signalled when, within the last ``lookback``, errors grew by more than ``growth`` (0.15 is 15% more
error than the calibration's own results showed) and by more than the backend's own history of such growth
allows (``spread`` robust standard deviations above its usual growth, read off its well-populated windows),
the growth stands clear of shot noise (``significance`` standard errors), and the window holds enough results
to tell (``precise_jobs``). Natural drift between calibrations is a random walk of small steps, so the
thresholds sit above what that walk reaches in two hours; a ramp of a few steps an hour crosses them within
about two. A backend whose results come too sparsely to compare within a calibration is judged by its level
against its whole history (``level``), for an egregious excess only.

A shift that a noisy neighbour explains is not drift; the caller removes it (``unexplained``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from contract.durations import parse_duration
from slo.residuals import MAD_TO_SD, residuals


@dataclass(frozen=True)
class DriftParameters:
    every: str = "10m"
    window: str = "30m"
    lookback: str = "2h"
    growth: float = 0.15
    level: float = 0.4
    spread: float = 6.0
    level_spread: float = 6.0
    significance: float = 5.0
    min_jobs: int = 3
    precise_jobs: int = 10
    chain_gap: str = "1h"


def levels(jobs: pl.LazyFrame, params: DriftParameters = DriftParameters(),
           errors: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Per backend and bin, over the trailing window: the mean excess error against each circuit's history
    (``level``, with its standard error ``se``), against each circuit's first results under the calibration in
    force (``since_calibration``), and ``growth``, how much the latter grew over the lookback, chained across
    calibrations (with ``growth_se``). ``errors`` are the jobs' residuals when the caller has them already."""
    window = timedelta(seconds=parse_duration(params.window))
    circuit = ["backend", "epoch", "circuit_hash"]
    w = pl.col("weight")
    early = pl.col("execute_start") < pl.col("execute_start").min().over(circuit) + window
    reference = (w * pl.col("excess")).filter(early).sum().over(circuit) / w.filter(early).sum().over(circuit)
    binned = (
        (residuals(jobs) if errors is None else errors)
        .with_columns(change=pl.col("excess") - reference)
        .group_by("backend", "control_group", "epoch", bin=pl.col("execute_start").dt.truncate(params.every))
        .agg(sw=w.sum(), swe=(w * pl.col("excess")).sum(), swc=(w * pl.col("change")).sum(), jobs=pl.len())
        .sort("backend", "bin", "epoch")
    )
    within = binned.with_columns(
        pl.col("sw", "swe", "swc", "jobs").rolling_sum_by("bin", window_size=params.window).over("backend", "epoch")
    ).filter(pl.col("jobs") >= params.min_jobs).with_columns(
        level=pl.col("swe") / pl.col("sw"), since_calibration=pl.col("swc") / pl.col("sw"), se=1.0 / pl.col("sw").sqrt()
    )
    carried = (
        within.group_by("backend", "epoch").agg(first=pl.col("bin").min(), change=pl.col("since_calibration").last())
        .sort("backend", "first")
        .with_columns(carried=pl.col("change").cum_sum().shift(1, fill_value=0.0).over("backend"))
        .select("backend", "epoch", "carried")
    )
    chained = within.join(carried, on=["backend", "epoch"]).with_columns(
        chained=pl.col("since_calibration") + pl.col("carried")
    ).sort("backend", "bin")
    lookback = timedelta(seconds=parse_duration(params.lookback))
    earlier = chained.select("backend", then=pl.col("bin"), chained_then="chained", se_then="se").sort("backend", "then")
    return (
        chained.with_columns(reference_at=pl.col("bin") - lookback)
        .sort("backend", "reference_at")
        .join_asof(earlier, left_on="reference_at", right_on="then", by="backend", strategy="forward",
                   check_sortedness=False)
        .with_columns(
            growth=pl.when(pl.col("then") < pl.col("bin")).then(pl.col("chained") - pl.col("chained_then")),
            growth_se=(pl.col("se") ** 2 + pl.col("se_then") ** 2).sqrt(),
        )
        .sort("backend", "bin")
    )


def _robust_spread(column: str, precise: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The backend's usual value of ``column`` and its robust spread, read off its precise bins (many results
    each) when it has any, so a sparse backend's noisy few-result bins do not widen what counts as usual."""
    values = pl.coalesce(pl.when(precise.any().over("backend")).then(pl.when(precise).then(column)), column)
    centre = values.median().over("backend")
    return centre, (values - centre).abs().median().over("backend") * MAD_TO_SD


def detect(jobs: pl.LazyFrame, params: DriftParameters = DriftParameters(),
           errors: pl.LazyFrame | None = None) -> pl.DataFrame:
    """Per backend and drift: onset, detection time (the end of the first bin that crossed), end, and evidence."""
    width = timedelta(seconds=parse_duration(params.every))
    precise = pl.col("jobs") >= params.precise_jobs
    growth_centre, growth_spread = _robust_spread("growth", precise)
    level_centre, level_spread = _robust_spread("level", precise)
    growing = (
        (pl.col("growth") > pl.max_horizontal(pl.lit(params.growth), growth_centre + params.spread * growth_spread))
        & (pl.col("growth") > params.significance * pl.col("growth_se")) & precise
    )
    high = (
        (pl.col("level") - level_centre > pl.max_horizontal(pl.lit(params.level), params.level_spread * level_spread))
        & (pl.col("level") - level_centre > params.significance * pl.col("se"))
    )
    rising = (pl.col("growth") > params.growth / 3) | (pl.col("level") - level_centre > params.level / 3)
    flagged = levels(jobs, params, errors).with_columns(
        alarm=(growing | high).fill_null(False), rising=rising.fill_null(False)
    ).with_columns(
        rise=(pl.col("rising") != pl.col("rising").shift(1)).fill_null(True).cum_sum().over("backend"),
    ).with_columns(
        rose_at=pl.col("bin").min().over("backend", "rise"),
    )
    gap = timedelta(seconds=parse_duration(params.chain_gap))
    alarms = flagged.filter("alarm").with_columns(
        episode=((pl.col("bin") - pl.col("bin").shift(1)) > gap).fill_null(True).cum_sum().over("backend")
    )
    groups = jobs.select("backend", "control_group").unique().drop_nulls()
    return (
        alarms.group_by("backend", "episode")
        .agg(
            onset=pl.col("rose_at").first(),
            detected_at=pl.col("bin").first() + width,
            end=pl.col("bin").last() + width,
            peak_growth=pl.col("growth").max(),
            peak_level=pl.col("level").max(),
            bins=pl.len(),
        )
        .drop("episode")
        .join(groups, on="backend", how="left")
        .with_columns(detection_delay_minutes=(pl.col("detected_at") - pl.col("onset")).dt.total_minutes())
        .sort("detected_at", "backend")
        .collect()
    )


def unexplained(drifts: pl.DataFrame, neighbours: pl.DataFrame) -> pl.DataFrame:
    """The drifts no noisy-neighbour finding explains: a shift on a backend while a neighbour hurt it, or on the
    backend the neighbour flooded, is not drift."""
    touched = neighbours.lazy().select(
        backend=pl.concat_list("backend", "suspect_backends"), i_start="start", i_end="end").explode("backend")
    explained = (
        drifts.lazy().with_row_index("drift")
        .join(touched, on="backend")
        .filter(pl.col("i_start") <= pl.col("end"), pl.col("i_end") >= pl.col("onset"))
        .select("drift").unique()
    )
    return drifts.lazy().with_row_index("drift").join(explained, on="drift", how="anti").drop("drift").collect()
